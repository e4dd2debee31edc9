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
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

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
	// Observer, if set, sees every response, login and violation as it
	// happens, and the progress (live metrics).
	Observer Observer
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
	// Generators, if set, run the load on N generators (worker processes,
	// pods), each driving one shard; this process coordinates them.
	Generators Generators
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
	TargetRate float64 // what the rate profile asks for now
	P99        time.Duration
	Logins     uint64
	Violations uint64
	Victims    int // distinct users whose data reached someone else
	Viewers    int // distinct users who received someone else's data
	Faults     []string
	// Scheduled names every fault of the scenario, active or not.
	Scheduled []string
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
	if err := writeRunStart(opt.Out, rec, sc); err != nil {
		return rec.failed(BadInput("output directory: %v", err))
	}
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
	var load *loadResult
	if opt.Generators != nil {
		load = runRemoteLoad(ctx, p, st, opt.Generators)
	} else {
		load = runLoad(ctx, p, st)
	}
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
	if p.results != nil {
		p.results.Close()
		p.evid.Close()
	}
}

// prepare checks the scenario against the target, makes the population,
// compiles the flows and opens the output files.
func prepare(sc *Scenario, t Target, opt Options) (*plan, error) {
	p, err := newPlan(sc, t, opt)
	if err != nil {
		return nil, err
	}
	if opt.Generators != nil {
		if err := p.checkSharded(opt.Generators.Shards()); err != nil {
			return nil, err
		}
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

// newPlan checks the scenario against the target (nil on a generator,
// which never touches the target's driver), makes the population and
// compiles the flows.
func newPlan(sc *Scenario, t Target, opt Options) (*plan, error) {
	if err := sc.Validate(); err != nil {
		return nil, &Error{Class: ClassBadInput, Err: err}
	}
	if len(sc.Flows) == 0 {
		return nil, BadInput("scenario %s declares no flows: describe the portal's journeys under flows", sc.Name)
	}
	for _, f := range sc.Faults {
		if t == nil {
			break
		}
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
		if _, ok := t.(Auditor); !ok && sc.Advisers.Takeovers > 0 && t != nil {
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
	var declared map[string]string
	if p.sc.Portal != nil {
		declared = p.sc.Portal.Hosts
	}
	hosts, err := resolveHosts(declared, t)
	if err != nil {
		return st, err
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
	c := p.engineConfig(base, hosts, st.transport)
	_, c.audited = t.(Auditor)
	c.observer = p.opt.Observer
	st.e = newEngine(c)
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

// resolveHosts returns the declared hosts with those the target runs
// ("idp: target") replaced by their URLs; the declaration is not changed.
func resolveHosts(declared map[string]string, t Target) (map[string]string, error) {
	hosts := make(map[string]string, len(declared))
	for name, u := range declared {
		if u != HostFromTarget {
			hosts[name] = u
			continue
		}
		var runs map[string]string
		if hp, ok := t.(HostProvider); ok {
			runs = hp.Hosts()
		}
		if runs[name] == "" {
			list := "none"
			if len(runs) > 0 {
				list = strings.Join(slices.Sorted(maps.Keys(runs)), ", ")
			}
			return nil, BadInput("portal.hosts.%s: target %s runs no host named %s (it runs: %s); give its URL instead",
				name, t.Name(), name, list)
		}
		hosts[name] = runs[name]
	}
	return hosts, nil
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
	// genErr names the generators that died or stalled, on a sharded run;
	// shards is what they sent.
	genErr error
	shards *merger
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
	faults := sc.Faults
	if st.t == nil {
		// A generator: the coordinator applies the faults on the target;
		// a load fault shapes each generator's own load.
		faults = loadFaults(faults)
	}
	nem := newNemesis(st.t, faults, sc.Duration)
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
	go e.sink.flushPeriodically(progress) // a killed run loses at most the last second
	go func() {
		defer func() { _ = e.panics.recovered("the audit reader", recover()) }()
		auditDuringLoad(e, st.t, progress)
	}()
	if p.opt.Progress != nil || p.opt.Observer != nil {
		go func() {
			defer func() { _ = e.panics.recovered("the progress reporter", recover()) }()
			report(progress, e, nem, pacer, sc.Duration, startAt, func(pr Progress) {
				if p.opt.Progress != nil {
					p.opt.Progress(pr)
				}
				if p.opt.Observer != nil {
					p.opt.Observer.Progress(pr)
				}
			})
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
