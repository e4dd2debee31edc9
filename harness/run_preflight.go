package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

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

func report(stop <-chan struct{}, e *engine, nem *nemesis, pacer *profilePacer, total time.Duration, start time.Time, f func(Progress)) {
	scheduled := make([]string, len(nem.plan))
	for i, fs := range nem.plan {
		scheduled[i] = fs.Name()
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last, lastAt := uint64(0), start
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			n := e.seq.Load()
			violations, victims, viewers := e.rec.Counts()
			f(Progress{
				Elapsed: now.Sub(start), Duration: total, Requests: n,
				Rate: float64(n-last) / now.Sub(lastAt).Seconds(), TargetRate: pacer.Rate(now.Sub(start)), P99: e.stats.p99(),
				Logins: e.loginOK.Load(), Violations: violations, Victims: victims, Viewers: viewers,
				Faults: nem.activeFaults(), Scheduled: scheduled,
			})
			last, lastAt = n, now
		}
	}
}
