package harness

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// portalTarget is a target around a portal written for the test, whose
// edge reload (the fault) applies and then refuses to heal.
type portalTarget struct {
	srv *httptest.Server

	mu      sync.Mutex
	reloads int
}

func (p *portalTarget) Name() string { return "test-portal" }
func (p *portalTarget) Start(context.Context, *population.Population) (string, error) {
	return p.srv.URL, nil
}
func (p *portalTarget) Stop(context.Context) error { return nil }
func (p *portalTarget) EdgeVariants() []string     { return []string{"a", "b"} }
func (p *portalTarget) ReloadEdge(context.Context, string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reloads++
	if p.reloads > 1 {
		return "", errors.New("reload refused")
	}
	return "a", nil
}

// gateScenario is a short run of the JSON API flow, with an edge reload
// over its middle.
func gateScenario(t *testing.T, users int) *Scenario {
	t.Helper()
	f, err := NewFault("edge-reload")
	require.NoError(t, err)
	f.(*edgeReload).Rules = "b"
	return &Scenario{Name: "gate", Seed: 3, Duration: 1500 * time.Millisecond, Users: users,
		Rate: RateProfile{Profile: "constant", Rate: 150}, Journeys: JourneyMix{Think: 10 * time.Millisecond},
		Portal: &PortalSpec{SessionVar: "token"}, Flows: []Flow{apiFlow()},
		Faults: []FaultSpec{{Type: "edge-reload", Fault: f, Path: "faults[0]",
			At: When{Frac: 0.2, Set: true}, For: When{Frac: 0.5, Set: true}}}}
}

// TestLeaksOutrankErrors: a run whose fault could not be healed but that
// found violations fails the gate (exit 1) and names both; the same run on
// the correct portal is an error of the run (exit 3).
func TestLeaksOutrankErrors(t *testing.T) {
	for _, leak := range []bool{true, false} {
		sc := gateScenario(t, 40)
		pop, err := population.New(sc.Seed, sc.Users, population.DefaultMix)
		require.NoError(t, err)
		srv := httptest.NewServer(&jsonPortal{pop: pop, leak: leak, tokens: map[string]int{}, last: -1})
		rec, err := Run(t.Context(), sc, &portalTarget{srv: srv}, Options{Out: t.TempDir()})
		srv.Close()
		require.NotNil(t, rec)
		if leak {
			require.NoError(t, err, "a leak is a verdict, not an error")
			assert.Equal(t, VerdictFail, rec.Verdict)
			assert.Contains(t, rec.Reason, "broke isolation")
			assert.Contains(t, rec.Reason, "reload refused", "the heal's failure is named beside the leak")
		} else {
			assert.Equal(t, ClassTarget, ClassOf(err))
			assert.Equal(t, VerdictError, rec.Verdict)
		}
	}
}

// TestSharedCacheHitOnAPrivatePage: an authenticated page answered from a
// shared cache is counted and reported, canary or not; an anonymous or a
// missed one is not.
func TestSharedCacheHitOnAPrivatePage(t *testing.T) {
	e := testEngine(t, 10, Flow{Name: "f", Steps: []Step{
		{Name: "login", Method: "POST", Path: "/in", Login: true},
		{Name: "page", Method: "GET", Path: "/me"}}})
	req, _ := http.NewRequest("GET", "http://127.0.0.1/me", nil)
	page := func(k kind, h http.Header) {
		isolationOracle{}.check(e, &exchange{seq: e.seq.Add(1), id: 1, who: actorID(1).viewer(), kind: k, req: req, resp: response(200, h)})
	}
	page(2, http.Header{"X-Cache": {"MISS"}})
	page(1, http.Header{"X-Cache": {"HIT"}}) // the login step: not a private page
	assert.Zero(t, e.cachedPrivate.Load())
	page(2, http.Header{"Cf-Cache-Status": {"HIT"}})
	page(2, http.Header{"Age": {"12"}})
	assert.Equal(t, uint64(2), e.cachedPrivate.Load())
	assert.Equal(t, "Cf-Cache-Status: HIT", e.firstCached.Load().header)
}

// TestOverlappingFaultsAreRefused: two faults on one resource at once are
// refused when the scenario loads, naming both; apart, or on different
// resources, they are fine.
func TestOverlappingFaultsAreRefused(t *testing.T) {
	spec := func(path, typ string, at, span time.Duration, set func(Fault)) FaultSpec {
		f, err := NewFault(typ)
		require.NoError(t, err)
		if set != nil {
			set(f)
		}
		return FaultSpec{Type: typ, Fault: f, Path: path, At: When{Abs: at, Set: true}, For: When{Abs: span, Set: true}}
	}
	accounts := func(f Fault) { f.(*storeTimeout).Store = "accounts" }
	sc := gateScenario(t, 40)
	sc.Duration = 30 * time.Second
	sc.Faults = []FaultSpec{
		spec("faults[0]", "store-latency", 5*time.Second, 10*time.Second, nil),
		spec("faults[1]", "store-timeout", 8*time.Second, 4*time.Second, nil),
	}
	err := sc.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "faults[1]: store-timeout from 8s to 12s overlaps faults[0] (store-latency, from 5s to 15s) on the sessions store's links")
	sc.Faults[1] = spec("faults[1]", "store-timeout", 16*time.Second, 4*time.Second, nil)
	assert.NoError(t, sc.Validate(), "one after the other")
	sc.Faults[1] = spec("faults[1]", "store-timeout", 8*time.Second, 4*time.Second, accounts)
	assert.NoError(t, sc.Validate(), "another store")
}

// TestMatrixCountsOnlyTheTriggerCell: a defect caught under another fault
// than its trigger is not counted as caught.
func TestMatrixCountsOnlyTheTriggerCell(t *testing.T) {
	base := gateScenario(t, 40)
	base.Faults, base.Duration = nil, time.Second
	pop, err := population.New(base.Seed, base.Users, population.DefaultMix)
	require.NoError(t, err)
	spike := func() []FaultSpec {
		f, _ := NewFault("load-spike")
		return []FaultSpec{{Type: "load-spike", Fault: f, Path: "spike", At: When{Frac: 0.2, Set: true}, For: When{Frac: 0.5, Set: true}}}
	}
	run := func(cols ...MatrixColumn) *Matrix {
		m, err := RunMatrix(t.Context(), MatrixSpec{Base: base, Out: t.TempDir(), Parallel: 1, Columns: cols,
			Rows: []MatrixRow{{Defect: NoDefect}, {Defect: "leaky", Trigger: "load-spike"}},
			NewTarget: func(defect string) (Target, error) {
				srv := httptest.NewServer(&jsonPortal{pop: pop, leak: defect == "leaky", tokens: map[string]int{}, last: -1})
				t.Cleanup(srv.Close)
				return &portalTarget{srv: srv}, nil
			}})
		require.NoError(t, err)
		return m
	}
	none := MatrixColumn{Fault: NoFault, Faults: func() []FaultSpec { return nil }}
	m := run(none)
	c, _ := m.Cell("leaky", NoFault)
	assert.True(t, c.Detected, "the leaky portal leaks without its trigger too")
	assert.Equal(t, []string{"leaky"}, m.Missed, "but that cell is not its trigger's")
	assert.False(t, m.Pass)
	m = run(none, MatrixColumn{Fault: "load-spike", Faults: spike})
	assert.Empty(t, m.Missed)
	assert.True(t, m.Pass)
}

// reloadLog is a target around a portal written for the test whose edge
// reloads are logged.
type reloadLog struct {
	portalTarget
	log []string
}

func (r *reloadLog) ReloadEdge(_ context.Context, rules string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := "a"
	if len(r.log) > 0 {
		prev = r.log[len(r.log)-1]
	}
	r.log = append(r.log, rules)
	return prev, nil
}

// TestPanicInARequestWorker: a panic injected into a request worker ends
// the run as a harness error, with the stack in the record, and the fault
// that was active is healed.
func TestPanicInARequestWorker(t *testing.T) {
	sc := gateScenario(t, 40)
	pop, err := population.New(sc.Seed, sc.Users, population.DefaultMix)
	require.NoError(t, err)
	srv := httptest.NewServer(&jsonPortal{pop: pop, tokens: map[string]int{}, last: -1})
	defer srv.Close()
	var calls atomic.Int64
	testHookRoundTrip = func() {
		if calls.Add(1) == 100 { // under the fault: it starts at 20% of 1.5 s at 150 req/s
			panic("injected")
		}
	}
	defer func() { testHookRoundTrip = nil }()
	tgt := &reloadLog{portalTarget: portalTarget{srv: srv}}
	rec, err := Run(t.Context(), sc, tgt, Options{Out: t.TempDir()})
	require.NotNil(t, rec)
	assert.Equal(t, ClassTarget, ClassOf(err))
	assert.ErrorContains(t, err, "harness panic in a request worker: injected")
	assert.Equal(t, VerdictError, rec.Verdict)
	require.NotNil(t, rec.Panic)
	assert.Contains(t, rec.Panic.Stack, "TestPanicInARequestWorker")
	assert.Equal(t, []string{"b", "a"}, tgt.log, "the fault was applied and healed")
}

// TestPacerWaitIsInterruptible: with a rate of almost nothing, the next
// hit is seconds away; a stop ends the wait at once.
func TestPacerWaitIsInterruptible(t *testing.T) {
	p := newProfilePacer(RateProfile{Profile: "constant", Rate: 0.05}, time.Minute, 0)
	stop := make(chan struct{})
	p.stop = stop
	done := make(chan bool)
	go func() {
		_, stopped := p.Pace(0, 0) // the first hit is 20 s away
		done <- stopped
	}()
	time.Sleep(20 * time.Millisecond)
	close(stop)
	select {
	case stopped := <-done:
		assert.True(t, stopped)
	case <-time.After(5 * time.Second):
		t.Fatal("the pacer kept waiting for a hit 20 s away")
	}
}
