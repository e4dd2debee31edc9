package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/internal/browser"
	"github.com/crosstalk-dev/crosstalk/scenarios"
)

// crosstalk runs the CLI in-process and returns its exit status and output.
func crosstalk(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(t.Context(), args, &out, &errOut)
	if err != nil {
		errOut.WriteString("crosstalk: " + err.Error() + "\n")
	}
	return exitCode(err), out.String(), errOut.String()
}

// report reads D/report.json into a map, checking the contract's fields.
func report(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	var r map[string]any
	require.NoError(t, json.Unmarshal(b, &r))
	for _, k := range []string{"verdict", "scenario", "seed", "target", "requests", "duration_s", "throughput_rps",
		"latency_ms", "errors", "violations", "violations_by_oracle", "victims", "viewers",
		"first_violation_after_requests", "faults", "thresholds"} {
		assert.Contains(t, r, k, "report.json lacks %s", k)
	}
	for _, k := range []string{"p50", "p90", "p99", "max"} {
		assert.Contains(t, r["latency_ms"], k)
	}
	for _, f := range []string{"junit.xml", "report.html", "results.jsonl", "evidence/violations.jsonl"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	return r
}

const caf = "../../scenarios/caf-2021.yaml"

func TestCAFIncidentIsCaught(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out, errOut := crosstalk(t, "run", caf, "--out", dir, "--duration", "8s", "--quiet")
	require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	r := report(t, dir)
	assert.Equal(t, "fail", r["verdict"])
	assert.Equal(t, "embedded", r["target"])
	assert.Greater(t, r["violations"], 0.0)
	assert.Greater(t, r["victims"], 0.0)
	assert.Greater(t, r["first_violation_after_requests"], 0.0)
	assert.Greater(t, r["violations_by_oracle"].(map[string]any)["isolation"], 0.0)

	// The evidence names a foreign NIR or IBAN, the fault active and the replica.
	ev, err := os.ReadFile(filepath.Join(dir, "evidence", "violations.jsonl"))
	require.NoError(t, err)
	first := strings.SplitN(string(ev), "\n", 2)[0]
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(first), &v))
	assert.Contains(t, []any{"nir", "iban", "email", "phone"}, v["field"])
	assert.Contains(t, string(ev), `"field":"nir"`)
	assert.NotEqual(t, v["viewer"], v["owner"])
	assert.Contains(t, v["faults"], "edge-reload(rules=cache-dynamic)")
	assert.NotEmpty(t, v["replica"])
	assert.FileExists(t, filepath.Join(dir, "evidence", "violation-001.txt"))

	assert.Contains(t, out, "FAIL:")
	assert.Contains(t, out, "victims")
	assert.Contains(t, out, "while edge-reload(rules=cache-dynamic) was active")
	assert.Contains(t, out, "in production ~7,000 files over ~11 hours; here caught after")

	// The report a postmortem would paste, in a real browser: the four
	// faults of the scenario in four lanes, the first leak on every chart.
	charts := chartsInChromium(t, filepath.Join(dir, "report.html"))
	require.Len(t, charts, 4)
	for _, c := range charts {
		assert.Equal(t, 1, c.Leak, "the first leak is marked on chart %s", c.ID)
		if c.ID == "faults" {
			assert.Equal(t, 4, c.Lanes, "the CAF scenario's four faults, one lane each")
		} else {
			assert.Positive(t, c.Series, "chart %s drew a line", c.ID)
		}
	}
}

// chartsInChromium renders a report in headless Chromium, fails on any
// console error, and returns what its charts drew. Without Chromium it
// skips, except in CI.
func chartsInChromium(t *testing.T, page string) []browser.Chart {
	t.Helper()
	if _, err := browser.Path(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set and Chromium is missing: .ci/run installs it")
		}
		t.Skip(err)
	}
	charts, shown, err := browser.Charts(context.Background(), "file://"+page)
	require.NoError(t, err)
	assert.Empty(t, shown.Console, "the report writes nothing to the console")
	shot := filepath.Join(t.ArtifactDir(), "report.png") // kept with go test -artifacts
	require.NoError(t, os.WriteFile(shot, shown.Screenshot, 0o644))
	t.Logf("screenshot: %s", shot)
	return charts
}

func TestCAFCorrectPortalPassesUnderTheSameFaults(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	code, out, errOut := crosstalk(t, "run", caf, "--out", dir, "--duration", "8s", "--defects", "none", "--quiet")
	require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	r := report(t, dir)
	assert.Equal(t, "pass", r["verdict"])
	assert.Equal(t, 0.0, r["violations"])
	assert.Nil(t, r["first_violation_after_requests"])
	faults := r["faults"].([]any)
	require.Len(t, faults, 4, "the same fault schedule runs")
	f := faults[0].(map[string]any)
	assert.Equal(t, "edge-reload(rules=cache-dynamic)", f["name"])
	assert.Greater(t, f["end"], f["start"])
	assert.Equal(t, []string{"edge-reload(rules=cache-dynamic)", "service-kill(replica-2)", "service-restart(redis)",
		"store-latency(store=sessions,latency=50ms,jitter=20ms)"}, faultNames(r))
	for _, f := range faults {
		assert.Empty(t, f.(map[string]any)["error"], "every fault applied and healed on the embedded stack")
	}
	assert.Contains(t, out, "PASS:")
}

func TestBadInputExits2(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	base, err := os.ReadFile(caf)
	require.NoError(t, err)
	typo := write("typo.yaml", strings.Replace(string(base), "users: 20000", "usres: 20000", 1))
	fault := write("fault.yaml", strings.Replace(string(base), "type: edge-reload", "type: edge-reboot", 1))
	reserved := write("reserved.yaml", string(base)+"portal:\n  headers: {X-Crosstalk-Actor: \"3\"}\n")
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"misspelled key", []string{"run", typo}, []string{"typo.yaml:", `unknown key "usres"`, `did you mean "users"`}},
		{"unknown fault", []string{"run", fault}, []string{"fault.yaml:", `unknown fault "edge-reboot"`, "edge-reload"}},
		{"missing scenario", []string{"run", filepath.Join(dir, "nope.yaml")}, []string{"nope.yaml", "no such file"}},
		{"unknown defect", []string{"run", caf, "--defect", "typo-defect"}, []string{`unknown defect "typo-defect"`, "migration-cache-headers"}},
		{"unknown target", []string{"run", caf, "--target", "moon"}, []string{`--target "moon"`}},
		{"non-loopback listen", []string{"run", caf, "--listen", "0.0.0.0:0", "--duration", "1s"}, []string{"loopback"}},
		{"unknown flag", []string{"run", caf, "--speed", "3"}, []string{"unknown flag: --speed"}},
		{"no scenario", []string{"run"}, []string{"accepts 1 arg"}},
		{"unknown command", []string{"fly"}, []string{`unknown command "fly"`}},
		{"bad seed", []string{"run", caf, "--seed", "abc"}, []string{"--seed"}},
		{"no such path", []string{"run", "/no/such/caf-2021.yaml"}, []string{"/no/such/caf-2021.yaml: no such file"}},
		{"rate 0", []string{"run", caf, "--rate", "0"}, []string{"--rate 0: want a positive"}},
		{"rate NaN", []string{"run", caf, "--rate", "NaN"}, []string{"--rate NaN"}},
		{"users 0", []string{"run", caf, "--users", "0"}, []string{"--users 0"}},
		{"negative timeout", []string{"run", caf, "--timeout", "-1s"}, []string{"--timeout -1s"}},
		{"negative replicas", []string{"run", caf, "--replicas", "-1"}, []string{"--replicas -1"}},
		{"1 ns run", []string{"run", caf, "--duration", "1ns"}, []string{"--duration 1ns: want at least 500ms"}},
		{"reserved header", []string{"run", reserved}, []string{"reserved.yaml:", "X-Crosstalk-Actor", "crosstalk's own"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			code, _, errOut := crosstalk(t, append(tc.args, "--out", out, "--quiet")...)
			assert.Equal(t, exitBadInput, code, errOut)
			for _, w := range tc.want {
				assert.Contains(t, errOut, w)
			}
			assert.NoFileExists(t, filepath.Join(out, "report.json"), "bad input writes no report")
		})
	}
}

func TestTargetThatCannotStartExits3(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	dir := t.TempDir()
	code, _, errOut := crosstalk(t, "run", caf, "--listen", ln.Addr().String(), "--out", dir, "--quiet")
	assert.Equal(t, exitTarget, code)
	assert.Contains(t, errOut, "could not start")
	assert.Contains(t, errOut, ln.Addr().String())
	assert.Contains(t, errOut, "address already in use")
	r := report(t, dir)
	assert.Equal(t, "error", r["verdict"], "the report says why the gate could not run")
}

// TestShippedScenarios runs every shipped scenario briefly: each must load,
// start, drive its faults and pass on a correct portal (--defects none), and
// each that ships a defect must catch it as shipped. They run one at a time:
// they are load tests, and two load spikes at once on a 2-core machine
// measure the machine, not the portal.
func TestShippedScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every scenario")
	}
	for _, n := range scenarios.Names() {
		t.Run(n, func(t *testing.T) {
			sc, err := scenarios.Load(n)
			require.NoError(t, err)
			duration := "2s"
			if len(sc.Defects) > 0 {
				duration = "6s"
			}
			dir := t.TempDir()
			code, out, errOut := crosstalk(t, "run", n, "--duration", duration, "--defects", "none", "--out", dir, "--quiet")
			assert.Equal(t, exitPass, code, "with --defects none\nstdout:\n%s\nstderr:\n%s", out, errOut)
			if len(sc.Defects) == 0 {
				return
			}
			code, out, errOut = crosstalk(t, "run", n, "--duration", duration, "--out", dir, "--quiet")
			assert.Equal(t, exitFail, code, "as shipped\nstdout:\n%s\nstderr:\n%s", out, errOut)
			r := report(t, dir)
			assert.Greater(t, r["violations"], 0.0)
			if sc.Incident != "" {
				assert.Contains(t, out, "incident "+sc.Incident+": in production")
			}
		})
	}
}

func TestListAndVersion(t *testing.T) {
	code, out, _ := crosstalk(t, "list")
	require.Equal(t, exitPass, code)
	assert.Contains(t, out, "caf-2021")
	assert.Contains(t, out, "edge-reload")
	assert.Contains(t, out, "migration-cache-headers")
	code, out, _ = crosstalk(t, "version")
	require.Equal(t, exitPass, code)
	assert.Contains(t, out, "crosstalk")
}
