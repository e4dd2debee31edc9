package harness

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Borrowed sessions are the Autorize check, under load: a probe replays a
// flow's own GET path rendered for user X with the live session of user Y.
// The response is Y's, and the isolation oracle judges it as such: a portal
// that serves X's data because the path names X, whoever asks, is caught
// even when no response to X's own session ever leaks.

// sessionRing keeps a few recent sessions of logged-in users: the Cookie
// header of the target and the values their flow extracted.
type sessionRing struct {
	mu   sync.Mutex
	n    uint64
	ring [256]borrowed
}

type borrowed struct {
	uid    int
	cookie string
	vars   map[string]string
}

// borrowAttr marks a probe's attribution: a probe (no actor moves on)
// whose viewer is the user whose session it carries.
const borrowAttr = "b"

// lend records a's session after a step that succeeded after its login.
func (e *engine) lend(id actorID, a *actor) {
	if id < 0 || a.rep != 0 {
		return
	}
	cookie := jarHeader(a.jar, "")
	if cookie == "" && len(a.vars) == 0 {
		return
	}
	vars := make(map[string]string, len(a.vars))
	for k, v := range a.vars {
		vars[k] = v
	}
	r := &e.borrowed
	r.mu.Lock()
	r.ring[r.n%uint64(len(r.ring))] = borrowed{uid: int(id), cookie: cookie, vars: vars}
	r.n++
	r.mu.Unlock()
}

// unlend forgets id's lent sessions: its session ended, and a probe with
// it would only be refused.
func (e *engine) unlend(id actorID) {
	if id < 0 {
		return
	}
	r := &e.borrowed
	r.mu.Lock()
	for i := range r.ring {
		if r.ring[i].uid == int(id) && (r.ring[i].cookie != "" || r.ring[i].vars != nil) {
			r.ring[i] = borrowed{}
		}
	}
	r.mu.Unlock()
}

// borrow returns a recent live session, if any.
func (e *engine) borrow(n uint64) (borrowed, bool) {
	r := &e.borrowed
	r.mu.Lock()
	defer r.mu.Unlock()
	size := min(r.n, uint64(len(r.ring)))
	for i := range size {
		b := r.ring[(mixHash(n)+i)%size]
		if b.cookie != "" || b.vars != nil {
			return b, true
		}
	}
	return borrowed{}, false
}

// borrowedProbe fills t with p's path rendered for user i, sent with the
// borrowed session b and attributed to b's user.
func (e *engine) borrowedProbe(t *vegetaTarget, p probe, i int, b borrowed) {
	d := flowData{Vars: b.vars}
	if p.step.user {
		d.User = flowUser{User: e.pop.User(i)}
	}
	t.Header = http.Header{attrHeader: {borrowAttr + strconv.Itoa(b.uid)}}
	p.step.fill(t, e.base, d)
	if b.cookie != "" {
		t.Header["Cookie"] = []string{b.cookie}
	}
}

// parseAttr reads the attribution header: an actor, a borrowed-session
// probe's viewer, or nobody.
func parseAttr(attr []string) (id actorID, who viewer, borrowedProbe bool) {
	if len(attr) != 1 || attr[0] == "-" {
		return nobody, nobody.viewer(), false
	}
	if rest, ok := strings.CutPrefix(attr[0], borrowAttr); ok {
		uid, _ := strconv.Atoi(rest)
		return nobody, viewer{uid: uid, adv: -1}, true
	}
	n, _ := strconv.Atoi(attr[0])
	return actorID(n), actorID(n).viewer(), false
}
