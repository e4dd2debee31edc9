package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/internal/docker"
	"github.com/crosstalk-dev/crosstalk/internal/dockertest"
)

// faultNames returns the fault descriptions of a report's timeline.
func faultNames(r map[string]any) []string {
	var out []string
	for _, f := range r["faults"].([]any) {
		out = append(out, f.(map[string]any)["name"].(string))
	}
	return out
}

// The acceptance of the containers target: the CAF incident in real
// containers is caught, and the correct portal passes the same schedule of
// an nginx reload, a replica kill, a Redis restart and Redis latency. Not
// parallel: the stack and the load share the machine's two cores.
func TestCAFOnContainers(t *testing.T) {
	dockertest.Require(t)
	leaky, fixed := t.TempDir(), t.TempDir()

	code, out, errOut := crosstalk(t, "run", caf, "--target", "containers", "--out", leaky, "--duration", "30s", "--quiet")
	require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	r := report(t, leaky)
	assert.Equal(t, "containers", r["target"])
	assert.Greater(t, r["violations"], 0.0)
	assert.Greater(t, r["target_start_s"], 0.0, "the report gives the stack's start time")

	code, out, errOut = crosstalk(t, "run", caf, "--target", "containers", "--out", fixed, "--duration", "30s", "--defects", "none", "--quiet")
	require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	r = report(t, fixed)
	assert.Equal(t, 0.0, r["violations"])
	faults := faultNames(r)
	for _, want := range []string{"edge-reload(rules=cache-dynamic)", "service-kill(replica-2)", "service-restart(redis)", "store-latency(store=sessions,latency=50ms,jitter=20ms)"} {
		assert.Contains(t, faults, want, "the faults timeline shows %s applied", want)
	}
}

// The compose example: the stack as a user composes it passes its chaos
// schedule, and the edge misconfiguration switched on with an exec is caught.
func TestComposeExample(t *testing.T) {
	dockertest.Require(t)
	compose := []string{"--target", "compose", "--compose-file", "../../examples/compose/compose.yaml", "--entry", "edge:8080", "--quiet"}

	dir := t.TempDir()
	code, out, errOut := crosstalk(t, append([]string{"run", "../../examples/compose/chaos.yaml", "--out", dir}, compose...)...)
	require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	r := report(t, dir)
	assert.Equal(t, "compose", r["target"])
	assert.Len(t, faultNames(r), 4)

	dir = t.TempDir()
	code, out, errOut = crosstalk(t, append([]string{"run", "../../examples/compose/edge-misconfig.yaml", "--out", dir}, compose...)...)
	require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Greater(t, report(t, dir)["violations"], 0.0)
}

// Bad input for the container targets is exit 2, before anything starts.
func TestContainerTargetsBadInput(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--target", "compose"},
		{"--target", "compose", "--compose-file", "no-such-file.yaml", "--entry", "edge:8080"},
		{"--target", "compose", "--compose-file", "../../examples/compose/compose.yaml", "--entry", "nope:8080"},
		{"--target", "compose", "--compose-file", "../../examples/compose/compose.yaml", "--entry", "edge"},
		{"--target", "containers", "--image", "mysql=mysql:8"},
		{"--image", "redis=redis:7"},
		{"--compose-file", "x.yaml"},
	} {
		code, _, errOut := crosstalk(t, append([]string{"run", "../../scenarios/smoke.yaml", "--out", t.TempDir()}, args...)...)
		assert.Equal(t, exitBadInput, code, "%v: %s", args, errOut)
	}
	code, _, errOut := crosstalk(t, "run", "../../scenarios/smoke.yaml", "--target", "compose", "--out", t.TempDir(),
		"--compose-file", "../../examples/compose/compose.yaml", "--entry", "nope:8080")
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, `no service "nope"`)
}

// Ctrl-C in the middle of a container run stops the load, writes the report
// of what ran, and removes every container and network of the run.
func TestContainersInterruptedCleansUp(t *testing.T) {
	cli := dockertest.Require(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var cancelledAt time.Time
	go func() { // Ctrl-C once responses stream to disk: the stack is up, the load runs
		for ctx.Err() == nil {
			if fi, err := os.Stat(filepath.Join(dir, "results.jsonl")); err == nil && fi.Size() > 0 {
				time.Sleep(2 * time.Second)
				cancelledAt = time.Now()
				cancel()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	var out, errOut bytes.Buffer
	err := run(ctx, []string{"run", caf, "--target", "containers", "--out", dir, "--duration", "60s",
		"--defects", "none", "--replicas", "2", "--quiet"}, &out, &errOut)
	require.Equal(t, exitTarget, exitCode(err), "interrupted with no violation seen: %v\nstderr:\n%s", err, errOut.String())
	r := report(t, dir)
	assert.Equal(t, true, r["interrupted"])
	assert.Greater(t, r["requests"], 0.0)
	fi, err := os.Stat(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	assert.Less(t, fi.ModTime().Sub(cancelledAt), 10*time.Second, "the report is written within the shutdown budget, before the stack stops")

	f := make(client.Filters).Add("label", docker.Label)
	cs, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
	require.NoError(t, err)
	assert.Empty(t, cs.Items, "the interrupted run removed its containers")
}

// crosstalk up starts the stack and prints its endpoints; crosstalk down
// removes it.
func TestUpAndDown(t *testing.T) {
	dockertest.Require(t)
	code, out, errOut := crosstalk(t, "up", "--users", "200", "--replicas", "1", "--detach")
	require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	for _, svc := range []string{"edge", "replica-1", "redis", "postgres", "toxiproxy"} {
		assert.Regexp(t, `(?m)^  `+svc+` +127\.0\.0\.1:\d+$`, out)
	}
	portal := regexp.MustCompile(`portal +(http://127\.0\.0\.1:\d+)/login`).FindStringSubmatch(out)
	require.Len(t, portal, 2, out)
	resp, err := http.Get(portal[1] + "/login")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the detached stack serves")

	run := regexp.MustCompile(`crosstalk down --run (\S+)`).FindStringSubmatch(out)
	require.Len(t, run, 2, out)

	code, out, errOut = crosstalk(t, "down")
	require.Equal(t, exitPass, code, errOut)
	resp, err = http.Get(portal[1] + "/login")
	require.NoError(t, err, "down without --run leaves a detached stack alone: %s", out)
	resp.Body.Close()

	code, out, errOut = crosstalk(t, "down", "--run", run[1])
	require.Equal(t, exitPass, code, errOut)
	assert.Regexp(t, `removed [1-9]\d* containers`, out)
	_, err = http.Get(portal[1] + "/login")
	assert.Error(t, err, "the stack is gone")
}

// The France Travail scenario runs on the container stack too, its advisers,
// lockout counters and audit log in PostgreSQL: the three failures are
// caught as shipped, and the correct portal locks out, logs and alerts.
func TestFranceTravailOnContainers(t *testing.T) {
	dockertest.Require(t)
	const ft = "../../scenarios/france-travail-2024.yaml"
	dir := t.TempDir()
	code, out, errOut := crosstalk(t, "run", ft, "--target", "containers", "--duration", "15s", "--out", dir, "--quiet")
	require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	by := report(t, dir)["violations_by_oracle"].(map[string]any)
	for _, o := range []string{"breadth", "auth", "audit"} {
		assert.Greater(t, by[o], 0.0, o)
	}

	dir = t.TempDir()
	code, out, errOut = crosstalk(t, "run", ft, "--target", "containers", "--duration", "15s", "--out", dir, "--quiet", "--defects", "none")
	require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	adv := report(t, dir)["advisers"].(map[string]any)
	assert.Equal(t, 0.0, adv["accesses_missing_from_log"])
	assert.NotNil(t, adv["alert_after_s"], "the mass read was alerted on")
	assert.Contains(t, out, "accounts locked after at most 5 failures")
}

// The workers as containers of the crosstalk image on the stack's private
// network, each given only JOB_COMPLETION_INDEX and the coordinator's
// address, as a pod of the Indexed Job is: one merged report, over a real
// network. The containers leave with the stack.
func TestWorkersAsContainers(t *testing.T) {
	dockertest.Require(t)
	out := t.TempDir()
	code, stdout, stderr := crosstalk(t, "run", caf, "--target", "containers", "--replicas", "2", "--users", "4000",
		"--workers", "2", "--engine", "docker", "--duration", "20s", "--out", out, "--quiet")
	require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	rec := readRecordFile(t, out)
	assert.Equal(t, 2, rec.Workers)
	assert.Positive(t, rec.Violations, "the CAF leak, seen by workers in containers")
	require.Len(t, rec.Generators, 2)
	for i, g := range rec.Generators {
		assert.Empty(t, g.Error)
		assert.Positive(t, g.Requests, "worker %d drove its users over the network", i)
		assert.FileExists(t, filepath.Join(out, "workers", fmt.Sprintf("worker-%d.log", i)))
	}
	assert.Contains(t, stderr, "worker 1 started (container ")
	lines, err := os.ReadFile(filepath.Join(out, "results.jsonl"))
	require.NoError(t, err)
	assert.Contains(t, string(lines), `{"shard":0,`)
	assert.Contains(t, string(lines), `{"shard":1,`)
}
