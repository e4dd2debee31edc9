package portal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"
)

// RESPSessions is a SessionStore on a server speaking the Redis protocol
// (RESP), with a pool of connections and a timeout on every command. The
// portal uses it only with the store-dirty-connection defect
// (NewSessionStore); the correct portal uses go-redis (RedisSessions).
//
// Written by hand because the defect that reproduces the ChatGPT incident
// lives in this pool (defect_store_dirty_connection.go), and go-redis has
// long fixed the equivalent bug (go-redis #2556): no library offers it.
type RESPSessions struct {
	addr    string
	timeout time.Duration
	defects DefectSet
	pool    chan *respConn
	slots   chan struct{} // one per open connection, pooled or in use
	dialer  net.Dialer
}

// maxStoreConns bounds a store client's open connections.
const maxStoreConns = 256

var _ SessionStore = (*RESPSessions)(nil)

// DefaultStoreTimeout bounds one session-store command.
const DefaultStoreTimeout = 500 * time.Millisecond

type respConn struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

// NewRESPSessions returns a store on the server at addr.
func NewRESPSessions(addr string, timeout time.Duration, defects DefectSet) *RESPSessions {
	return &RESPSessions{addr: addr, timeout: timeout, defects: defects, pool: make(chan *respConn, 64),
		slots: make(chan struct{}, maxStoreConns), dialer: net.Dialer{Timeout: timeout}}
}

// Get implements SessionStore.
func (s *RESPSessions) Get(ctx context.Context, token string) (string, error) {
	v, err := s.do(ctx, "GET", "session:"+token)
	if err != nil {
		return "", err
	}
	if v == nil {
		return "", ErrNotFound
	}
	return *v, nil
}

// Put implements SessionStore; sessions live for a day.
func (s *RESPSessions) Put(ctx context.Context, token, value string) error {
	_, err := s.do(ctx, "SET", "session:"+token, value, "EX", "86400")
	return err
}

// Delete implements SessionStore.
func (s *RESPSessions) Delete(ctx context.Context, token string) error {
	_, err := s.do(ctx, "DEL", "session:"+token)
	return err
}

// Close closes the pooled connections.
func (s *RESPSessions) Close() {
	for {
		select {
		case c := <-s.pool:
			s.discard(c)
		default:
			return
		}
	}
}

// do sends one command and reads its reply: a bulk string (nil for a
// missing key), a simple string or an integer, as text.
func (s *RESPSessions) do(ctx context.Context, args ...string) (*string, error) {
	for attempt := 0; ; attempt++ {
		c, pooled, err := s.conn(ctx, attempt > 0)
		if err != nil {
			return nil, fmt.Errorf("session store: %w", err)
		}
		deadline := time.Now().Add(s.timeout)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		_ = c.c.SetDeadline(deadline)
		v, err := c.roundTrip(args)
		if err == nil {
			s.release(c)
			return v, nil
		}
		if pooled && attempt == 0 && closedByPeer(err) {
			// The store closed this idle connection (a restart): nothing
			// of the command was answered, so it is sent again once on a
			// new connection, as go-redis does with a bad pooled one.
			s.discard(c)
			continue
		}
		if s.reuseAfterError(err) {
			s.release(c)
		} else {
			s.discard(c) // its next bytes may be this command's late reply
		}
		return nil, fmt.Errorf("session store: %w", err)
	}
}

// closedByPeer reports whether err says the other end closed the connection.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// conn returns a pooled connection, or dials one when a slot is free, or
// waits for either until the command's timeout.
// With fresh, it always dials. pooled says whether the connection was idle
// in the pool.
func (s *RESPSessions) conn(ctx context.Context, fresh bool) (c *respConn, pooled bool, err error) {
	pool := s.pool
	if fresh {
		pool = nil // a nil channel is never ready
	}
	select {
	case c := <-pool:
		return c, true, nil
	default:
	}
	wait := time.NewTimer(s.timeout)
	defer wait.Stop()
	select {
	case c := <-pool:
		return c, true, nil
	case s.slots <- struct{}{}:
	case <-wait.C:
		return nil, false, errors.New("no free connection")
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	nc, err := s.dialer.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		<-s.slots
		return nil, false, err
	}
	return &respConn{c: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}, false, nil
}

func (s *RESPSessions) release(c *respConn) {
	select {
	case s.pool <- c:
	default:
		s.discard(c)
	}
}

func (s *RESPSessions) discard(c *respConn) {
	c.c.Close()
	<-s.slots
}

func (c *respConn) roundTrip(args []string) (*string, error) {
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := c.w.Flush(); err != nil {
		return nil, err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 {
		return nil, errors.New("short reply")
	}
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+', ':':
		return &body, nil
	case '-':
		return nil, errors.New(body)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("bad bulk length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return nil, err
		}
		v := string(buf[:n])
		return &v, nil
	}
	return nil, fmt.Errorf("unexpected reply %q", line)
}
