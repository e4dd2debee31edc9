package portal

import "time"

// DefectBlindAuditLog reproduces the third France Travail failure
// (INCIDENTS.md): logging unable to detect abnormal behaviour. Here the
// audit entries go through an asynchronous writer that loses the reader (the
// request context does not follow it) and drops entries when its small queue
// is full under load; with no reader, the mass-read rule can never fire.
const DefectBlindAuditLog = "blind-audit-log"

func init() {
	registerDefect(Defect{
		Name:      DefectBlindAuditLog,
		Incident:  "france-travail-2024",
		Mechanism: "audit entries lose their reader and are dropped under load, so a mass read raises no alert",
		Trigger:   "adviser-takeover",
	})
}

// record appends an access to the log, the way the replica's version does.
func (l *AuditLog) record(r *Replica, e AuditEntry) {
	if l == nil {
		return
	}
	if !r.defects.Has(DefectBlindAuditLog) {
		l.append(e)
		return
	}
	e.Reader = ""
	l.once.Do(func() {
		l.queue = make(chan AuditEntry, 8)
		go func() {
			for e := range l.queue {
				time.Sleep(2 * time.Millisecond) // a slow sink
				l.append(e)
			}
		}()
	})
	select {
	case l.queue <- e:
	default: // full: the entry is lost
	}
}
