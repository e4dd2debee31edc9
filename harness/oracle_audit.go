package harness

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

// auditOracle: every access the harness made is in the target's audit log
// under the adviser who made it, and every mass read by a taken-over
// account raised an alert within the plan's deadline. It also fills the
// adviser report of the record (breadth, auth and audit figures).
type auditOracle struct{}

func (auditOracle) judge(ctx context.Context, j *judgement) error {
	if j.e.staff == nil {
		return nil
	}
	rep, err := auditStaff(ctx, j.e, j.t)
	j.rec.Advisers = rep
	return err
}

// auditEvery is how often the audit log is read during the load: each read
// judges the accesses it covers and drops them, so neither the harness nor
// the target holds a soak's whole log.
const auditEvery = 10 * time.Second

// auditKey is an access as the audit log names it.
type auditKey struct {
	reader  string
	subject int
}

// auditLedger matches the accesses the harness was served against the
// target's audit log, one read at a time.
type auditLedger struct {
	mu       sync.Mutex // one read at a time
	cursor   int64
	complete time.Time
	// logged holds the granted entries read and not yet matched: an entry
	// is read before the access it logs when the response was in flight.
	logged  map[auditKey]loggedEntries
	pending []fileAccess // accesses served after the last read's Complete
	audited int
	missing int
	alerts  []AuditAlert
}

type loggedEntries struct {
	n    int
	last time.Time
}

// orphanAge is how long a logged entry waits for the harness to record its
// access; entries of accesses whose response never reached the harness (a
// timeout, a killed replica) are dropped after it.
const orphanAge = 5 * time.Minute

// auditDuringLoad reads the audit log every auditEvery until stop. A read
// that fails is tried again at the next tick; the last one, after the
// load, decides.
func auditDuringLoad(e *engine, t Target, stop <-chan struct{}) {
	auditor, ok := t.(Auditor)
	if e.staff == nil || !ok {
		return
	}
	every(auditEvery, stop, func() {
		ctx, cancel := context.WithTimeout(context.Background(), auditEvery/2)
		_ = e.staff.ledger.read(ctx, e, auditor)
		cancel()
	})
}

// read reads the audit log from where the last read ended and judges every
// access served before the read's Complete.
func (l *auditLedger) read(ctx context.Context, e *engine, auditor Auditor) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := e.staff
	s.mu.Lock()
	l.pending = append(l.pending, s.accesses...)
	s.accesses = s.accesses[:0:0]
	s.mu.Unlock()
	trail, err := auditor.Audit(ctx, l.cursor)
	if err != nil {
		return fmt.Errorf("audit oracle: reading the target's audit log: %w", err)
	}
	l.cursor, l.complete, l.alerts = trail.Next, trail.Complete, trail.Alerts
	if l.logged == nil {
		l.logged = map[auditKey]loggedEntries{}
	}
	for _, en := range trail.Entries {
		if en.Granted {
			k := auditKey{en.Reader, en.Subject}
			l.logged[k] = loggedEntries{n: l.logged[k].n + 1, last: en.At}
		}
	}
	keep := l.pending[:0]
	for _, acc := range l.pending {
		k := auditKey{s.staff.Login(acc.adviser), acc.subject}
		switch got := l.logged[k]; {
		case got.n > 0:
			l.audited++
			if got.n--; got.n == 0 {
				delete(l.logged, k)
			} else {
				l.logged[k] = got
			}
		case acc.at.Before(trail.Complete):
			l.audited++
			l.missing++
			e.auditViolation(acc.at, evidence.Violation{Owner: acc.subject, Field: "audit-entry", Value: k.reader, Where: "target audit log",
				Detail: fmt.Sprintf("adviser %s read user #%d's file at %s; the audit log has no such entry",
					k.reader, acc.subject, acc.at.Format(time.RFC3339Nano))})
		default:
			keep = append(keep, acc)
		}
	}
	l.pending = keep
	for k, got := range l.logged {
		if trail.Complete.Sub(got.last) > orphanAge {
			delete(l.logged, k)
		}
	}
	return nil
}

// settle reads the audit log after the load until every access is judged,
// waiting for the target's Complete to pass the last one.
func (l *auditLedger) settle(ctx context.Context, e *engine, auditor Auditor) error {
	for {
		if err := l.read(ctx, e, auditor); err != nil {
			return err
		}
		l.mu.Lock()
		var wait time.Duration
		if len(l.pending) > 0 {
			wait = l.pending[len(l.pending)-1].at.Sub(l.complete) + 10*time.Millisecond
		}
		l.mu.Unlock()
		if wait <= 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("audit oracle: the target's audit log was not complete before the deadline: %w", ctx.Err())
		case <-time.After(min(wait, time.Second)):
		}
	}
}

// auditViolation records a violation of the audit oracle.
func (e *engine) auditViolation(at time.Time, v evidence.Violation) {
	v.Oracle, v.Viewer, v.Seed, v.Request = OracleAudit, evidence.Anonymous, e.seed, "audit"
	v.AtS = max(at.Sub(e.start), 0).Seconds()
	if v.Faults == nil {
		v.Faults = []string{}
	}
	e.rec.Add(v)
}

func auditStaff(ctx context.Context, e *engine, t Target) (*AdviserReport, error) {
	s := e.staff
	rep := &AdviserReport{AlertWithinS: s.plan.AlertWithin.Seconds()}
	s.mu.Lock()
	for _, n := range s.takeoverAt {
		if rep.AttemptsBeforeTakeover == nil || n < *rep.AttemptsBeforeTakeover {
			n := n
			rep.AttemptsBeforeTakeover = &n
		}
	}
	for _, f := range s.lockedAt {
		rep.AccountsLocked++
		rep.FailuresBeforeLockout = max(rep.FailuresBeforeLockout, f)
	}
	rep.SecondFactorsPassed = s.otpPassed
	firstOutside := maps.Clone(s.firstOutside)
	served := s.served
	s.mu.Unlock()
	auditor, ok := t.(Auditor)
	if !ok {
		rep.AccessesAudited = served // as before: the accesses the oracle would have judged
		return rep, nil
	}
	err := s.ledger.settle(ctx, e, auditor)
	l := &s.ledger
	l.mu.Lock()
	defer l.mu.Unlock()
	rep.AccessesAudited, rep.AccessesMissingFromLog = l.audited, l.missing
	if err != nil {
		return rep, err
	}
	violation := func(v evidence.Violation) { e.auditViolation(e.loadEnd, v) }
	alerts := map[string]time.Time{}
	for _, al := range l.alerts {
		if at, seen := alerts[al.Reader]; !seen || al.At.Before(at) {
			alerts[al.Reader] = al.At
		}
	}
	for a, first := range firstOutside {
		login := s.staff.Login(a)
		at, alerted := alerts[login]
		if !alerted && first.Add(s.plan.AlertWithin).After(e.loadEnd) {
			// The load ended before the deadline: too early to say "never".
			rep.MassReadsUnjudged++
			continue
		}
		rep.MassReads++
		switch {
		case !alerted:
			violation(evidence.Violation{Owner: evidence.Anonymous, Field: "alert", Value: login, Where: "target alerts",
				Detail: fmt.Sprintf("adviser %s read files outside its caseload from %s on; no alert was ever raised",
					login, first.Format(time.TimeOnly))})
		case at.Sub(first) > s.plan.AlertWithin:
			rep.MassReadsAlerted++
			violation(evidence.Violation{Owner: evidence.Anonymous, Field: "alert", Value: login, Where: "target alerts",
				Detail: fmt.Sprintf("adviser %s's mass read was alerted after %s, limit %s", login, at.Sub(first).Round(time.Millisecond), s.plan.AlertWithin)})
		default:
			rep.MassReadsAlerted++
		}
		if alerted {
			d := max(at.Sub(first), 0).Seconds()
			if rep.AlertAfterS == nil || d > *rep.AlertAfterS {
				rep.AlertAfterS = &d
			}
		}
	}
	if rep.MassReads > rep.MassReadsAlerted {
		rep.AlertAfterS = nil // at least one never came
	}
	return rep, nil
}
