package portal

// DefectMigrationCacheHeaders reproduces the CAF incident of 10-11 October
// 2021 (INCIDENTS.md, first row). Hypothesis, since the root cause was never
// published beyond "a configuration bug": the new identifier-migration login
// path renders personal pages without "Cache-Control: private, no-store".
// Harmless until the edge is reconfigured to cache dynamic pages that the
// origin allows it to cache (the surge rule for the Sunday 21:00 rush); then
// the edge stores the dossier of a user who is still on the temporary
// password and serves it, keyed without the session, to everyone who asks for
// the dossier. That is why only temporary-password accounts were exposed.
const DefectMigrationCacheHeaders = "migration-cache-headers"

func init() {
	registerDefect(Defect{
		Name:       DefectMigrationCacheHeaders,
		Incident:   "caf-2021",
		Mechanism:  "pages rendered for identifier-migration sessions carry no Cache-Control, so an edge that caches dynamic pages stores them and serves them to other users",
		Hypothesis: true,
		Trigger:    "edge-reload rules=cache-dynamic",
	})
}

// migrationOmitsCacheControl is the defect's switch.
func (r *Replica) migrationOmitsCacheControl(s Session) bool {
	return s.Migration && r.defects.Has(DefectMigrationCacheHeaders)
}
