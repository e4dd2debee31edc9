package portal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSessionCodec(t *testing.T) {
	s := Session{Account: 1234, MustChange: true}
	for _, v := range []string{V1, V2} {
		got, err := decodeSession(encodeSession(v, s))
		require.NoError(t, err, v)
		assert.Equal(t, s, got, v)
	}
	assert.Equal(t, "1|0|1234|v2", encodeSession(V2, s))
	for _, bad := range []string{"", "x|0|0", "1|2|3", "1|0|1|v3", "1|0", "-1|0|0"} {
		_, err := decodeSession(bad)
		assert.Error(t, err, bad)
	}
}

func TestSessionFormatSkew(t *testing.T) {
	v2 := encodeSession(V2, Session{Account: 1234, MustChange: true})
	set, _ := NewDefectSet(DefectSessionFormatSkew)
	old := NewReplica("r1", Stores{}, set)
	got, err := old.decode(v2)
	require.NoError(t, err)
	assert.Equal(t, 1, got.Account, "the defect takes the must-change flag for the account")

	correct := NewReplica("r1", Stores{}, DefectSet{})
	got, err = correct.decode(v2)
	require.NoError(t, err)
	assert.Equal(t, 1234, got.Account)
	old.SetVersion(V2)
	got, _ = old.decode(v2)
	assert.Equal(t, 1234, got.Account, "a version-2 replica reads its own format")
}

// Both session stores behave as the in-memory one does, and a store that is
// down is an error, never an unknown session.
func TestSessionStores(t *testing.T) {
	for _, tc := range []struct {
		name string
		new  func(addr string) ClosableSessionStore
	}{
		{"go-redis", func(addr string) ClosableSessionStore { return NewRedisSessions(addr, time.Second) }},
		{"hand-written RESP", func(addr string) ClosableSessionStore { return NewRESPSessions(addr, time.Second, DefectSet{}) }},
	} {
		t.Run(tc.name, func(t *testing.T) { testSessionStore(t, tc.new) })
	}
}

func testSessionStore(t *testing.T, newStore func(addr string) ClosableSessionStore) {
	mr := miniredis.RunT(t)
	s := newStore(mr.Addr())
	defer s.Close()
	ctx := context.Background()
	_, err := s.Get(ctx, "t1")
	assert.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, s.Put(ctx, "t1", "42|0|0"))
	v, err := s.Get(ctx, "t1")
	require.NoError(t, err)
	assert.Equal(t, "42|0|0", v)
	assert.InDelta(t, 24*time.Hour, mr.TTL("session:t1"), float64(time.Minute), "sessions live for a day")
	require.NoError(t, s.Delete(ctx, "t1"))
	_, err = s.Get(ctx, "t1")
	assert.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, s.Put(ctx, "t2", "7|0|0"))
	mr.Restart() // closes every connection: an idle pooled one is retried on a new one
	mr.Set("session:t2", "7|0|0")
	v, err = s.Get(ctx, "t2")
	require.NoError(t, err, "a store restart costs no failed command")
	assert.Equal(t, "7|0|0", v)
	mr.Close()
	_, err = s.Get(ctx, "t1")
	assert.Error(t, err)
	assert.NotErrorIs(t, err, ErrNotFound, "a store that is down is not an unknown session")
}

// slowStore answers each GET with a session naming the key it was asked for,
// the GET of key "a" only after delay, like a Redis behind a slow link.
func slowStore(t *testing.T, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					args, err := readCommand(r)
					if err != nil {
						return
					}
					if !strings.EqualFold(args[0], "GET") || len(args) != 2 {
						// HELLO and the like: answered as a Redis that
						// predates them, as clients expect.
						if _, err := fmt.Fprintf(c, "-ERR unknown command '%s'\r\n", args[0]); err != nil {
							return
						}
						continue
					}
					key := strings.TrimPrefix(args[1], "session:")
					if key == "a" {
						time.Sleep(delay)
					}
					v := key + "|0|0"
					if _, err := fmt.Fprintf(c, "$%d\r\n%s\r\n", len(v), v); err != nil {
						return
					}
				}
			}(c)
		}
	}()
	return ln.Addr().String()
}

// readCommand reads one RESP command: an array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	var n int
	if _, err := fmt.Sscanf(line, "*%d", &n); err != nil || n < 1 {
		return nil, fmt.Errorf("not a command: %q", line)
	}
	args := make([]string, n)
	for i := range args {
		if _, err := r.ReadString('\n'); err != nil { // $len
			return nil, err
		}
		v, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		args[i] = strings.TrimSuffix(v, "\r\n")
	}
	return args, nil
}

func TestDirtyConnectionDefect(t *testing.T) {
	ctx := context.Background()
	dirty, _ := NewDefectSet(DefectStoreDirtyConnection)
	for _, tc := range []struct {
		name  string
		new   func(addr string) ClosableSessionStore
		leaks bool
	}{
		{"correct portal (go-redis)", func(addr string) ClosableSessionStore {
			return NewSessionStore(addr, 50*time.Millisecond, DefectSet{})
		}, false},
		{"hand-written client without the defect", func(addr string) ClosableSessionStore {
			return NewRESPSessions(addr, 50*time.Millisecond, DefectSet{})
		}, false},
		{"defect", func(addr string) ClosableSessionStore {
			return NewSessionStore(addr, 50*time.Millisecond, dirty)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.new(slowStore(t, 80*time.Millisecond))
			defer s.Close()
			_, err := s.Get(ctx, "a") // times out: A's reply arrives later
			var ne net.Error
			require.True(t, errors.As(err, &ne) && ne.Timeout(), "%v", err)
			time.Sleep(150 * time.Millisecond) // the late reply is on the connection now
			v, err := s.Get(ctx, "b")
			require.NoError(t, err)
			if tc.leaks {
				assert.Equal(t, "a|0|0", v, "B read the reply meant for A")
			} else {
				assert.Equal(t, "b|0|0", v, "a timed-out connection is closed, never reused")
			}
		})
	}
}
