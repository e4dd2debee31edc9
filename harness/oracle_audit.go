package harness

import (
	"context"
	"fmt"
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

func auditStaff(ctx context.Context, e *engine, t Target) (*AdviserReport, error) {
	s := e.staff
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := &AdviserReport{AccessesAudited: len(s.accesses), AlertWithinS: s.plan.AlertWithin.Seconds()}
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
	auditor, ok := t.(Auditor)
	if !ok {
		return rep, nil
	}
	trail, err := auditor.Audit(ctx)
	if err != nil {
		return rep, fmt.Errorf("audit oracle: reading the target's audit log: %w", err)
	}
	type key struct {
		reader  string
		subject int
	}
	logged := map[key]int{}
	for _, en := range trail.Entries {
		if en.Granted {
			logged[key{en.Reader, en.Subject}]++
		}
	}
	violation := func(v evidence.Violation) {
		v.Oracle, v.Viewer, v.Seed, v.Request = OracleAudit, evidence.Anonymous, e.seed, "audit"
		v.AtS = e.loadEnd.Sub(e.start).Seconds()
		if v.Faults == nil {
			v.Faults = []string{}
		}
		e.rec.Add(v)
	}
	for _, acc := range s.accesses {
		k := key{s.staff.Login(acc.adviser), acc.subject}
		if logged[k] > 0 {
			logged[k]--
			continue
		}
		rep.AccessesMissingFromLog++
		violation(evidence.Violation{Owner: acc.subject, Field: "audit-entry", Value: k.reader, Where: "target audit log",
			Detail: fmt.Sprintf("adviser %s read user #%d's file at %s; the audit log has no such entry",
				k.reader, acc.subject, acc.at.Format(time.RFC3339Nano))})
	}
	alerts := map[string]time.Time{}
	for _, al := range trail.Alerts {
		if at, seen := alerts[al.Reader]; !seen || al.At.Before(at) {
			alerts[al.Reader] = al.At
		}
	}
	for a, first := range s.firstOutside {
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
