package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/scenarios"
	"github.com/crosstalk-dev/crosstalk/targets/embedded"
)

func TestURLTargetRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"http://10.1.2.3:8080", "http://192.168.0.10", "https://example.com"} {
		code, _, errOut := crosstalk(t, "run", "smoke", "--target", "url", "--base-url", u, "--out", t.TempDir(), "--quiet")
		assert.Equal(t, exitBadInput, code, u)
		assert.Contains(t, errOut, "--allow-host", u)
	}
	code, _, errOut := crosstalk(t, "run", "smoke", "--target", "url", "--out", t.TempDir())
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "--target url needs --base-url")
	code, _, errOut = crosstalk(t, "run", "smoke", "--target", "url", "--base-url", "http://127.0.0.1:1", "--defect", "request-state-reuse", "--out", t.TempDir())
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "not the reference portal")
	code, _, errOut = crosstalk(t, "run", "smoke", "--target", "url", "--base-url", "http://127.0.0.1:1", "--out", t.TempDir(), "--quiet")
	assert.Equal(t, exitBadInput, code, "the reference scenario's edge reload needs a driver")
	assert.Contains(t, errOut, "fault edge-reload is not supported by target url")
	code, _, errOut = crosstalk(t, "run", "smoke", "--target", "url", "--base-url", "http://127.0.0.1:1", "--faults", "none", "--out", t.TempDir(), "--quiet")
	assert.Equal(t, exitTarget, code, "nothing listens there")
	assert.Contains(t, errOut, "does not answer")
}

// TestURLTargetRunsAgainstARunningStack starts the reference stack by hand,
// seeded with the smoke scenario's population, and points crosstalk at it.
func TestURLTargetRunsAgainstARunningStack(t *testing.T) {
	sc, err := scenarios.Load("smoke")
	require.NoError(t, err)
	pop, err := population.New(sc.Seed, sc.Users, population.DefaultMix)
	require.NoError(t, err)
	stack := embedded.New()
	base, err := stack.Start(context.Background(), pop)
	require.NoError(t, err)
	defer stack.Stop(context.Background())

	dir := t.TempDir()
	code, out, errOut := crosstalk(t, "run", "smoke", "--target", "url", "--base-url", base, "--faults", "none", "--duration", "3s", "--out", dir, "--quiet")
	require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	r := report(t, dir)
	assert.Equal(t, "url", r["target"])
	assert.Greater(t, r["logins"].(map[string]any)["succeeded"], 0.0, "the seeded users logged in")
	assert.Contains(t, r["notes"], "writes oracle skipped: target url cannot read accounts back; declare portal.read_back to read them over HTTP")
	assert.Contains(t, out, "note        writes oracle skipped")
}

func TestPopulationExport(t *testing.T) {
	code, out, _ := crosstalk(t, "population", "export", "--users", "50", "--seed", "20211010", "--format", "csv")
	require.Equal(t, exitPass, code)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 51)
	pop, err := population.New(20211010, 50, population.DefaultMix)
	require.NoError(t, err)
	assert.Contains(t, lines[8], pop.NIR(7), "the same seed gives the scenario's users")

	file := filepath.Join(t.TempDir(), "users.sql")
	code, _, _ = crosstalk(t, "population", "export", "--users", "10", "--format", "sql", "--out", file)
	require.Equal(t, exitPass, code)
	assert.FileExists(t, file)

	code, _, errOut := crosstalk(t, "population", "export", "--format", "xml")
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, `--format "xml": want one of csv, json, sql`)
	code, _, _ = crosstalk(t, "population", "export", "--users", "0")
	assert.Equal(t, exitBadInput, code)
}
