package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/internal/dockertest"
)

const franceConnect = "../../scenarios/franceconnect.yaml"

// checkFranceConnect runs the franceconnect scenario (2,000 users logging in
// through the reference identity provider during a surge) on target, as
// shipped and with --defects none: the crossed callbacks are caught under
// the surge, and the correct portal passes with its logins through the
// provider.
func checkFranceConnect(t *testing.T, target, duration string) {
	t.Helper()
	dir := t.TempDir()
	code, out, errOut := crosstalk(t, "run", franceConnect, "--target", target, "--duration", duration, "--out", dir, "--quiet")
	require.Equal(t, exitFail, code, "as shipped\nstdout:\n%s\nstderr:\n%s", out, errOut)
	r := report(t, dir)
	assert.Greater(t, r["violations_by_oracle"].(map[string]any)["isolation"], 0.0)
	assert.Greater(t, r["viewers"], 0.0)
	assert.Equal(t, 2000.0, r["users"])

	dir = t.TempDir()
	code, out, errOut = crosstalk(t, "run", franceConnect, "--target", target, "--duration", duration, "--defects", "none", "--out", dir, "--quiet")
	require.Equal(t, exitPass, code, "with --defects none\nstdout:\n%s\nstderr:\n%s", out, errOut)
	r = report(t, dir)
	logins := r["logins"].(map[string]any)
	assert.Greater(t, logins["succeeded"], 200.0, "logins through the identity provider")
	steps := map[string]map[string]any{}
	for _, s := range r["steps"].([]any) {
		m := s.(map[string]any)
		steps[m["step"].(string)] = m
	}
	require.Contains(t, steps, "franceconnect/idp-login")
	assert.Greater(t, steps["franceconnect/dossier"]["with_own"], 200.0, "the dossier after the callback is the user's own")
}

func TestFranceConnectLogins(t *testing.T) {
	if testing.Short() {
		t.Skip("two load runs")
	}
	dockertest.Exclusive(t)
	checkFranceConnect(t, "embedded", "12s")
}

func TestFranceConnectOnContainers(t *testing.T) {
	dockertest.Require(t)
	checkFranceConnect(t, "containers", "20s")
}

// A host the scenario says the target runs must be one it runs.
func TestHostFromATargetThatRunsNone(t *testing.T) {
	srv := newOwnPortal(t, false, 0, "1")
	code, _, errOut := crosstalk(t, "run", franceConnect, "--target", "url", "--base-url", srv.URL, "--out", t.TempDir(), "--quiet")
	assert.Equal(t, exitBadInput, code, errOut)
	assert.Contains(t, errOut, "portal.hosts.idp: target url runs no host named idp (it runs: none)")
}
