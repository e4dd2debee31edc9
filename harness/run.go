// Package harness is crosstalk's engine: it drives mass synthetic logins
// against a target with vegeta, attributes every response to its user, runs
// the oracles on every byte, applies and heals faults on schedule, and
// returns the run's Record. It is the bottom of the import graph: targets,
// reports and the CLI import it; it knows none of them.
package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/crosstalk-dev/crosstalk/harness/canary"
	"github.com/crosstalk-dev/crosstalk/harness/evidence"
	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// Options tune one run beyond its scenario.
type Options struct {
	// Out is the directory that receives the streamed results
	// (results.jsonl) and evidence (evidence/violations.jsonl).
	Out string
	// Defects names the reference-portal defects switched on, for the record.
	Defects []string
	// AllowHosts are non-loopback hosts the load may be sent to.
	AllowHosts []string
	// Progress, if set, is called about twice a second while the load runs.
	Progress func(Progress)
	// Status, if set, is told of long work before the load (seeding), and
	// of a target that could not be stopped cleanly.
	Status func(string)
	// MaxWorkers caps vegeta's concurrent requests (0: DefaultMaxWorkers).
	MaxWorkers uint64
	// Examples is how many violations the record keeps in full (0: 20).
	Examples int
	// Wire overrides the scenario's TLS and HTTP settings (flags).
	Wire WireSpec
	// Replay is the command line that reproduces the run, for the record.
	Replay string
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

// DefaultMaxWorkers bounds concurrent requests: high, so that queueing delay
// shows in latency instead of being hidden (coordinated omission), but
// bounded, so that a frozen target cannot exhaust the machine.
const DefaultMaxWorkers = 20_000

// Progress is a snapshot of a running load.
type Progress struct {
	Elapsed    time.Duration
	Duration   time.Duration
	Requests   uint64
	Rate       float64 // requests per second over the last interval
	P99        time.Duration
	Logins     uint64
	Violations uint64
	Faults     []string
}

// Run executes the scenario against t and returns its record. The record is
// returned whenever the run got far enough to have one, with its verdict;
// the error says why the run could not complete, with its Class.
func Run(ctx context.Context, sc *Scenario, t Target, opt Options) (*Record, error) {
	rec := &Record{
		Verdict: VerdictError, Scenario: sc.Name, Description: sc.Description, Incident: sc.Incident,
		Seed: sc.Seed, Target: t.Name(), Defects: append([]string{}, opt.Defects...), Users: sc.Users,
		StartedAt: time.Now().UTC(), ViolationsByOracle: map[string]uint64{},
		Faults: []FaultEvent{}, Thresholds: []ThresholdResult{}, Steps: []StepStats{}, Timeline: []TimelinePoint{},
	}
	for _, o := range Oracles {
		rec.ViolationsByOracle[o] = 0
	}
	fail := func(err error) (*Record, error) {
		rec.Reason = err.Error()
		return rec, err
	}
	if err := sc.Validate(); err != nil {
		return fail(&Error{Class: ClassBadInput, Err: err})
	}
	for _, f := range sc.Faults {
		if err := f.Fault.Check(t); err != nil {
			return fail(&Error{Class: ClassBadInput, Err: fmt.Errorf("%s: %w", f.Path, err)})
		}
	}
	mix := sc.Population
	if mix == (population.Mix{}) {
		mix = population.DefaultMix
	}
	var popOpts []population.Option
	if sc.Advisers != nil {
		if _, ok := t.(Auditor); !ok && sc.Advisers.Takeovers > 0 {
			return fail(BadInput("advisers: the audit oracle needs a target that exposes its audit log; target %s does not", t.Name()))
		}
		popOpts = append(popOpts, population.WithAdvisers(sc.Advisers.Count))
	}
	pop, err := population.New(sc.Seed, sc.Users, mix, popOpts...)
	if err != nil {
		return fail(BadInput("%v", err))
	}
	if err := os.MkdirAll(filepath.Join(opt.Out, "evidence"), 0o755); err != nil {
		return fail(BadInput("output directory: %v", err))
	}
	resultsFile, err := os.Create(filepath.Join(opt.Out, "results.jsonl"))
	if err != nil {
		return fail(BadInput("output directory: %v", err))
	}
	defer resultsFile.Close()
	evidenceFile, err := os.Create(filepath.Join(opt.Out, "evidence", "violations.jsonl"))
	if err != nil {
		return fail(BadInput("output directory: %v", err))
	}
	defer evidenceFile.Close()

	startedAt := time.Now()
	base, err := t.Start(ctx, pop)
	rec.TargetStartS = time.Since(startedAt).Seconds()
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := t.Stop(stopCtx); err != nil && opt.Status != nil {
			opt.Status(fmt.Sprintf("stopping target %s: %v", t.Name(), err))
		}
	}()
	if err != nil {
		return fail(TargetFailure(fmt.Errorf("target %s could not start: %w", t.Name(), err)))
	}
	if err := CheckTarget(base, opt.AllowHosts); err != nil {
		return fail(err)
	}
	timeout := sc.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	wire, err := sc.Wire(opt.Wire)
	if err != nil {
		return fail(err)
	}
	if err := wire.check(base); err != nil {
		return fail(err)
	}
	transport, err := newSafeTransport(opt.AllowHosts, wire)
	if err != nil {
		return fail(err)
	}
	defer transport.CloseIdleConnections()
	if err := preflight(ctx, transport, base, timeout); err != nil {
		return fail(err)
	}
	rec.Replay = opt.Replay

	e := newEngine(pop)
	if sc.Portal != nil && len(sc.Portal.Headers) > 0 {
		e.defaults = withHeaders(e.defaults, sc.Portal.Headers)
	}
	e.next, e.base, e.seed = transport, base, sc.Seed
	if sc.Advisers != nil {
		e.staff = newStaffEngine(*sc.Advisers, pop)
	}
	if err := e.describePortal(sc); err != nil {
		return fail(err)
	}
	e.bankChange, e.documents, e.think = sc.Journeys.BankChange, sc.Journeys.Documents, sc.Journeys.Think
	if sc.Journeys.Probes > 0 {
		e.probeEvery = uint64(1 / sc.Journeys.Probes)
	}
	keep := opt.Examples
	if keep == 0 {
		keep = 20
	}
	e.rec = evidence.NewRecorder(pop.Size(), evidenceFile, keep, Oracles)
	e.stats = newStats()
	e.sink = newResultSink(resultsFile)
	nem := newNemesis(t, sc.Faults, sc.Duration)
	e.faults = nem.activeFaults

	maxReq := sc.MaxRequests
	if maxReq == 0 {
		maxReq = DefaultMaxRequests
	}
	pacer := newProfilePacer(sc.Rate, sc.Duration, maxReq)
	nem.pacer = pacer
	maxWorkers := opt.MaxWorkers
	if maxWorkers == 0 {
		maxWorkers = DefaultMaxWorkers
	}
	atk := e.attacker(timeout, 64, maxWorkers)
	if sc.Portal != nil && sc.Portal.Seed != nil {
		status := opt.Status
		if status == nil {
			status = func(string) {}
		}
		if err := e.seedPopulation(ctx, sc.Portal.Seed, transport, base, opt.Out, status); err != nil {
			return fail(err)
		}
	}
	if err := e.preflightFlow(ctx, timeout); err != nil {
		return fail(err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	e.start = start
	var (
		wg       sync.WaitGroup
		nemErr   error
		progress = make(chan struct{})
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		nemErr = nem.run(runCtx, start, func(error) { atk.Stop() })
	}()
	if opt.Progress != nil {
		go report(progress, e, nem, sc.Duration, start, opt.Progress)
	}

	results := atk.Attack(e.target, pacer, sc.Duration, sc.Name)
	interrupted := false
	done := ctx.Done()
drain:
	for {
		select {
		case _, ok := <-results:
			if !ok {
				break drain
			}
		case <-done:
			interrupted, done = true, nil
			atk.Stop()
		}
	}
	elapsed := time.Since(start)
	e.loadEnd = time.Now()
	close(progress)
	cancel()
	wg.Wait()

	// The writes oracle: every account a user wrote must hold what that
	// user last wrote.
	auditCtx, auditCancel := context.WithTimeout(context.Background(), 5*time.Minute)
	audited, auditErr := auditWrites(auditCtx, e, t)
	if errors.Is(auditErr, ErrNoReadBack) {
		auditErr = nil // the target cannot read accounts back: no writes oracle
		rec.Notes = append(rec.Notes, "writes oracle skipped: target "+t.Name()+" cannot read accounts back")
	}
	if e.staff != nil && auditErr == nil {
		rec.Advisers, auditErr = auditStaff(auditCtx, e, t)
	}
	auditCancel()
	rec.AccountsAudited = audited

	sum, evErr := e.rec.Close()
	resErr := e.sink.close()
	latency, errs, steps, timeline := e.stats.summary()
	rec.Requests = e.seq.Load()
	rec.DurationS = elapsed.Seconds()
	if elapsed > 0 {
		rec.ThroughputRPS = float64(rec.Requests) / elapsed.Seconds()
	}
	rec.LatencyMS, rec.Errors, rec.Steps = latency, errs, steps
	if rec.Steps == nil {
		rec.Steps = []StepStats{}
	}
	for i, s := range timeline {
		rec.Timeline = append(rec.Timeline, TimelinePoint{T: i, Requests: s.Requests, Errors: s.Errors})
	}
	rec.Logins = Logins{Attempted: e.loginAttempts.Load(), Succeeded: e.loginOK.Load()}
	rec.Violations, rec.ViolationsByOracle = sum.Total, sum.ByOracle
	if rec.Advisers != nil {
		rec.Advisers.FilesOutsideCaseloads = sum.ByOracle[OracleBreadth]
	}
	rec.Victims, rec.Viewers = sum.Victims, sum.Viewers
	rec.Examples = sum.Examples
	if f := sum.First; f != nil {
		rec.FirstViolation = f
		seq, at := f.Seq, f.AtS
		rec.FirstViolationAfterRequests, rec.FirstViolationAfterS = &seq, &at
	}
	rec.Faults = nem.timeline()
	if rec.Faults == nil {
		rec.Faults = []FaultEvent{}
	}
	rec.Canaries = e.bounds.Report()
	if n := expectedFalse(rec.Canaries); n > maxExpectedFalse {
		rec.Notes = append(rec.Notes, fmt.Sprintf("the canaries are weak evidence in this run: %.2g false violations are to be expected "+
			"from the foreign values it met (see canary_bounds in report.json)", n))
	}
	rec.Thresholds = evalThresholds(sc.Thresholds, rec)
	rec.Interrupted = interrupted

	runErr := errors.Join(nemErr, auditErr, evErr, resErr)
	switch {
	case runErr != nil:
		rec.Verdict = VerdictError
		return fail(TargetFailure(runErr))
	case rec.Violations > 0:
		rec.Verdict = VerdictFail
		rec.Reason = fmt.Sprintf("%d responses broke isolation", rec.Violations)
	case interrupted:
		rec.Verdict = VerdictError
		return fail(TargetFailure(errors.New("interrupted before the end of the run; no violation seen so far")))
	default:
		rec.Verdict = VerdictPass
		for _, th := range rec.Thresholds {
			if !th.Pass {
				rec.Verdict = VerdictFail
				rec.Reason = fmt.Sprintf("threshold %s breached: %.4g (limit %.4g)", th.Name, th.Value, th.Limit)
				break
			}
		}
	}
	return rec, nil
}

// describePortal installs the scenario's flows and what it says of the
// portal: session cookie or token, sensitive fields, households.
func (e *engine) describePortal(sc *Scenario) error {
	if p := sc.Portal; p != nil {
		if p.SessionCookie != "" {
			e.cookie = p.SessionCookie
		}
		if len(p.Sensitive) > 0 {
			e.sensitive = [5]bool{}
			for _, f := range p.Sensitive {
				e.sensitive[fieldsByName[f]] = true
			}
		}
		if h := p.Household; h != nil {
			e.household = h.Size
			for _, f := range h.Shares {
				e.shares[fieldsByName[f]] = true
			}
		}
	}
	if len(sc.Flows) == 0 {
		return nil
	}
	plans, errs := compileFlows(sc.Flows)
	if len(errs) > 0 {
		return &Error{Class: ClassBadInput, Err: errors.Join(errs...)}
	}
	j := &flowJourney{plans: plans}
	if sc.Portal != nil {
		j.sessionVar = sc.Portal.SessionVar
	}
	e.journey = j
	for i := range e.users {
		e.users[i].flow = -1
	}
	return nil
}

// preflightFlow runs one user's flow to its end before the load starts: if
// a seeded user cannot get through (the population was not imported, a
// step is described wrong), the run stops with the step and the reason.
func (e *engine) preflightFlow(ctx context.Context, timeout time.Duration) error {
	j, ok := e.journey.(*flowJourney)
	if !ok {
		return nil
	}
	e.start = time.Now() // the load resets it; preflight requests count from here
	think := e.think
	e.think = 0
	defer func() { e.think = think }()
	client := &http.Client{Transport: e, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	e.fresh.Store(1)
	for steps := 0; steps < 100; steps++ {
		var t vegeta.Target
		j.request(e, &t, 0)
		req, err := t.Request()
		if err != nil {
			return TargetFailure(fmt.Errorf("preflight: %w", err))
		}
		if resp, err := client.Do(req.WithContext(ctx)); err == nil {
			resp.Body.Close()
		}
		select {
		case <-e.inFlight:
			continue
		case <-e.idle:
		}
		if f := e.firstFlowFailure.Load(); f != nil {
			return TargetFailure(fmt.Errorf("preflight: seeded user #%d could not get through step %s: %s; "+
				"is the population seeded (crosstalk population export --users %d --seed %d) and the flow right?",
				f.user, f.step, f.why, len(e.users), e.seed))
		}
		e.idle <- 0
		return nil
	}
	return TargetFailure(errors.New("preflight: the flow did not end within 100 steps"))
}

// attacker returns a vegeta attacker whose client sends through the engine.
func (e *engine) attacker(timeout time.Duration, workers, maxWorkers uint64) *vegeta.Attacker {
	client := &http.Client{Transport: e, Timeout: timeout}
	// vegeta.Client replaces the whole client: options that change it
	// (Redirects, Timeout) must come after.
	return vegeta.NewAttacker(vegeta.Client(client), vegeta.Redirects(vegeta.NoFollow),
		vegeta.Timeout(timeout), vegeta.Workers(workers), vegeta.MaxWorkers(maxWorkers))
}

// preflight checks that the target answers at all before the load starts.
func preflight(ctx context.Context, tr http.RoundTripper, base string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/", nil)
	if err != nil {
		return BadInput("target URL %q: %v", base, err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return TargetFailure(fmt.Errorf("target at %s does not answer: %w", base, err))
	}
	resp.Body.Close()
	return nil
}

func report(stop <-chan struct{}, e *engine, nem *nemesis, total time.Duration, start time.Time, f func(Progress)) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last, lastAt := uint64(0), start
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			n := e.seq.Load()
			f(Progress{
				Elapsed: now.Sub(start), Duration: total, Requests: n,
				Rate: float64(n-last) / now.Sub(lastAt).Seconds(), P99: e.stats.p99(),
				Logins: e.loginOK.Load(), Violations: e.rec.Total(), Faults: nem.activeFaults(),
			})
			last, lastAt = n, now
		}
	}
}

// auditWrites reads back every account whose user changed its bank details
// and records a writes violation where the stored IBAN is not the one its
// user last wrote.
func auditWrites(ctx context.Context, e *engine, t Target) (int, error) {
	n := 0
	for i := range e.users {
		u := &e.users[i]
		if !u.touched {
			continue
		}
		n++
		stored, err := t.StoredIBAN(ctx, i)
		if err != nil {
			return n, fmt.Errorf("writes audit: reading user %d's bank details: %w", i, err)
		}
		want := e.pop.IBAN(i, int(u.ibanGen))
		if stored == want || (u.ibanUnsure && stored == e.pop.IBAN(i, int(u.ibanAlt))) {
			continue
		}
		v := evidence.Violation{
			Oracle: OracleWrites, Viewer: i, Owner: i, Field: "iban", Value: stored, Where: "stored account",
			Request: "audit", Seed: e.seed, AtS: time.Since(e.start).Seconds(), Faults: []string{},
		}
		if len(stored) == 27 {
			if owner, gen, ok := e.pop.DecodeIBAN([]byte(stored[2:])); ok && owner != i {
				v.Viewer = owner
				v.Detail = fmt.Sprintf("user %d's account holds the IBAN that user %d wrote (generation %d)", i, owner, gen)
			} else if ok {
				v.Detail = fmt.Sprintf("user %d's account holds IBAN generation %d, but the user last wrote generation %d", i, gen, u.ibanGen)
			}
		}
		if v.Detail == "" {
			v.Detail = fmt.Sprintf("user %d's account holds an IBAN nobody in the population wrote; want %s", i, want)
		}
		e.rec.Add(v)
	}
	return n, nil
}
