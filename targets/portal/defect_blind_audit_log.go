package portal

import (
	"context"
	"sync"
	"time"
)

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

// blindWriter is the defect's asynchronous audit writer: one per replica.
type blindWriter struct {
	once  sync.Once
	queue chan AuditEntry
}

// record appends an access to the replica's audit sink, the way the
// replica's version does. An error is an access the correct portal could
// not audit; the defect's writer never reports one.
func (r *Replica) record(ctx context.Context, e AuditEntry) error {
	if !r.defects.Has(DefectBlindAuditLog) {
		return r.audit.Append(ctx, e)
	}
	e.Reader = ""
	w := &r.blind
	w.once.Do(func() {
		w.queue = make(chan AuditEntry, 8)
		go func() {
			for e := range w.queue {
				time.Sleep(2 * time.Millisecond) // a slow sink
				_ = r.audit.Append(context.Background(), e)
			}
		}()
	})
	select {
	case w.queue <- e:
	default: // full: the entry is lost
	}
	return nil
}
