package portal

import (
	"sync"
	"sync/atomic"
)

// DefectMigrationSessionCollision is a second hypothesis for the CAF incident
// of October 2021 (INCIDENTS.md): only accounts on the temporary password
// were hit, so something specific to first logins may have collided under
// their mass. Here, on a busy replica, the migration login hands out session
// tokens from a small precomputed ring (to spare the random generator under
// load) that wraps around: a token still in use is issued again, the new
// session overwrites the old one, and the first user continues as the second.
const DefectMigrationSessionCollision = "migration-session-collision"

func init() {
	registerDefect(Defect{
		Name:       DefectMigrationSessionCollision,
		Incident:   "caf-2021",
		Mechanism:  "on a busy replica, identifier-migration logins get tokens from a small ring that wraps around, so two live sessions share one token",
		Hypothesis: true,
		Trigger:    "load-spike",
	})
}

type tokenRing struct {
	once   sync.Once
	tokens [32]string
	next   atomic.Uint64
}

func (t *tokenRing) take() string {
	t.once.Do(func() {
		for i := range t.tokens {
			t.tokens[i] = randomToken()
		}
	})
	return t.tokens[t.next.Add(1)%uint64(len(t.tokens))]
}

// sessionToken returns the token for a new session.
func (r *Replica) sessionToken(s Session) string {
	if s.Migration && r.defects.Has(DefectMigrationSessionCollision) && r.hot() {
		return r.tokens.take()
	}
	return randomToken()
}
