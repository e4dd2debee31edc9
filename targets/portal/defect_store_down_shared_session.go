package portal

// DefectStoreDownSharedSession reproduces the cachetur.no incident of 21 June
// 2022 (INCIDENTS.md): an update made the session store unreachable and weak
// error checks made all users share one session. Here a replica that cannot
// reach the store "degrades gracefully" to the last session it read
// successfully, instead of failing closed.
const DefectStoreDownSharedSession = "store-down-shared-session"

func init() {
	registerDefect(Defect{
		Name:      DefectStoreDownSharedSession,
		Incident:  "cachetur-2022",
		Mechanism: "when the session store is unreachable, replicas fall back to the last session they read, so every user shares it",
		Trigger:   "store-down",
	})
}

// storeDown returns the session to use when the store failed, if the defect
// provides one; the correct portal has none and fails closed.
func (r *Replica) storeDown(error) (Session, bool) {
	if !r.defects.Has(DefectStoreDownSharedSession) {
		return Session{}, false
	}
	if s := r.lastGood.Load(); s != nil {
		return *s, true
	}
	return Session{}, false
}

func (r *Replica) remember(s Session) {
	if r.defects.Has(DefectStoreDownSharedSession) {
		r.lastGood.Store(&s)
	}
}
