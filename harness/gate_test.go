package harness

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
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
