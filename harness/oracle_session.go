package harness

import (
	"net/http"
	"sync"

	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

// sessionOracle: no session token issued to B is delivered to or accepted
// for A. A token (the session cookie, or the value a flow extracts as its
// session) is recorded as its viewer's when first seen; seen again by
// another viewer, it is a violation, and the actor never adopts it.
type sessionOracle struct{}

func (sessionOracle) check(e *engine, x *exchange) {
	for _, v := range x.resp.Header["Set-Cookie"] {
		c, err := http.ParseSetCookie(v)
		if err != nil || c.Name != e.cookie || expired(c) {
			continue // a deletion or an expired cookie is no token
		}
		e.claimToken(x, c.Value, "header Set-Cookie")
	}
}

// claimToken records token as x's viewer's, or refuses it as another
// user's: then it records a violation, remembers the refusal on x, and
// returns false.
func (e *engine) claimToken(x *exchange, token, where string) bool {
	uid := x.who.id()
	owner, known := e.tokens.owner(token)
	switch {
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
	s.m[h] = int32(uid)
	s.Unlock()
}

func (t *tokenTable) remove(h uint64) {
	s := &t.shards[h%64]
	s.Lock()
	delete(s.m, h)
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
