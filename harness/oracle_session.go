package harness

import (
	"bytes"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

// sessionOracle: no session token issued to B is delivered to or accepted
// for A. A token (the session cookie, or the value a flow extracts as its
// session) is recorded as its viewer's when first seen; seen again by
// another viewer, it is a violation, and the actor never adopts it. A live
// token of another user is looked for everywhere else too: in any cookie,
// in the Location of a redirect, and in the body.
type sessionOracle struct{}

func (sessionOracle) check(e *engine, x *exchange) {
	for _, v := range x.resp.Header["Set-Cookie"] {
		c, err := http.ParseSetCookie(v)
		if err != nil || expired(c) {
			continue // a deletion or an expired cookie is no token
		}
		if c.Name == e.cookie {
			e.claimToken(x, c.Value, "header Set-Cookie")
		} else {
			e.foreignToken(x, c.Value, "header Set-Cookie "+c.Name)
		}
	}
	if e.tokens.live.Load() == 0 {
		return
	}
	if loc := x.resp.Header.Get("Location"); loc != "" {
		eachTokenLike([]byte(loc), func(t []byte) { e.foreignToken(x, string(t), "header Location") })
	}
	eachTokenLike(x.body, func(t []byte) { e.foreignToken(x, string(t), "body") })
}

// foreignToken records a violation when token is a live session token of
// another user than x's viewer.
func (e *engine) foreignToken(x *exchange, token, where string) {
	if owner, known := e.tokens.owner(token); known && owner != x.who.id() && !x.refused(token) {
		e.rec.Add(e.evidence(OracleSession, x, owner, sessionViolation(token, where)))
		x.refusedTokens = append(x.refusedTokens, token)
	}
}

// tokenChars are the bytes of a session token as portals write them: hex,
// base64 and base64url, JWTs.
var tokenChars = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/=~") {
		t[c] = true
	}
	return t
}()

// Token-like runs: long enough to be a session token, short enough not to
// be an embedded image.
const minTokenLen, maxTokenLen = 16, 1024

// eachTokenLike calls f with every run of token bytes in b of a token's
// length. A token of another user is then a lookup in the table, not a
// search for each live token.
func eachTokenLike(b []byte, f func([]byte)) {
	for i := 0; i < len(b); {
		if !tokenChars[b[i]] {
			i++
			continue
		}
		j := i + 1
		for j < len(b) && tokenChars[b[j]] {
			j++
		}
		run := b[i:j]
		if n := len(run); n >= minTokenLen && n <= maxTokenLen {
			f(run)
			// name=value inside a URL or a form: the value alone too
			// ('=' is also base64's padding, so it stays in the run).
			if k := bytes.IndexByte(run, '='); k > 0 && k < n-1 && run[k+1] != '=' && n-k-1 >= minTokenLen {
				f(run[k+1:])
			}
		}
		i = j
	}
}

// claimToken records token as x's viewer's, or refuses it as another
// user's: then it records a violation, remembers the refusal on x, and
// returns false.
func (e *engine) claimToken(x *exchange, token, where string) bool {
	uid := x.who.id()
	owner, known := e.tokens.owner(token)
	switch {
	case x.refused(token):
		return false // already judged in this response
	case known && owner != uid:
		e.rec.Add(e.evidence(OracleSession, x, owner, sessionViolation(token, where)))
		x.refusedTokens = append(x.refusedTokens, token)
		return false
	case !known && x.id != nobody:
		// A new token: issued at login, or rotated; either way it is this
		// viewer's from now on, until its journey ends.
		h := tokenHash(token)
		e.tokens.add(h, uid)
		a := e.actor(x.id)
		a.session = append(a.session, h)
	}
	return true
}

func sessionViolation(token, where string) (v evidence.Violation) {
	v.Field, v.Value, v.Where = "session-token", token, where
	v.Detail = "a session token issued to another user was delivered to this one"
	return v
}

// forgetSession drops the tokens a's journey held: the portal ended the
// session (a logout), or the actor leaves it. The table stays as large as
// the sessions alive, not as the logins of a whole soak.
func (e *engine) forgetSession(a *actor) {
	for _, h := range a.session {
		e.tokens.remove(h)
	}
	a.session = a.session[:0]
}

// tokenTable records which user each live session token was issued to. It
// keeps a 64-bit hash of the token, not the token. It is safe for
// concurrent use.
type tokenTable struct {
	live   atomic.Int64 // tokens in the table
	claims atomic.Uint64
	shards [64]struct {
		sync.Mutex
		m map[uint64]int32
	}
}

func (t *tokenTable) init() {
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]int32)
	}
}

func tokenHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return mixHash(h)
}

func (t *tokenTable) owner(token string) (int, bool) {
	h := tokenHash(token)
	s := &t.shards[h%64]
	s.Lock()
	defer s.Unlock()
	o, ok := s.m[h]
	return int(o), ok
}

func (t *tokenTable) add(h uint64, uid int) {
	s := &t.shards[h%64]
	s.Lock()
	if _, ok := s.m[h]; !ok {
		t.live.Add(1)
	}
	s.m[h] = int32(uid)
	s.Unlock()
	t.claims.Add(1)
}

func (t *tokenTable) remove(h uint64) {
	s := &t.shards[h%64]
	s.Lock()
	if _, ok := s.m[h]; ok {
		t.live.Add(-1)
		delete(s.m, h)
	}
	s.Unlock()
}

// size returns the number of live tokens.
func (t *tokenTable) size() int {
	n := 0
	for i := range t.shards {
		t.shards[i].Lock()
		n += len(t.shards[i].m)
		t.shards[i].Unlock()
	}
	return n
}
