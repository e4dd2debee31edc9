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

func TestRESPSessions(t *testing.T) {
	mr := miniredis.RunT(t)
	s := NewRESPSessions(mr.Addr(), time.Second, DefectSet{})
	defer s.Close()
	ctx := context.Background()
	_, err := s.Get(ctx, "t1")
	assert.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, s.Put(ctx, "t1", "42|0|0"))
	v, err := s.Get(ctx, "t1")
	require.NoError(t, err)
	assert.Equal(t, "42|0|0", v)
	require.NoError(t, s.Delete(ctx, "t1"))
	_, err = s.Get(ctx, "t1")
	assert.ErrorIs(t, err, ErrNotFound)
	mr.Close()
	_, err = s.Get(ctx, "t1")
	assert.Error(t, err)
	assert.NotErrorIs(t, err, ErrNotFound, "a store that is down is not an unknown session")
}

// slowStore answers each GET after delay with a session naming the key it
// was asked for, like a Redis behind a slow link.
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
					var lines []string
					for i := 0; i < 5; i++ { // *2, $3, GET, $n, session:KEY
						l, err := r.ReadString('\n')
						if err != nil {
							return
						}
						lines = append(lines, strings.TrimSpace(l))
					}
					key := strings.TrimPrefix(lines[4], "session:")
					time.Sleep(delay)
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

func TestDirtyConnectionDefect(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		defects []string
		leaks   bool
	}{{"correct client", nil, false}, {"defect", []string{DefectStoreDirtyConnection}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			set, _ := NewDefectSet(tc.defects...)
			s := NewRESPSessions(slowStore(t, 80*time.Millisecond), 50*time.Millisecond, set)
			defer s.Close()
			_, err := s.Get(ctx, "a") // times out: A's reply arrives later
			var ne net.Error
			require.True(t, errors.As(err, &ne) && ne.Timeout(), "%v", err)
			s.timeout = time.Second
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
