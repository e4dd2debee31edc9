package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	out := filepath.Join(dir, "out")
	cmd := exec.Command(bin, "run", caf, "--defects", "none", "--duration", "20s", "--out", out, "--quiet")
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	require.Eventually(t, func() bool {
		fi, err := os.Stat(filepath.Join(out, "results.jsonl"))
		return err == nil && fi.Size() > 0
	}, 30*time.Second, 100*time.Millisecond, "the load started")
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
