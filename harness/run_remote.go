package harness

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// runRemoteLoad is the load phase of a sharded run: the generators drive
// the load, this process applies and heals the fault schedule once, on the
// target, and merges what they stream.
func runRemoteLoad(ctx context.Context, p *plan, st *stack, g Generators) *loadResult {
	e, sc := st.e, p.sc
	n := g.Shards()
	nem := newNemesis(st.t, sc.Faults, sc.Duration)
	e.faults = nem.activeFaults
	// The whole run's profile: it sends nothing here; the progress reads
	// its rate and a load fault's timeline is kept through it.
	pacer := newProfilePacer(sc.Rate, sc.Duration, 0)
	nem.pacer = pacer
	r := &loadResult{e: e, nem: nem}
	// The preflight's responses were this engine's own: their second is
	// closed now, so that the generators' latencies of second 0, merged
	// later, are not overwritten by it.
	e.stats.mu.Lock()
	e.stats.closeSecond()
	e.stats.mu.Unlock()
	m := newMerger(e, nem, n)
	r.shards = m
	as := make([]Assignment, n)
	for i := range as {
		a, err := NewAssignment(sc, Shard{Index: i, Count: n}, st.base, e.hosts, p.opt)
		if err != nil {
			r.genErr = TargetFailure(err)
			return r
		}
		as[i] = a
	}
	driveCtx, stopGenerators := context.WithCancel(ctx)
	defer stopGenerators()
	driveDone := make(chan error, 1)
	go func() {
		defer func() {
			if perr := e.panics.recovered("the generators' driver", recover()); perr != nil {
				driveDone <- perr
			}
		}()
		driveDone <- g.Drive(driveCtx, as, m)
	}()
	var startAt time.Time
	select {
	case startAt = <-m.began:
	case err := <-driveDone:
		r.genErr = TargetFailure(fmt.Errorf("the generators ended before the load began: %w", orNoReason(err)))
		e.loadEnd = time.Now()
		return r
	}
	e.start = startAt
	nemCtx, cancelNem := context.WithCancel(ctx)
	defer cancelNem()
	nemDone := make(chan error, 1)
	go func() {
		var err error
		defer func() {
			if perr := e.panics.recovered("the fault scheduler", recover()); perr != nil {
				stopGenerators()
				err = errors.Join(perr, nem.healAll())
			}
			nemDone <- err
		}()
		// A fault that cannot be applied stops every generator.
		err = nem.run(nemCtx, startAt, func(error) { stopGenerators() })
	}()
	progress := make(chan struct{})
	memDone := make(chan struct{})
	go sampleMemory(progress, startAt, &r.memory, memDone)
	go e.sink.flushPeriodically(progress)
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
	done := ctx.Done()
	var abandon <-chan time.Time
wait:
	for {
		select {
		case err := <-driveDone:
			r.genErr = err
			break wait
		case <-done:
			// Interrupted: the generators stop (driveCtx is ctx's), the
			// faults heal at once, in parallel.
			budget := p.opt.ShutdownBudget
			if budget <= 0 {
				budget = DefaultShutdownBudget
			}
			r.interrupted, r.deadline, done = true, time.Now().Add(budget), nil
			nem.healWithin(budget / 2)
			abandon = time.After(budget / 2)
		case <-abandon:
			e.closed.Store(true)
			r.genErr = errors.New("the generators did not stop within the shutdown budget; what they sent until then is counted")
			break wait
		}
	}
	if r.genErr != nil {
		r.genErr = TargetFailure(r.genErr)
	}
	r.elapsed = time.Since(startAt)
	e.loadEnd = time.Now()
	close(progress)
	<-memDone
	cancelNem()
	r.nemErr = <-nemDone
	return r
}

// maxSecond is the last second of the longest run.
const maxSecond = int(MaxDuration / time.Second)

func orNoReason(err error) error {
	if err == nil {
		return errors.New("no generator said why")
	}
	return err
}
