package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/internal/docker"
	"github.com/crosstalk-dev/crosstalk/internal/dockertest"
)

// TestSIGTERMWithinItsGracePeriod: a run under load gets SIGTERM, as from
// Docker or Kubernetes, and SIGKILL 10 s later. Before then it has stopped
// the load, healed its faults, written report.json (interrupted) and
// exited 3.
func TestSIGTERMWithinItsGracePeriod(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a load")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "crosstalk")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	t.Run("embedded", func(t *testing.T) { sigterm(t, bin) })
	t.Run("SIGKILL, then crosstalk report", func(t *testing.T) { sigkill(t, bin) })
	t.Run("containers", func(t *testing.T) {
		cli := dockertest.Require(t)
		var stderr bytes.Buffer
		sigterm(t, bin, &stderr, "--target", "containers", "--replicas", "2", "--users", "2000")
		run := regexp.MustCompile(`crosstalk: run (\S+)`).FindStringSubmatch(stderr.String())
		require.Len(t, run, 2, stderr.String())
		// What the run could not remove within its budget, down removes:
		// its process is dead.
		down, err := exec.Command(bin, "down").CombinedOutput()
		require.NoError(t, err, "%s", down)
		cs, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true,
			Filters: make(client.Filters).Add("label", docker.Label+"="+run[1])})
		require.NoError(t, err)
		assert.Empty(t, cs.Items, "nothing of the run is left")
		t.Logf("down after the run: %s", down)
	})
}

// sigterm runs CAF on a correct portal with args, sends SIGTERM under a
// fault, and checks the run ended within 10 s with its report.
func sigterm(t *testing.T, bin string, args ...any) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	argv := []string{"run", caf, "--defects", "none", "--duration", "20s", "--out", out, "--quiet"}
	cmd := exec.Command(bin)
	for _, a := range args {
		switch a := a.(type) {
		case string:
			argv = append(argv, a)
		case io.Writer:
			cmd.Stderr = a
		}
	}
	cmd.Args = append(cmd.Args, argv...)
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	started := time.Now()
	for {
		if fi, err := os.Stat(filepath.Join(out, "results.jsonl")); err == nil && fi.Size() > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the run ended before its load started: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		require.Less(t, time.Since(started), 2*time.Minute, "the load did not start")
	}
	time.Sleep(5 * time.Second) // under the edge-reload fault of CAF (from 15% of the run)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	t0 := time.Now()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("still running 10 s after SIGTERM: killed")
	}
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v", err)
	assert.Equal(t, exitTarget, exit.ExitCode(), "interrupted with no violation")
	r := report(t, out)
	assert.Equal(t, true, r["interrupted"])
	faults := r["faults"].([]any)
	require.NotEmpty(t, faults)
	for _, f := range faults {
		f := f.(map[string]any)
		assert.Greater(t, f["end"], f["start"], "healed: %v", f)
	}
	t.Logf("exited %.1f s after SIGTERM", time.Since(t0).Seconds())
}

// sigkill runs CAF with its defect, kills the process with SIGKILL 8 s in,
// as the OOM killer or a CI timeout would, and rebuilds the report from
// what it left: the request count is the lines of results.jsonl, which
// miss at most the last second; the violations are those of the evidence;
// the faults active at the kill are named as possibly not healed.
func sigkill(t *testing.T, bin string) {
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(bin, "run", caf, "--duration", "20s", "--out", out, "--quiet")
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if fi, err := os.Stat(filepath.Join(out, "results.jsonl")); err == nil && fi.Size() > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the load did not start")
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(8 * time.Second)
	require.NoError(t, cmd.Process.Kill())
	<-done
	assert.NoFileExists(t, filepath.Join(out, "report.json"), "a killed run wrote no report")

	results, err := os.ReadFile(filepath.Join(out, "results.jsonl"))
	require.NoError(t, err)
	lines := bytes.Count(results, []byte("\n"))
	var lastT float64
	if i := bytes.LastIndexByte(results[:len(results)-1], '\n'); i >= 0 {
		var l struct{ T float64 }
		require.NoError(t, json.Unmarshal(results[i+1:], &l))
		lastT = l.T
	}
	assert.Greater(t, lastT, 8.0-1-1, "results.jsonl misses at most the last second (and the start)")

	rep, err := exec.Command(bin, "report", out).CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "%v: %s", err, rep)
	assert.Equal(t, exitFail, exit.ExitCode(), "the violations found before the kill fail the gate: %s", rep)
	r := report(t, out)
	assert.Equal(t, true, r["interrupted"])
	assert.Equal(t, float64(lines), r["requests"], "the request count is the lines of results.jsonl")
	assert.Positive(t, r["logins"].(map[string]any)["succeeded"], "logins are in results.jsonl")
	evid, err := os.ReadFile(filepath.Join(out, "evidence", "violations.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, float64(bytes.Count(evid, []byte("\n"))), r["violations"])
	var active int
	for _, f := range r["faults"].([]any) {
		if e, _ := f.(map[string]any)["error"].(string); strings.Contains(e, "possibly not healed") {
			active++
		}
	}
	assert.Positive(t, active, "the edge-reload was active when the run died")
	for _, f := range []string{"junit.xml", "report.html", "summary.txt"} {
		assert.FileExists(t, filepath.Join(out, f))
	}
}
