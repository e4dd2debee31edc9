package main

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/scenarios"
	"github.com/crosstalk-dev/crosstalk/targets/embedded"
)

// TestCAFThresholdsCatchAFailingReplica: the CAF scenario's limits on a
// stack other than the containers one are the strict ones, so a stack one
// of whose three replicas answers 500 half the time fails them, and the
// same stack healthy passes. The stack is the embedded one behind a proxy
// that breaks replica r2's answers, reached as --target url.
func TestCAFThresholdsCatchAFailingReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("two CAF runs")
	}
	sc, err := scenarios.Load("caf-2021")
	require.NoError(t, err)
	pop, err := population.New(sc.Seed, sc.Users, sc.Population)
	require.NoError(t, err)
	for _, broken := range []bool{false, true} {
		// A fresh stack for each run: a run changes passwords and bank
		// details, which the next run's users would not know.
		stack := embedded.New(embedded.WithListen("127.0.0.1:0"))
		base, err := stack.Start(t.Context(), pop)
		require.NoError(t, err)
		t.Cleanup(func() { _ = stack.Stop(t.Context()) })
		origin, err := url.Parse(base)
		require.NoError(t, err)
		proxy := httputil.NewSingleHostReverseProxy(origin)
		var served atomic.Int64
		proxy.ModifyResponse = func(resp *http.Response) error {
			// From the load on (the preflight's few requests pass), r2
			// answers 500 half the time.
			if broken && served.Add(1) > 20 && resp.Header.Get("X-Replica") == "r2" && rand.IntN(2) == 0 {
				resp.StatusCode, resp.Status = http.StatusInternalServerError, "500 Internal Server Error"
			}
			return nil
		}
		srv := httptest.NewServer(proxy)
		dir := t.TempDir()
		code, out, errOut := crosstalk(t, "run", "caf-2021", "--target", "url", "--base-url", srv.URL, "--faults", "none",
			"--duration", "6s", "--out", dir, "--quiet")
		srv.Close()
		if !broken {
			require.Equal(t, exitPass, code, "a healthy stack passes\nstdout:\n%s\nstderr:\n%s", out, errOut)
			continue
		}
		require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		assert.Contains(t, report(t, dir)["reason"], "threshold error_rate breached")
	}
}
