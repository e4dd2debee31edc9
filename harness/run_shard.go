package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// ShardSink is where a generator streams what it sees, as it sees it.
type ShardSink interface {
	// Results receives results.jsonl lines, Violations evidence lines
	// (one evidence.Violation as JSON per line); either may split a line
	// across writes.
	Results() io.Writer
	Violations() io.Writer
	// Tick is called once a second while the load runs, and once at its
	// end.
	Tick(ShardTick) error
}

// RunShard drives one shard of a sharded run: the generator's side. It
// prepares (the population, the flows, the transport, every URL checked
// against loopback and the allowed hosts), calls ready, which returns the
// instant the coordinator set for every generator to begin (the barrier),
// drives its users at its part of the rate until the schedule ends or ctx
// is cancelled (an interrupted load, as on Ctrl-C), and returns what it
// established. It never touches the target's driver: faults on the target
// are the coordinator's; a load fault (load-spike) shapes its own load.
func RunShard(ctx context.Context, a Assignment, sink ShardSink, ready func(context.Context) (time.Time, error)) (*ShardResult, error) {
	if err := a.Shard.Validate(); err != nil {
		return nil, BadInput("%v", err)
	}
	sc, err := a.Decode()
	if err != nil {
		return nil, err
	}
	scaleToShard(sc, a.Shard.Count)
	opt := Options{AllowHosts: a.AllowHosts, Wire: a.Wire, MaxWorkers: a.MaxWorkers, Examples: a.Examples}
	p, err := newPlan(sc, nil, opt)
	if err != nil {
		return nil, err
	}
	if err := p.checkSharded(a.Shard.Count); err != nil {
		return nil, err
	}
	st := &stack{base: a.Base}
	for _, u := range append([]string{a.Base}, mapValues(a.Hosts)...) {
		if err := CheckTarget(u, a.AllowHosts); err != nil {
			return nil, err
		}
		if err := p.wire.check(u); err != nil {
			return nil, err
		}
	}
	if st.transport, err = newSafeTransport(a.AllowHosts, p.wire); err != nil {
		return nil, err
	}
	defer st.transport.CloseIdleConnections()
	c := p.engineConfig(a.Base, a.Hosts, st.transport)
	from, to := a.Shard.Range(p.pop.Size())
	c.shard = [2]int{from, to}
	c.results, c.evid = sink.Results(), sink.Violations()
	st.e = newEngine(c)
	st.e.sink.tag(a.Shard.Index)
	var mu sync.Mutex
	var closed []ShardSecond
	st.e.stats.closed = func(sec int, h *hdrhistogram.Histogram) {
		mu.Lock()
		closed = append(closed, ShardSecond{T: sec, Latency: exportHistogram(h)})
		mu.Unlock()
	}
	tick := func() error {
		mu.Lock()
		t := ShardTick{Requests: st.e.seq.Load(), LoginAttempts: st.e.loginAttempts.Load(), Logins: st.e.loginOK.Load(), Seconds: closed}
		closed = nil
		mu.Unlock()
		return sink.Tick(t)
	}

	start, err := ready(ctx)
	if err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, TargetFailure(fmt.Errorf("shard %d: stopped before the load began: %w", a.Shard.Index, ctx.Err()))
	case <-time.After(time.Until(start)):
	}
	began := time.Now()
	stop := make(chan struct{})
	tickErr := make(chan error, 1)
	go func() {
		var err error
		every(time.Second, stop, func() {
			if err == nil {
				err = tick()
			}
		})
		tickErr <- err
	}()
	load := runLoad(ctx, p, st)
	close(stop)
	err = <-tickErr

	// The fingerprint oracle judges within the shard: the pages its users
	// were served.
	j := &judgement{e: st.e, sc: sc, rec: &Record{}, tr: st.transport}
	_ = fingerprintOracle{}.judge(ctx, j)
	r := st.e.shardResult(a.Shard, load)
	r.StartedAt = began.UTC()
	r.Notes = append(r.Notes, j.rec.Notes...)
	_, evErr := st.e.rec.Close()
	err = errors.Join(err, tick(), evErr, st.e.sink.close(), load.nemErr)
	if err != nil {
		r.Error, r.Class = err.Error(), ClassOf(err)
	}
	return r, nil
}

// scaleToShard gives one of n generators its part of the load: 1/n of the
// rate profile and of the request bound.
func scaleToShard(sc *Scenario, n int) {
	if n <= 1 {
		return
	}
	sc.Rate = sc.Rate.Scaled(sc.Rate.Max() / float64(n))
	maxReq := sc.MaxRequests
	if maxReq == 0 {
		maxReq = DefaultMaxRequests
	}
	sc.MaxRequests = uint64(math.Ceil(float64(maxReq) / float64(n)))
}

// checkSharded refuses what a run on generators cannot do yet: advisers
// (their audit ledger and the target's audit log are one process's, not
// one per shard), and more shards than users.
func (p *plan) checkSharded(n int) error {
	if p.sc.Advisers != nil {
		return BadInput("advisers: a run on load generators (--workers) cannot judge advisers yet: their audit log is read by one process; run it without --workers")
	}
	if p.pop.Size() < n {
		return BadInput("%d users cannot be split over %d generators: every generator needs one user at least", p.pop.Size(), n)
	}
	return nil
}

// loadFaults returns the faults of plan that act on the load, not on the
// target.
func loadFaults(plan []FaultSpec) []FaultSpec {
	var out []FaultSpec
	for _, f := range plan {
		if _, ok := f.Fault.(loadFault); ok {
			out = append(out, f)
		}
	}
	return out
}

// shardResult is what this engine established, for its coordinator.
func (e *engine) shardResult(s Shard, load *loadResult) *ShardResult {
	r := &ShardResult{Shard: s, Requests: e.seq.Load(), ElapsedS: load.elapsed.Seconds(), Interrupt: load.interrupted,
		LoginAttempts: e.loginAttempts.Load(), Logins: e.loginOK.Load(), FlowFailures: e.flowFailures.Load(),
		SessionClaims: e.tokens.claims.Load(), CachedPrivate: e.cachedPrivate.Load(), Panic: e.panics.first.Load(),
		Memory: load.memory}
	if f := e.firstFlowFailure.Load(); f != nil {
		r.FirstFailure = &ShardFailure{Actor: int(f.actor), Step: f.step, Why: f.why}
	}
	if f := e.firstCached.Load(); f != nil {
		r.FirstCached = &ShardCached{Seq: f.seq, Request: f.request, Header: f.header}
	}
	s2 := e.stats
	s2.mu.Lock()
	s2.closeSecond()
	r.Latency = exportHistogram(s2.all)
	for k, h := range s2.perKind {
		if h != nil || s2.errs[k] > 0 {
			r.Steps = append(r.Steps, ShardStep{Kind: k, Errors: s2.errs[k], Latency: exportHistogram(h)})
		}
	}
	for _, t := range s2.timeline {
		r.Timeline = append(r.Timeline, ShardSecondCount{Requests: t.Requests, Errors: t.Errors, Authed: t.Authed})
	}
	s2.mu.Unlock()
	r.Coverage = make([]ShardCoverage, len(e.cov))
	for k := range e.cov {
		c := &e.cov[k]
		r.Coverage[k].Pages, r.Coverage[k].WithOwn = c.pages.Load(), c.withOwn.Load()
		for f := range c.byField {
			r.Coverage[k].ByField[f] = c.byField[f].Load()
		}
	}
	r.Nobody, r.Uncorroborated = e.bounds.Counts()
	e.users.each(func(i int, a *actor) {
		if a.touched {
			r.Writes = append(r.Writes, ShardWrite{User: i, Gen: a.ibanGen, Unsure: a.ibanUnsure, Alt: a.ibanAlt})
		}
	})
	return r
}
