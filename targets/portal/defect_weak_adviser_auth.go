package portal

// DefectWeakAdviserAuth reproduces the second France Travail failure
// (INCIDENTS.md): adviser authentication too weak to resist a targeted
// attack, with a lockout only after 50 failed tries and no second factor.
// The correct portal locks an account after LockoutAfter failures and asks
// for a second factor after the password.
const DefectWeakAdviserAuth = "weak-adviser-auth"

func init() {
	registerDefect(Defect{
		Name:      DefectWeakAdviserAuth,
		Incident:  "france-travail-2024",
		Mechanism: "adviser logins lock only after 50 failures and ask for no second factor",
		Trigger:   "credential-stuffing",
	})
}

func (r *Replica) lockoutAfter() int {
	if r.defects.Has(DefectWeakAdviserAuth) {
		return 50
	}
	return LockoutAfter
}

func (r *Replica) requiresMFA() bool { return !r.defects.Has(DefectWeakAdviserAuth) }
