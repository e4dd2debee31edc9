// Package harness is crosstalk's engine: it drives mass synthetic logins
// against a target with vegeta, attributes every response to its actor,
// runs the oracles on every byte, applies and heals faults on schedule, and
// returns the run's Record. It is the bottom of the import graph: targets,
// reports and the CLI import it; it knows none of them, and no route of any
// portal: what actors do is declared in flows.
package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/canary"
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
	// ShutdownBudget bounds the time from Ctrl-C (or SIGTERM) to the end of
	// the run: the load stops, faults heal in parallel, the report is
	// written, the target stops; what is left when it ends is skipped and
	// named in the report (0: DefaultShutdownBudget).
	ShutdownBudget time.Duration
	// Report, if set, is called with the record before the target stops,
	// so that the report exists even if the process is killed during the
	// stop.
	Report func(*Record) error
}

// DefaultShutdownBudget is Docker's and Kubernetes' grace period before
// SIGKILL.
const DefaultShutdownBudget = 10 * time.Second

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
// the error says why the run could not complete, with its Class. A run is
// a sequence of phases, each with its inputs and outputs explicit: prepare
// (the scenario checked, the population made, the flows compiled, the
// output opened), start (the target up and proven to answer), load (the
// engine and the nemesis), judge (the after-run oracles) and record (the
// figures and the verdict).
func Run(ctx context.Context, sc *Scenario, t Target, opt Options) (*Record, error) {
	rec := newRecord(sc, t, opt)
	p, err := prepare(sc, t, opt)
	if err != nil {
		return rec.failed(err)
	}
	defer p.close()
	st, err := start(ctx, p, t, rec)
	defer st.stop(opt.Status)
	var gate *gateFailure
	if errors.As(err, &gate) {
		rec.Verdict, rec.Reason = VerdictFail, gate.why
		return rec, nil
	}
	if err != nil {
		return rec.failed(err)
	}
	load := runLoad(ctx, p, st)
	st.load = load
	judgeErr := judge(p, st, load, rec)
	rec, err = record(p, load, judgeErr, rec)
	if opt.Report != nil {
		// The report is written before the target stops: a process killed
		// during the stop leaves it complete.
		if rerr := opt.Report(rec); rerr != nil {
			err = errors.Join(err, TargetFailure(fmt.Errorf("writing the report: %w", rerr)))
		}
	}
	return rec, err
}

// plan is what prepare makes of a scenario.
type plan struct {
	sc      *Scenario
	opt     Options
	pop     *population.Population
	flows   []flowPlan
	wire    WireSpec
	timeout time.Duration
	results *os.File
	evid    *os.File
}

func (p *plan) close() {
	p.results.Close()
	p.evid.Close()
}

// prepare checks the scenario against the target, makes the population,
// compiles the flows and opens the output files.
func prepare(sc *Scenario, t Target, opt Options) (*plan, error) {
	if err := sc.Validate(); err != nil {
		return nil, &Error{Class: ClassBadInput, Err: err}
	}
	if len(sc.Flows) == 0 {
		return nil, BadInput("scenario %s declares no flows: describe the portal's journeys under flows", sc.Name)
	}
	for _, f := range sc.Faults {
		if err := f.Fault.Check(t); err != nil {
			return nil, &Error{Class: ClassBadInput, Err: fmt.Errorf("%s: %w", f.Path, err)}
		}
	}
	mix := sc.Population
	if mix == (population.Mix{}) {
		mix = population.DefaultMix
	}
	var popOpts []population.Option
	if sc.Advisers != nil {
		if _, ok := t.(Auditor); !ok && sc.Advisers.Takeovers > 0 {
			return nil, BadInput("advisers: the audit oracle needs a target that exposes its audit log; target %s does not", t.Name())
		}
		popOpts = append(popOpts, population.WithAdvisers(sc.Advisers.Count))
	}
	pop, err := population.New(sc.Seed, sc.Users, mix, popOpts...)
	if err != nil {
		return nil, BadInput("%v", err)
	}
	var hosts map[string]string
	if sc.Portal != nil {
		hosts = sc.Portal.Hosts
	}
	flows, errs := compileFlows(sc.Flows, hosts)
	if len(errs) > 0 {
		return nil, &Error{Class: ClassBadInput, Err: errors.Join(errs...)}
	}
	wire, err := sc.Wire(opt.Wire)
	if err != nil {
		return nil, err
	}
	p := &plan{sc: sc, opt: opt, pop: pop, flows: flows, wire: wire, timeout: sc.Timeout}
	if p.timeout == 0 {
		p.timeout = DefaultTimeout
	}
	if err := os.MkdirAll(filepath.Join(opt.Out, "evidence"), 0o755); err != nil {
		return nil, BadInput("output directory: %v", err)
	}
	if p.results, err = os.Create(filepath.Join(opt.Out, "results.jsonl")); err != nil {
		return nil, BadInput("output directory: %v", err)
	}
	if p.evid, err = os.Create(filepath.Join(opt.Out, "evidence", "violations.jsonl")); err != nil {
		p.results.Close()
		return nil, BadInput("output directory: %v", err)
	}
	return p, nil
}

// stack is the target once started, with the transport that reaches it.
type stack struct {
	t         Target
	base      string
	transport *http.Transport
	e         *engine
	load      *loadResult // once the load ran
}

// stop closes the transport and stops the target; it is safe on a stack
// that never started.
func (st *stack) stop(status func(string)) {
	if st == nil {
		return
	}
	if st.transport != nil {
		st.transport.CloseIdleConnections()
	}
	timeout := time.Minute
	if st.load != nil {
		timeout = st.load.budgetLeft(timeout, 2*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := st.t.Stop(ctx); err != nil && status != nil {
		status(fmt.Sprintf("stopping target %s: %v", st.t.Name(), err))
	}
}

// start brings the target up, checks that every host the load may reach is
// loopback or allowed, builds the engine, seeds the population if the
// scenario says so, and proves that one seeded user gets through its flow.
func start(ctx context.Context, p *plan, t Target, rec *Record) (*stack, error) {
	st := &stack{t: t}
	began := time.Now()
	base, err := t.Start(ctx, p.pop)
	rec.TargetStartS = time.Since(began).Seconds()
	if err != nil {
		return st, TargetFailure(fmt.Errorf("target %s could not start: %w", t.Name(), err))
	}
	st.base = base
	hosts := map[string]string{}
	if p.sc.Portal != nil {
		hosts = p.sc.Portal.Hosts
	}
	for _, u := range append([]string{base}, mapValues(hosts)...) {
		if err := CheckTarget(u, p.opt.AllowHosts); err != nil {
			return st, err
		}
		if err := p.wire.check(u); err != nil {
			return st, err
		}
	}
	if st.transport, err = newSafeTransport(p.opt.AllowHosts, p.wire); err != nil {
		return st, err
	}
	if err := preflight(ctx, st.transport, base, p.timeout); err != nil {
		return st, err
	}
	rec.Replay = p.opt.Replay
	st.e = newEngine(p.engineConfig(base, hosts, st.transport))
	if s := p.sc.Portal; s != nil && s.Seed != nil {
		status := p.opt.Status
		if status == nil {
			status = func(string) {}
		}
		if err := st.e.seedPopulation(ctx, s.Seed, st.transport, base, p.opt.Out, status); err != nil {
			return st, err
		}
		rec.TargetStartS = time.Since(began).Seconds()
	}
	return st, st.e.preflightFlow(ctx, p.timeout)
}

func mapValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// engineConfig is the engine of this plan against the target at base.
func (p *plan) engineConfig(base string, hosts map[string]string, next http.RoundTripper) engineConfig {
	c := engineConfig{pop: p.pop, seed: p.sc.Seed, base: base, hosts: hosts, next: next, flows: p.flows,
		journeys: p.sc.Journeys, advisers: p.sc.Advisers, results: p.results, evid: p.evid, keep: p.opt.Examples}
	c.defaults = BrowserHeaders()
	if s := p.sc.Portal; s != nil {
		c.cookie, c.sessionVar = s.SessionCookie, s.SessionVar
		if len(s.Sensitive) > 0 {
			c.sensitive = [8]bool{}
			for _, f := range s.Sensitive {
				c.sensitive[fieldsByName[f]] = true
			}
		}
		if h := s.Household; h != nil {
			c.household = h.Size
			for _, f := range h.Shares {
				c.shares[fieldsByName[f]] = true
			}
		}
		if len(s.Headers) > 0 {
			c.defaults = withHeaders(c.defaults, s.Headers)
		}
	}
	return c
}

// loadResult is what the load phase leaves: the engine with its counts and
// actors, the fault timeline, and how the load ended.
type loadResult struct {
	e           *engine
	nem         *nemesis
	elapsed     time.Duration
	interrupted bool
	nemErr      error
	// deadline is when the shutdown budget ends, after an interruption.
	deadline time.Time
	memory   []MemorySample
}

// budgetLeft is the time left of the shutdown budget, at least min; a run
// that was not interrupted has all the time it needs.
func (r *loadResult) budgetLeft(normal, floor time.Duration) time.Duration {
	if !r.interrupted {
		return normal
	}
	return max(time.Until(r.deadline), floor)
}

// runLoad runs the load at the scenario's rate for its duration, with the
// nemesis applying and healing its faults, until the end, the request bound
// or ctx.
func runLoad(ctx context.Context, p *plan, st *stack) *loadResult {
	e, sc := st.e, p.sc
	nem := newNemesis(st.t, sc.Faults, sc.Duration)
	e.faults = nem.activeFaults
	maxReq := sc.MaxRequests
	if maxReq == 0 {
		maxReq = DefaultMaxRequests
	}
	pacer := newProfilePacer(sc.Rate, sc.Duration, maxReq)
	pacer.stop = ctx.Done() // Ctrl-C ends even a long wait for the next hit
	nem.pacer = pacer
	maxWorkers := p.opt.MaxWorkers
	if maxWorkers == 0 {
		maxWorkers = DefaultMaxWorkers
	}
	atk := e.attacker(p.timeout, 64, maxWorkers)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &loadResult{e: e, nem: nem}
	startAt := time.Now()
	e.start = startAt
	nemDone := make(chan error, 1)
	go func() {
		var err error
		defer func() {
			// A panic in the scheduler stops the load; the faults it
			// applied are healed here, as at the end of a run.
			if perr := e.panics.recovered("the fault scheduler", recover()); perr != nil {
				atk.Stop()
				err = errors.Join(perr, nem.healAll())
			}
			nemDone <- err
		}()
		err = nem.run(runCtx, startAt, func(error) { atk.Stop() })
	}()
	progress := make(chan struct{})
	memDone := make(chan struct{})
	go sampleMemory(progress, startAt, &r.memory, memDone)
	if p.opt.Progress != nil {
		go func() {
			defer func() { _ = e.panics.recovered("the progress reporter", recover()) }()
			report(progress, e, nem, sc.Duration, startAt, p.opt.Progress)
		}()
	}
	results := atk.Attack(e.target, pacer, sc.Duration, sc.Name)
	done := ctx.Done()
	var abandon <-chan time.Time
drain:
	for {
		select {
		case _, ok := <-results:
			if !ok {
				break drain
			}
		case <-done:
			// Interrupted: stop the load and abort what is in flight,
			// within a quarter of the shutdown budget.
			budget := p.opt.ShutdownBudget
			if budget <= 0 {
				budget = DefaultShutdownBudget
			}
			r.interrupted, r.deadline, done = true, time.Now().Add(budget), nil
			nem.healWithin(budget / 2)
			atk.Stop()
			e.abortInFlight()
			abandon = time.After(budget / 4)
		case <-abandon:
			// Workers still blocked: leave them, their responses are
			// no longer counted.
			e.closed.Store(true)
			break drain
		}
	}
	r.elapsed = time.Since(startAt)
	e.loadEnd = time.Now()
	close(progress)
	<-memDone
	cancel()
	r.nemErr = <-nemDone
	return r
}

// judge runs the after-run oracles.
func judge(p *plan, st *stack, load *loadResult, rec *Record) error {
	ctx, cancel := context.WithTimeout(context.Background(), load.budgetLeft(5*time.Minute, time.Second)/2)
	defer cancel()
	j := &judgement{e: load.e, t: st.t, sc: p.sc, rec: rec, tr: st.transport}
	var errs []error
	for _, o := range afterRun {
		errs = append(errs, o.judge(ctx, j))
	}
	if err := errors.Join(errs...); err != nil && load.interrupted && ctx.Err() != nil {
		// Interrupted: what the budget left no time for is skipped, and
		// said so; the run is an interrupted one anyway.
		j.note("skipped by the shutdown budget: " + err.Error())
		return nil
	}
	return errors.Join(errs...)
}

// record fills the record with the run's figures and gives the verdict.
func record(p *plan, load *loadResult, judgeErr error, rec *Record) (*Record, error) {
	e := load.e
	sum, evErr := e.rec.Close()
	resErr := e.sink.close()
	latency, errs, steps, timeline := e.stats.summary(e.kinds)
	rec.Requests = e.seq.Load()
	rec.DurationS = load.elapsed.Seconds()
	if load.elapsed > 0 {
		rec.ThroughputRPS = float64(rec.Requests) / load.elapsed.Seconds()
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
	runErr := errors.Join(load.nemErr, judgeErr, evErr, resErr, panicErr)
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
		StartedAt: time.Now().UTC(), ViolationsByOracle: map[string]uint64{},
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

// preflightFlow runs the first user's journey to its end before the load
// starts: if a seeded user cannot get through (the population was not
// imported, a step is described wrong), the run stops with the step and the
// reason.
func (e *engine) preflightFlow(ctx context.Context, timeout time.Duration) error {
	think := e.journeys.Think
	e.journeys.Think = 0
	defer func() { e.journeys.Think = think }()
	client := &http.Client{Transport: e, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	id := actorID(e.shard[0])
	e.fresh.Store(int64(e.shard[0]) + 1)
	for steps := 0; steps < 200; steps++ {
		var t vegetaTarget
		if !e.request(&t, id) {
			return TargetFailure(fmt.Errorf("preflight: user #%d has no flow for its account state (%s)", id, e.users.get(int(id)).state))
		}
		req, err := t.Request()
		if err != nil {
			return TargetFailure(fmt.Errorf("preflight: %w", err))
		}
		if resp, err := client.Do(req.WithContext(ctx)); err == nil {
			resp.Body.Close()
		}
		if f := e.firstFlowFailure.Load(); f != nil {
			return TargetFailure(fmt.Errorf("preflight: seeded user #%d could not get through step %s: %s; "+
				"is the population seeded (crosstalk population export --users %d --seed %d) and the flow right?",
				f.actor, f.step, f.why, e.pop.Size(), e.seed))
		}
		if a := e.users.get(int(id)); a.flow < 0 {
			// The journey ended: the user is between journeys again. Its
			// pages must have shown its own values, or the oracle is blind.
			if why := e.preflightCoverage(); why != "" {
				return &gateFailure{why}
			}
			return nil
		}
		if _, ok := e.ready.pop(); !ok {
			return TargetFailure(errors.New("preflight: the flow stalled"))
		}
	}
	return TargetFailure(errors.New("preflight: the flow did not end within 200 requests"))
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
