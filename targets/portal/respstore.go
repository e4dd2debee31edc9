package portal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// RESPSessions is a SessionStore on a server speaking the Redis protocol
// (RESP): Redis in the container stack, an in-process miniredis in the
// embedded one. It keeps a pool of connections and bounds every command
// with a timeout.
//
// Written by hand rather than on go-redis: the defect that reproduces the
// ChatGPT incident lives in this pool (defect_store_dirty_connection.go),
// and go-redis has long fixed the equivalent bug (go-redis #2556).
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
	c, err := s.conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("session store: %w", err)
	}
	deadline := time.Now().Add(s.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.c.SetDeadline(deadline)
	v, err := c.roundTrip(args)
	if err != nil {
		if s.reuseAfterError(err) {
			s.release(c)
		} else {
			s.discard(c) // its next bytes may be this command's late reply
		}
		return nil, fmt.Errorf("session store: %w", err)
	}
	s.release(c)
	return v, nil
}

// conn returns a pooled connection, or dials one when a slot is free, or
// waits for either until the command's timeout.
func (s *RESPSessions) conn(ctx context.Context) (*respConn, error) {
	select {
	case c := <-s.pool:
		return c, nil
	default:
	}
	wait := time.NewTimer(s.timeout)
	defer wait.Stop()
	select {
	case c := <-s.pool:
		return c, nil
	case s.slots <- struct{}{}:
	case <-wait.C:
		return nil, errors.New("no free connection")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	nc, err := s.dialer.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		<-s.slots
		return nil, err
	}
	return &respConn{c: nc, r: bufio.NewReader(nc), w: bufio.NewWriter(nc)}, nil
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
