package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// editReport copies the run in dir to a new directory with its report.json
// changed by edit.
func editReport(t *testing.T, dir string, edit func(r map[string]any)) string {
	t.Helper()
	r := report(t, dir)
	edit(r)
	out := t.TempDir()
	b, err := json.Marshal(r)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(out, "report.json"), b, 0o644))
	return out
}

// TestCompareRuns: a run compared with itself passes; a correct run
// against one with the defect fails and names the new violations; a
// latency regression beyond the declared tolerance fails, at the end of a
// run too (run --baseline, a JUnit case); runs of another seed are refused.
func TestCompareRuns(t *testing.T) {
	good, bad := t.TempDir(), t.TempDir()
	code, out, errOut := crosstalk(t, "run", caf, "--out", good, "--duration", "4s", "--defects", "none", "--quiet")
	require.Equal(t, exitPass, code, "%s\n%s", out, errOut)
	code, out, errOut = crosstalk(t, "run", caf, "--out", bad, "--duration", "4s", "--quiet")
	require.Equal(t, exitFail, code, "%s\n%s", out, errOut)

	code, out, _ = crosstalk(t, "compare", good, good)
	assert.Equal(t, exitPass, code, out)
	assert.Contains(t, out, "no regression against the baseline")

	code, out, _ = crosstalk(t, "compare", good, bad)
	assert.Equal(t, exitFail, code, out)
	assert.Regexp(t, `violations isolation\s+0\s+\d+\s+new`, out)
	assert.Contains(t, out, "REGRESSED")

	otherSeed := editReport(t, good, func(r map[string]any) { r["seed"] = r["seed"].(float64) + 1 })
	code, _, errOut = crosstalk(t, "compare", good, otherSeed)
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "different seeds")
	code, _, _ = crosstalk(t, "compare", good, otherSeed, "--force")
	assert.Equal(t, exitPass, code, "--force compares them anyway")
	code, _, errOut = crosstalk(t, "compare", good, t.TempDir())
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "no report here")

	// A baseline that was much faster, declaring a 20% tolerance on p99.
	fast := editReport(t, good, func(r map[string]any) {
		r["latency_ms"].(map[string]any)["p99"] = 0.001
		r["regression"] = map[string]any{"p99": "20%", "min_ms": 0}
	})
	code, out, _ = crosstalk(t, "compare", fast, good)
	assert.Equal(t, exitFail, code, out)
	assert.Regexp(t, `(?m)^p99\s.*REGRESSION`, out)

	dir := t.TempDir()
	code, out, errOut = crosstalk(t, "run", caf, "--out", dir, "--duration", "4s", "--defects", "none", "--quiet", "--baseline", fast)
	assert.Equal(t, exitFail, code, "%s\n%s", out, errOut)
	assert.Contains(t, out, "REGRESSED")
	r := report(t, dir)
	assert.Equal(t, "fail", r["verdict"])
	assert.Contains(t, r["reason"], "regressed against the baseline")
	junit, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	require.NoError(t, err)
	assert.Contains(t, string(junit), `name="threshold regression p99"`)
}
