package portal

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
)

// RedisSessions is a SessionStore on Redis through go-redis: the correct
// portal's session store, on real Redis in the container stack and on the
// in-process miniredis in the embedded one. It is safe for concurrent use.
type RedisSessions struct{ c *redis.Client }

var _ SessionStore = (*RedisSessions)(nil)

// NewRedisSessions returns a store on the Redis at addr whose commands are
// bounded by timeout. A command that fails on a broken connection (the store
// restarted) is retried once on a fresh one.
func NewRedisSessions(addr string, timeout time.Duration) *RedisSessions {
	return &RedisSessions{c: redis.NewClient(&redis.Options{
		Addr: addr,
		// RESP2 and no CLIENT SETINFO: a session store needs no more, and
		// the connection carries nothing but the portal's own commands.
		Protocol: 2, DisableIdentity: true,
		DialTimeout: timeout, DialerRetries: 1, ReadTimeout: timeout, WriteTimeout: timeout,
		PoolSize: maxStoreConns, PoolTimeout: timeout,
		MaxRetries: 1, ContextTimeoutEnabled: true,
	})}
}

// Get implements SessionStore.
func (s *RedisSessions) Get(ctx context.Context, token string) (string, error) {
	v, err := s.c.Get(ctx, "session:"+token).Result()
	if errors.Is(err, redis.Nil) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("session store: %w", err)
	}
	return v, nil
}

// Put implements SessionStore; sessions live for a day.
func (s *RedisSessions) Put(ctx context.Context, token, value string) error {
	if err := s.c.Set(ctx, "session:"+token, value, 24*time.Hour).Err(); err != nil {
		return fmt.Errorf("session store: %w", err)
	}
	return nil
}

// Delete implements SessionStore.
func (s *RedisSessions) Delete(ctx context.Context, token string) error {
	if err := s.c.Del(ctx, "session:"+token).Err(); err != nil {
		return fmt.Errorf("session store: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *RedisSessions) Close() { _ = s.c.Close() }

func init() {
	// go-redis logs failed dials to stderr, which is the terminal of a
	// crosstalk run on the embedded stack; the replica reports store
	// failures itself (Replica.SetErrorLog), once a second at most.
	redis.SetLogger(&logging.VoidLogger{})
}

// ClosableSessionStore is a session store holding connections to close.
type ClosableSessionStore interface {
	SessionStore
	Close()
}

// NewSessionStore returns the session store a replica with defects uses on
// the Redis at addr: go-redis, unless the store-dirty-connection defect asks
// for the hand-written client that reproduces redis-py's bug.
func NewSessionStore(addr string, timeout time.Duration, defects DefectSet) ClosableSessionStore {
	if defects.Has(DefectStoreDirtyConnection) {
		return NewRESPSessions(addr, timeout, defects)
	}
	return NewRedisSessions(addr, timeout)
}
