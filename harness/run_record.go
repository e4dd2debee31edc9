package harness

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/canary"
	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

// record fills the record with the run's figures and gives the verdict.
func record(p *plan, load *loadResult, judgeErr error, rec *Record) (*Record, error) {
	e := load.e
	sum, evErr := e.rec.Close()
	resErr := e.sink.close()
	timeline := rec.setFigures(e.stats, e.kinds, e.seq.Load(), load.elapsed, sum)
	rec.Logins = Logins{Attempted: e.loginAttempts.Load(), Succeeded: e.loginOK.Load()}
	if m := load.shards; m != nil {
		rec.recordShards(m, p.pop.Size(), load.genErr, timeline)
	}
	if rec.Advisers != nil {
		rec.Advisers.FilesOutsideCaseloads = sum.ByOracle[OracleBreadth]
	}
	rec.Faults = load.nem.timeline()
	if rec.Faults == nil {
		rec.Faults = []FaultEvent{}
	}
	if n := e.cachedPrivate.Load(); n > 0 {
		f := e.firstCached.Load()
		rec.SharedCache = &SharedCache{Pages: n, FirstSeq: f.seq, First: f.request + " (" + f.header + ")"}
		rec.Notes = append(rec.Notes, fmt.Sprintf("%d authenticated pages were answered from a shared cache, the first %s at response %d: "+
			"a cache that keys a private page without the session serves one user's page to the next", n, rec.SharedCache.First, f.seq))
	}
	rec.Memory = load.memory
	rec.Canaries = e.bounds.Report()
	if n := expectedFalse(rec.Canaries); n > maxExpectedFalse {
		rec.Notes = append(rec.Notes, fmt.Sprintf("the canaries are weak evidence in this run: %.2g false violations are to be expected "+
			"from the foreign values it met (see canary_bounds in report.json)", n))
	}
	th := p.sc.Thresholds.For(rec.Target)
	rec.Regression = th.Regression
	rec.Thresholds = sloOracle{}.judge(th, rec, p.logsIn())
	rec.Interrupted = load.interrupted
	rec.Incomplete = incomplete(p.sc, load, rec.Requests)
	blindSteps := e.coverageOf(rec.Steps)
	if blindSteps == "" {
		blindSteps = p.unseenSession(e)
	}
	blindFaults := blindFaults(rec.Faults, timeline, p.logsIn())

	var panicErr error
	if pr := e.panics.first.Load(); pr != nil {
		rec.Panic = pr
		panicErr = fmt.Errorf("harness panic in %s: %s (the stack is in report.json)", pr.Where, pr.Value)
	}
	runErr := errors.Join(load.genErr, load.nemErr, judgeErr, evErr, resErr, panicErr)
	switch {
	case rec.Violations > 0:
		// Leaks outrank errors: a run with confirmed violations fails the
		// gate (exit 1), whatever else went wrong, which is noted beside.
		rec.Verdict = VerdictFail
		rec.Reason = fmt.Sprintf("%d responses broke isolation", rec.Violations)
		if runErr != nil {
			rec.Reason += "; the run also met an error: " + runErr.Error()
			rec.Notes = append(rec.Notes, "error beside the violations: "+runErr.Error())
		}
	case runErr != nil:
		rec.Verdict = VerdictError
		return rec.failed(TargetFailure(runErr))
	case load.interrupted:
		rec.Verdict = VerdictError
		return rec.failed(TargetFailure(errors.New("interrupted before the end of the run; no violation seen so far")))
	default:
		rec.Verdict, rec.Reason = VerdictPass, ""
		for _, th := range rec.Thresholds {
			if !th.Pass {
				rec.Verdict = VerdictFail
				rec.Reason = fmt.Sprintf("threshold %s breached: %.4g (limit %.4g)", th.Name, th.Value, th.Limit)
				break
			}
		}
		switch {
		case rec.Verdict == VerdictFail:
		case rec.Incomplete != "" && !th.AllowIncomplete:
			rec.Verdict, rec.Reason = VerdictFail, "incomplete: "+rec.Incomplete
		case blindSteps != "":
			rec.Verdict, rec.Reason = VerdictFail, blindSteps
		case len(blindFaults) > 0:
			rec.Verdict = VerdictFail
			rec.Reason = "no authenticated response was scanned during " + strings.Join(blindFaults, ", ") +
				": the run proves nothing about those faults (a longer window, a higher rate or more users)"
		}
	}
	return rec, nil
}

// unseenSession says why the session oracle judged nothing: the scenario
// names a session cookie or variable that never appeared while users
// logged in (a typo is otherwise silent).
func (p *plan) unseenSession(e *engine) string {
	ps := p.sc.Portal
	if ps == nil || !p.logsIn() || e.loginOK.Load() == 0 || e.tokens.claims.Load() > 0 {
		return ""
	}
	switch {
	case ps.SessionVar != "":
		return fmt.Sprintf("portal.session_var %q was never extracted although users logged in: the session oracle judged nothing "+
			"(is it the name of a flow's extract?)", ps.SessionVar)
	case ps.SessionCookie != "":
		return fmt.Sprintf("portal.session_cookie %q never appeared in a Set-Cookie although users logged in: the session oracle judged nothing "+
			"(is that the portal's cookie name?)", ps.SessionCookie)
	}
	return ""
}

// gateFailure is a finding before the load that fails the gate (exit 1),
// not an error of the run: the oracle cannot see the pages.
type gateFailure struct{ why string }

func (g *gateFailure) Error() string { return g.why }

// logsIn reports whether a beneficiary flow of the run logs in.
func (p *plan) logsIn() bool {
	for _, f := range p.flows {
		for _, s := range f.steps {
			if s.Login && f.actor == ActorBeneficiary {
				return true
			}
		}
	}
	return false
}

// newRecord returns the record of a run that has not begun: verdict error
// until the run says otherwise.
func newRecord(sc *Scenario, t Target, opt Options) *Record {
	rec := &Record{
		Verdict: VerdictError, Scenario: sc.Name, Description: sc.Description, Incident: sc.Incident,
		Seed: sc.Seed, Target: t.Name(), Defects: append([]string{}, opt.Defects...), Users: sc.Users,
		StartedAt: time.Now().UTC(), ViolationsByOracle: map[string]uint64{}, Workers: 1,
		Faults: []FaultEvent{}, Thresholds: []ThresholdResult{}, Steps: []StepStats{}, Timeline: []TimelinePoint{},
	}
	for _, o := range Oracles {
		rec.ViolationsByOracle[o] = 0
	}
	return rec
}

// failed records why the run could not complete and returns the record
// with err.
func (r *Record) failed(err error) (*Record, error) {
	r.Reason = err.Error()
	return r, err
}

// maxExpectedFalse is the number of false violations above which a run is
// told that its canaries were weak evidence.
const maxExpectedFalse = 0.01

func expectedFalse(bounds []canary.FieldBound) float64 {
	n := 0.0
	for _, b := range bounds {
		n += b.ExpectedFalse
	}
	return n
}

// setFigures fills the record's counts, latency, timeline and violations
// from the statistics and the recorder's summary: the same for a run that
// ends and for one rebuilt from what a killed run left. It returns the
// timeline with its authenticated responses, for the coverage oracle.
func (rec *Record) setFigures(st *stats, kinds []string, requests uint64, elapsed time.Duration, sum evidence.Summary) []second {
	latency, errs, steps, timeline := st.summary(kinds)
	rec.Requests = requests
	rec.DurationS = elapsed.Seconds()
	if elapsed > 0 {
		rec.ThroughputRPS = float64(rec.Requests) / elapsed.Seconds()
	}
	rec.LatencyMS, rec.Errors, rec.Steps = latency, errs, steps
	if rec.Steps == nil {
		rec.Steps = []StepStats{}
	}
	rec.Timeline = rec.Timeline[:0]
	for i, s := range timeline {
		rec.Timeline = append(rec.Timeline, TimelinePoint{T: i, Requests: s.Requests, Errors: s.Errors,
			P50: s.P50, P90: s.P90, P99: s.P99, Violations: sum.BySecond[i]})
	}
	if sum.Total > 0 {
		rec.ViolationsBy, rec.ViewerOwner = sum.By, topPairs(sum.Pairs, maxPairsReported)
	}
	rec.Violations, rec.ViolationsByOracle = sum.Total, sum.ByOracle
	rec.Victims, rec.Viewers = sum.Victims, sum.Viewers
	rec.Examples = sum.Examples
	if f := sum.First; f != nil {
		rec.FirstViolation = f
		seq, at := f.Seq, f.AtS
		rec.FirstViolationAfterRequests, rec.FirstViolationAfterS = &seq, &at
	}
	return timeline
}

// topPairs returns the n pairs with the most violations, ties by viewer
// then owner.
func topPairs(pairs map[evidence.Pair]uint64, n int) []ViewerOwner {
	out := make([]ViewerOwner, 0, len(pairs))
	for p, c := range pairs {
		out = append(out, ViewerOwner{Viewer: p.Viewer, Owner: p.Owner, Violations: c})
	}
	slices.SortFunc(out, func(a, b ViewerOwner) int {
		return cmp.Or(cmp.Compare(b.Violations, a.Violations), cmp.Compare(a.Viewer, b.Viewer), cmp.Compare(a.Owner, b.Owner))
	})
	return out[:min(n, len(out))]
}
