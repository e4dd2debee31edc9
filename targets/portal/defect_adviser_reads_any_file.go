package portal

// DefectAdviserReadsAnyFile reproduces the first of the three failures the
// CNIL fined France Travail for in January 2026 (INCIDENTS.md): access
// rights let advisers read the files of people they did not follow, so the
// taken-over adviser accounts of early 2024 could read files by the million.
// Here the file endpoint checks the session, not the caseload.
const DefectAdviserReadsAnyFile = "adviser-reads-any-file"

func init() {
	registerDefect(Defect{
		Name:      DefectAdviserReadsAnyFile,
		Incident:  "france-travail-2024",
		Mechanism: "an adviser's session opens any beneficiary's file, not only those of its caseload",
		Trigger:   "adviser-takeover",
	})
}

func (r *Replica) readsAnyFile() bool { return r.defects.Has(DefectAdviserReadsAnyFile) }
