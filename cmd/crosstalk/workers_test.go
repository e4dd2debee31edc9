package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/workers/kube"
)

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// builtBinary builds crosstalk once for the tests that need its processes:
// the local engine starts its workers from the binary.
func builtBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs a load on worker processes")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "crosstalk-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "crosstalk")
		build := exec.Command("go", "build", "-o", binPath, ".")
		build.Stderr = os.Stderr
		binErr = build.Run()
	})
	require.NoError(t, binErr)
	return binPath
}

// runBinary runs the built binary and returns its exit status and output.
func runBinary(t *testing.T, bin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), out.String(), errOut.String()
	}
	require.NoError(t, err)
	return 0, out.String(), errOut.String()
}

func readRecordFile(t *testing.T, dir string) *harness.Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	var r harness.Record
	require.NoError(t, json.Unmarshal(b, &r))
	return &r
}

// The acceptance: CAF on four local workers finds the leak, with
// one merged record (workers: 4, violations, victims, each fault applied
// once); the correct portal under the same schedule passes.
func TestCAFOnFourWorkers(t *testing.T) {
	bin := builtBinary(t)
	out := t.TempDir()
	code, stdout, stderr := runBinary(t, bin, "run", caf, "--workers", "4", "--duration", "15s", "--out", out, "--quiet")
	require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	r := report(t, out)
	rec := readRecordFile(t, out)
	assert.Equal(t, 4.0, r["workers"])
	assert.Positive(t, rec.Violations)
	assert.Positive(t, rec.Victims)
	require.Len(t, rec.Generators, 4)
	for i, g := range rec.Generators {
		assert.Equal(t, [2]int{i * 5000, (i + 1) * 5000}, g.Users)
		assert.Positive(t, g.Requests)
		assert.Empty(t, g.Error)
	}
	require.NotNil(t, rec.StartSpreadMS)
	assert.Less(t, *rec.StartSpreadMS, 1000.0, "the barrier starts them together")
	names := map[string]int{}
	for _, f := range rec.Faults {
		names[f.Name]++
		assert.Greater(t, f.EndS, f.StartS, "%s healed", f.Name)
	}
	assert.Len(t, names, 4, "the CAF schedule's four faults")
	for n, c := range names {
		assert.Equal(t, 1, c, "%s applied once for the whole run, not once per worker", n)
	}
	assert.Contains(t, stdout, "workers     4 load generators")
	assert.Contains(t, rec.Replay, "--workers 4")
	for i := range 4 {
		assert.FileExists(t, filepath.Join(out, "workers", "worker-"+strconv.Itoa(i)+".log"))
	}

	out = t.TempDir()
	code, stdout, stderr = runBinary(t, bin, "run", caf, "--workers", "4", "--duration", "15s", "--out", out, "--quiet", "--defects", "none")
	require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	assert.Zero(t, readRecordFile(t, out).Violations)
}

// The CAF incident's real population, 13.6 million users, over four
// workers: every user in one shard, the leak found. (What each worker
// holds does not grow with the population: BenchmarkShardMemory.)
func TestCAFAtTheIncidentsScaleOnFourWorkers(t *testing.T) {
	bin := builtBinary(t)
	out := t.TempDir()
	code, stdout, stderr := runBinary(t, bin, "run", caf, "--workers", "4", "--users", "13600000", "--duration", "8s", "--out", out, "--quiet")
	require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	rec := readRecordFile(t, out)
	assert.Equal(t, 13_600_000, rec.Users)
	assert.Positive(t, rec.Victims)
	require.Len(t, rec.Generators, 4)
	assert.Equal(t, [2]int{0, 3_400_000}, rec.Generators[0].Users)
	assert.Equal(t, [2]int{10_200_000, 13_600_000}, rec.Generators[3].Users)
	for _, g := range rec.Generators {
		assert.Positive(t, g.PeakRSSMB)
		t.Logf("worker %d: users %v, %d requests, peak RSS %.0f MB", g.Shard, g.Users, g.Requests, g.PeakRSSMB)
	}
}

// The same scenario and seed on one worker and on three, against a portal
// written for the test that answers at once: the same users driven, the
// same requests per step. The scenario is paced so that every user's
// journey ends before the next one begins, and bounded in count, so the
// load is the same whatever the timing.
func TestOneAndThreeWorkersDriveTheSameLoad(t *testing.T) {
	bin := builtBinary(t)
	srv := newOwnPortal(t, false, 45, "99")
	type load struct {
		users map[int]bool
		steps map[string]int64
	}
	runOn := func(workers int) load {
		out := t.TempDir()
		code, stdout, stderr := runBinary(t, bin, "run", "testdata/workers-portal.yaml", "--target", "url", "--base-url", srv.URL,
			"--workers", strconv.Itoa(workers), "--out", out, "--quiet")
		require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
		rec := readRecordFile(t, out)
		require.Equal(t, workers, rec.Workers)
		l := load{users: map[int]bool{}, steps: map[string]int64{}}
		for _, s := range rec.Steps {
			l.steps[s.Step] = s.Requests
		}
		f, err := os.Open(filepath.Join(out, "results.jsonl"))
		require.NoError(t, err)
		defer f.Close()
		sc := bufio.NewScanner(f)
		var shardLines int
		for sc.Scan() {
			var line struct {
				Shard *int `json:"shard"`
				User  int  `json:"user"`
			}
			require.NoError(t, json.Unmarshal(sc.Bytes(), &line))
			if line.Shard != nil { // the coordinator's preflight is not a worker's
				l.users[line.User] = true
				shardLines++
			}
		}
		var sum uint64
		for _, g := range rec.Generators {
			sum += g.Requests
		}
		assert.Equal(t, uint64(shardLines), sum, "results.jsonl holds every worker's responses")
		return l
	}
	one, three := runOn(1), runOn(3)
	assert.Len(t, one.users, 45, "every user of the population drove its journey")
	assert.Equal(t, one.users, three.users, "the same users driven")
	assert.Equal(t, one.steps, three.steps, "the same requests per step")
	assert.Equal(t, int64(45+1), one.steps["api/login"], "45 users and the preflight's")
}

// A worker killed mid-run fails the run with exit 3; the others' results
// are in the report, and the faults were healed.
func TestAWorkerKilledMidRun(t *testing.T) {
	bin := builtBinary(t)
	out := t.TempDir()
	cmd := exec.Command(bin, "run", caf, "--workers", "3", "--duration", "12s", "--out", out, "--quiet", "--defects", "none")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	pipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var stderr strings.Builder
	pid := make(chan int, 1)
	go func() {
		started := regexp.MustCompile(`worker 1 started \(pid (\d+)\)`)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if m := started.FindStringSubmatch(sc.Text()); m != nil {
				p, _ := strconv.Atoi(m[1])
				pid <- p
			}
		}
	}()
	var victim int
	select {
	case victim = <-pid:
	case <-time.After(time.Minute):
		t.Fatal("worker 1 never started")
	}
	// Kill it mid-run: the barrier releases a second after the workers
	// are ready, and the load lasts 12 s.
	time.Sleep(8 * time.Second)
	require.NoError(t, syscall.Kill(victim, syscall.SIGKILL))
	err = cmd.Wait()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, stdout.String())
	assert.Equal(t, exitTarget, exit.ExitCode(), "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	rec := readRecordFile(t, out)
	assert.Equal(t, harness.VerdictError, rec.Verdict)
	assert.Contains(t, rec.Reason, "generator 1")
	require.Len(t, rec.Generators, 3)
	assert.Contains(t, rec.Generators[1].Error, "died")
	assert.Positive(t, rec.Generators[1].Requests, "what it sent before it died is counted")
	for _, i := range []int{0, 2} {
		assert.Empty(t, rec.Generators[i].Error)
		assert.Positive(t, rec.Generators[i].Requests, "worker %d's results are in the report", i)
	}
	require.NotEmpty(t, rec.Faults)
	for _, f := range rec.Faults {
		assert.Empty(t, f.Error, f.Name)
		assert.Greater(t, f.EndS, f.StartS, "%s was healed", f.Name)
	}
	assert.Contains(t, stdout.String(), "died")
}

// What --workers refuses, with exit 2 and the value named.
func TestWorkersBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--workers", "0"}, "--workers 0"},
		{[]string{"--workers", "2", "--engine", "cloud"}, `--engine "cloud"`},
		{[]string{"--engine", "local"}, "--engine needs --workers"},
		{[]string{"--workers", "2", "--coordinator-url", "http://10.0.0.1:7070"}, "--coordinator-url"},
		{[]string{"--workers", "2", "--coordinator-listen", "nowhere"}, "--coordinator-listen nowhere"},
		{[]string{"--workers", "30000", "--users", "2000"}, "--workers 30000"},
	} {
		code, _, errOut := crosstalk(t, append([]string{"run", caf, "--out", t.TempDir(), "--quiet"}, c.args...)...)
		assert.Equal(t, exitBadInput, code, "%v: %s", c.args, errOut)
		assert.Contains(t, errOut, c.want, c.args)
	}
	code, _, errOut := crosstalk(t, "worker")
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "JOB_COMPLETION_INDEX")
	code, _, errOut = crosstalk(t, "run", "../../scenarios/france-travail-2024.yaml", "--workers", "2", "--out", t.TempDir(), "--quiet")
	assert.Equal(t, exitBadInput, code, errOut)
	assert.Contains(t, errOut, "advisers: a run on load generators")
}

// crosstalk k8s manifest prints objects that decode strictly with
// client-go's scheme: the Indexed Job of eight workers and its coordinator.
func TestK8sManifest(t *testing.T) {
	code, out, errOut := crosstalk(t, "k8s", "manifest", caf, "--workers", "8", "--namespace", "load",
		"--", "--target", "url", "--base-url", "http://portal.load.svc:8080", "--allow-host", "portal.load.svc", "--faults", "none")
	require.Equal(t, exitPass, code, errOut)
	objs, err := kube.Decode([]byte(out))
	require.NoError(t, err)
	require.Len(t, objs, 4)
	job, ok := objs[3].(*batchv1.Job)
	require.True(t, ok, "%T", objs[3])
	assert.Equal(t, int32(8), *job.Spec.Completions)
	assert.Equal(t, batchv1.IndexedCompletion, *job.Spec.CompletionMode)
	coord := objs[2].(*batchv1.Job).Spec.Template.Spec.Containers[0].Args
	assert.Contains(t, strings.Join(coord, " "), "--base-url http://portal.load.svc:8080 --allow-host portal.load.svc --faults none --workers 8")
	cm := objs[0].(*corev1.ConfigMap)
	want, err := os.ReadFile(caf)
	require.NoError(t, err)
	assert.Equal(t, string(want), cm.Data["caf-2021.yaml"], "the scenario travels as written")

	code, _, errOut = crosstalk(t, "k8s", "manifest", "testdata/nope.yaml")
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "testdata/nope.yaml")
	code, _, errOut = crosstalk(t, "k8s", "manifest", caf, "--requests", "gpu=1")
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "gpu=1")
}

// --engine kubernetes needs a target the pods can reach and a cluster;
// without either it says so, exit 2, and creates nothing.
func TestKubernetesEngineRefusals(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none"))
	t.Setenv("HOME", t.TempDir())
	code, _, errOut := crosstalk(t, "run", caf, "--workers", "4", "--engine", "kubernetes", "--out", t.TempDir())
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "--target url")
	code, _, errOut = crosstalk(t, "run", caf, "--workers", "4", "--engine", "kubernetes", "--target", "url",
		"--base-url", "http://portal.load.svc:8080", "--allow-host", "portal.load.svc", "--out", t.TempDir())
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "no Kubernetes cluster")
	code, _, errOut = crosstalk(t, "down", "--engine", "kubernetes")
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "no Kubernetes cluster")
}

// The reports travel from the coordinator's pod as a gzipped tar; an
// archive that reaches outside the output directory is refused.
func TestReportsArchive(t *testing.T) {
	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "evidence"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "report.json"), []byte(`{"verdict":"pass"}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(src, "evidence", "violations.jsonl"), nil, 0o644))
	b, err := tarDir(src)
	require.NoError(t, err)
	dst := t.TempDir()
	require.NoError(t, untar(b, dst))
	got, err := os.ReadFile(filepath.Join(dst, "report.json"))
	require.NoError(t, err)
	assert.JSONEq(t, `{"verdict":"pass"}`, string(got))
	assert.FileExists(t, filepath.Join(dst, "evidence", "violations.jsonl"))

	var evil bytes.Buffer
	gz := gzip.NewWriter(&evil)
	tw := tar.NewWriter(gz)
	require.NoError(t, tw.WriteHeader(&tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Size: 1, Mode: 0o644}))
	_, _ = tw.Write([]byte("x"))
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	assert.ErrorContains(t, untar(evil.Bytes(), dst), "outside the reports")
}
