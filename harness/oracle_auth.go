package harness

import (
	"fmt"

	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

// The auth oracle: no guessed adviser password is accepted within the
// attack's budget, and failures beyond the allowed number are refused
// (lockout). It judges each answer to a credential-stuffing guess, as the
// guess step of the flow classifies them.

// judgeGuess judges the answer x to a guess of adviser account a and
// returns whether the stuffing of that account is over.
func (e *engine) judgeGuess(x *exchange, a *actor, s *stepPlan) bool {
	s2, g := e.staff, s.Guess
	adv := int(-2 - x.id)
	a.guesses++
	status, loc := x.status(), x.resp.Header.Get("Location")
	login := s2.staff.Login(adv)
	violation := func(detail string) {
		e.rec.Add(e.evidence(OracleAuth, x, evidence.Anonymous, evidence.Violation{
			Field: "adviser", Value: login, Where: x.req.Method + " " + x.req.URL.Path, Detail: detail}))
	}
	done := false
	switch {
	case containsInt(g.Locked, status):
		s2.mu.Lock()
		s2.lockedAt[adv] = int(a.failures)
		s2.mu.Unlock()
		done = true
	case containsInt(g.Denied, status):
		a.failures++
		if int(a.failures) == s2.plan.MaxFailures+1 {
			violation(fmt.Sprintf("adviser %s: %d failed logins and still no lockout", login, a.failures))
		}
	case containsInt(g.Accepted, status) && (g.Challenge == "" || pathOf(loc) != g.Challenge):
		s2.mu.Lock()
		s2.takeoverAt[adv] = int(a.guesses)
		s2.mu.Unlock()
		violation(fmt.Sprintf("adviser %s taken over: a guessed password was accepted after %d attempts, with no second factor", login, a.guesses))
		done = true
	case containsInt(g.Accepted, status):
		done = true // the password was guessed, but the second factor stops the attacker
	}
	if int(a.guesses) >= s2.plan.StuffingAttempts {
		done = true
	}
	a.done = a.done || done
	return a.done
}
