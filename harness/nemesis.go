package harness

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// FaultEvent is one fault on the run's timeline.
type FaultEvent struct {
	Name   string  `json:"name"`
	Type   string  `json:"type"`
	StartS float64 `json:"start"`
	EndS   float64 `json:"end"`
	Error  string  `json:"error,omitempty"`
}

// nemesis applies and heals the scenario's faults on schedule.
type nemesis struct {
	healTimeout atomic.Int64 // a heal's bound, if not the default
	t           Target
	pacer       *profilePacer
	plan        []FaultSpec
	total       time.Duration
	start       time.Time
	active      atomic.Pointer[[]string]

	mu     sync.Mutex
	events []FaultEvent
	on     map[int]bool
}

func newNemesis(t Target, plan []FaultSpec, total time.Duration) *nemesis {
	n := &nemesis{t: t, plan: plan, total: total, on: map[int]bool{}}
	n.active.Store(&[]string{})
	return n
}

// activeFaults returns the names of the faults applied now.
func (n *nemesis) activeFaults() []string { return *n.active.Load() }

type action struct {
	at   time.Duration
	heal bool
	i    int
}

// run applies and heals faults until ctx is done, then heals whatever is
// still applied. A fault that cannot be applied stops the schedule and is
// returned; fail is called so the load stops too.
func (n *nemesis) run(ctx context.Context, start time.Time, fail func(error)) error {
	n.start = start
	var acts []action
	for i, f := range n.plan {
		at := f.At.Resolve(n.total)
		acts = append(acts, action{at: at, i: i})
		if d := f.For.Resolve(n.total); d > 0 {
			acts = append(acts, action{at: at + d, heal: true, i: i})
		} else if !f.For.Set {
			acts = append(acts, action{at: n.total, heal: true, i: i})
		}
	}
	sort.SliceStable(acts, func(a, b int) bool { return acts[a].at < acts[b].at })
	var err error
	for _, a := range acts {
		wait := time.Until(start.Add(a.at))
		if wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return errors.Join(err, n.healAll())
			case <-timer.C:
			}
		}
		if a.heal {
			err = errors.Join(err, n.heal(a.i))
			continue
		}
		if e := n.apply(ctx, a.i); e != nil {
			fail(e)
			return errors.Join(e, n.healAll())
		}
	}
	<-ctx.Done()
	return errors.Join(err, n.healAll())
}

func (n *nemesis) apply(ctx context.Context, i int) error {
	f := n.plan[i]
	if lf, ok := f.Fault.(loadFault); ok {
		lf.bindPacer(n.pacer)
	}
	at := time.Since(n.start).Seconds()
	err := f.Fault.Apply(ctx, n.t)
	n.mu.Lock()
	defer n.mu.Unlock()
	ev := FaultEvent{Name: f.Name(), Type: f.Type, StartS: at, EndS: at}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		// The load ended while the fault was still being applied (a long
		// rolling restart in a short run): not a failure of the target.
		// What was applied is healed with the rest.
		ev.Error = "interrupted: the load ended while it was being applied"
		n.events = append(n.events, ev)
		n.on[i] = true
		return nil
	}
	if err != nil {
		ev.Error = err.Error()
		n.events = append(n.events, ev)
		return TargetFailure(fmt.Errorf("fault %s could not be applied: %w", f.Name(), err))
	}
	n.events = append(n.events, ev)
	n.on[i] = true
	n.publish()
	return nil
}

// heal undoes fault i if it is applied. It uses its own context: healing
// must happen even when the run was cancelled.
func (n *nemesis) heal(i int) error {
	n.mu.Lock()
	on := n.on[i]
	n.mu.Unlock()
	if !on {
		return nil
	}
	f := n.plan[i]
	timeout := 30 * time.Second
	if d := n.healTimeout.Load(); d > 0 {
		timeout = time.Duration(d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := f.Fault.Heal(ctx, n.t)
	end := time.Since(n.start).Seconds()
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.on, i)
	name := f.Name()
	for j := len(n.events) - 1; j >= 0; j-- {
		if n.events[j].Name == name && n.events[j].EndS == n.events[j].StartS {
			n.events[j].EndS = end
			if err != nil {
				n.events[j].Error = "heal: " + err.Error()
			}
			break
		}
	}
	n.publish()
	if err != nil {
		return TargetFailure(fmt.Errorf("fault %s could not be healed: %w", name, err))
	}
	return nil
}

// healAll heals every fault still applied, in parallel: under a shutdown
// budget, two slow heals must not add up.
func (n *nemesis) healAll() error {
	errs := make([]error, len(n.plan))
	var wg sync.WaitGroup
	for i := range n.plan {
		wg.Go(func() { errs[i] = n.heal(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// healWithin bounds each heal from now on (a shutdown budget).
func (n *nemesis) healWithin(d time.Duration) { n.healTimeout.Store(int64(max(d, time.Second))) }

// publish refreshes the list of active faults; n.mu is held.
func (n *nemesis) publish() {
	names := make([]string, 0, len(n.on))
	for i := range n.plan {
		if n.on[i] {
			names = append(names, n.plan[i].Name())
		}
	}
	n.active.Store(&names)
}

func (n *nemesis) timeline() []FaultEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]FaultEvent(nil), n.events...)
}
