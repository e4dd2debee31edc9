package reports

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/canary"
	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func ptr[T any](v T) *T { return &v }

// failedRecord is a seeded record of a run that caught a leak.
func failedRecord() *harness.Record {
	v := evidence.Violation{
		Oracle: harness.OracleIsolation, Seq: 681, AtS: 2.31, Viewer: 108, Owner: 107, Field: "nir",
		Value: "1 55 08 57 026 714 73", Where: "body", Request: "GET /dossier", Status: 200,
		Replica: "r2", Cache: "HIT", Excerpt: "<dd>»1 55 08 57 026 714 73«</dd>",
		Faults: []string{"edge-reload(rules=cache-dynamic)"}, Seed: 20211010,
	}
	w := evidence.Violation{Oracle: harness.OracleWrites, Seq: 0, Viewer: 3, Owner: 2, Field: "iban",
		Value: "FR7630004000031234567890143", Where: "stored account", Request: "audit",
		Detail: "user 2's account holds the IBAN that user 3 wrote (generation 4)", Faults: []string{}, Seed: 20211010}
	return &harness.Record{
		Verdict: harness.VerdictFail, Reason: "3716 responses broke isolation", Scenario: "caf-2021",
		Description: "mass first logins", Incident: "caf-2021", Seed: 20211010, Target: "embedded",
		Defects: []string{"migration-cache-headers"}, Users: 20000, TargetStartS: 6.2,
		StartedAt: time.Date(2021, 10, 10, 21, 0, 0, 0, time.UTC),
		Requests:  11250, DurationS: 15, ThroughputRPS: 750,
		LatencyMS:  harness.Latency{P50: 0.26, P90: 0.48, P99: 0.98, Max: 11.2},
		Logins:     harness.Logins{Attempted: 1811, Succeeded: 1811},
		Violations: 3716, ViolationsByOracle: map[string]uint64{"isolation": 3635, "session": 0, "writes": 1, "fail-closed": 80},
		Victims: 19, Viewers: 1593, FirstViolationAfterRequests: ptr(uint64(681)), FirstViolationAfterS: ptr(2.31),
		FirstViolation: &v, Examples: []evidence.Violation{v, w},
		Faults: []harness.FaultEvent{{Name: "edge-reload(rules=cache-dynamic)", Type: "edge-reload", StartS: 2.25, EndS: 12.75},
			{Name: "service-kill(replica-2)", Type: "service-kill", StartS: 1, EndS: 3}},
		ViolationsBy: map[string]map[string]uint64{"replica": {"r2": 3000, "r1": 635, "none": 81}, "cache": {"HIT": 3635, "none": 81},
			"step": {"GET /dossier": 3635, "audit": 1, "anonymous-probe": 80}, "field": {"nir": 3635, "iban": 81}},
		ViewerOwner: []harness.ViewerOwner{{Viewer: 108, Owner: 107, Violations: 40}, {Viewer: -1, Owner: 107, Violations: 2}},
		Replay:      "crosstalk run scenarios/caf-2021.yaml --target embedded --seed 20211010 --users 20000 --duration 15s --rate 600 --defects migration-cache-headers",
		Workers:     1,
		Canaries: []canary.FieldBound{
			{Field: "nir", FalseMatch: 8.96e-8, RandomRun: 2.1e-11, Mode: canary.ModeAlone, Nobody: 12, ExpectedFalse: 1.1e-6},
			{Field: "phone", FalseMatch: 1e-4, RandomRun: 2e-6, Mode: canary.ModeAlone},
		},
		Thresholds: []harness.ThresholdResult{{Name: "p99_ms", Limit: 1500, Value: 0.98, Pass: true}, {Name: "login_success", Limit: 0.98, Value: 1, Pass: true}},
		Steps: []harness.StepStats{{Step: "dossier", Requests: 2000, LatencyMS: harness.Latency{P50: 0.3, P90: 0.5, P99: 1, Max: 4},
			ExpectOwn: 0.5, OwnPages: 1990, WithOwn: 1990, OwnShare: 1, OwnByField: map[string]uint64{"nir": 1990}}},
		Timeline: []harness.TimelinePoint{{T: 0, Requests: 300, P50: 0.2, P90: 0.4, P99: 0.9}, {T: 1, Requests: 300, P50: 0.3, P90: 0.5, P99: 1.1},
			{T: 2, Requests: 1200, Errors: 3, P50: 0.3, P90: 0.6, P99: 2, Violations: map[string]uint64{"isolation": 120, "fail-closed": 4}}},
	}
}

func passedRecord() *harness.Record {
	r := failedRecord()
	r.Verdict, r.Reason, r.Defects = harness.VerdictPass, "", nil
	r.Violations, r.Victims, r.Viewers = 0, 0, 0
	r.ViolationsByOracle = map[string]uint64{"isolation": 0, "session": 0, "writes": 0, "fail-closed": 0}
	r.FirstViolation, r.FirstViolationAfterRequests, r.FirstViolationAfterS, r.Examples = nil, nil, nil, nil
	r.ViolationsBy, r.ViewerOwner = nil, nil
	for i := range r.Timeline {
		r.Timeline[i].Violations = nil
	}
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./reports -update to create %s", path)
	assert.Equal(t, string(want), string(got), "%s differs; run go test ./reports -update if the change is intended", path)
}

func TestGolden(t *testing.T) {
	for _, rec := range []struct {
		name string
		r    *harness.Record
	}{{"fail", failedRecord()}, {"pass", passedRecord()}} {
		for _, f := range Files {
			t.Run(rec.name+"/"+f.Name, func(t *testing.T) {
				var b bytes.Buffer
				require.NoError(t, f.Render(&b, rec.r))
				golden(t, rec.name+"."+f.Name, b.Bytes())
			})
		}
	}
}

func TestSummarySaysWhatLeaked(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, Summary(&b, failedRecord()))
	s := b.String()
	for _, want := range []string{
		"FAIL: 3,716 violations",
		"19 victims", "1,593 viewers",
		"first after 681 requests (2.3 s into the run), while edge-reload(rules=cache-dynamic) was active",
		"user #108 asked GET /dossier and received the NIR of user #107, served by replica r2 from the edge cache",
		"in production ~7,000 files over ~11 hours; here caught after 681 requests",
	} {
		assert.Contains(t, s, want)
	}
	b.Reset()
	require.NoError(t, Summary(&b, passedRecord()))
	assert.Contains(t, b.String(), "PASS: no user received another user's data in 11,250 responses")
	assert.NotContains(t, b.String(), "workers", "a run on one machine has no workers line")

	// A run on three workers, one of which died: the line says so, and
	// the first violation is counted over the whole run, not in a shard.
	r := failedRecord()
	spread := 2.5
	r.Workers, r.StartSpreadMS = 3, &spread
	r.Generators = []harness.GeneratorRecord{{Shard: 0, Users: [2]int{0, 6666}, Requests: 4000},
		{Shard: 1, Users: [2]int{6666, 13333}, Requests: 1200, Error: "died (signal: killed) before sending its result"},
		{Shard: 2, Users: [2]int{13333, 20000}, Requests: 4100}}
	r.FirstViolation.Seq = 12
	b.Reset()
	require.NoError(t, Summary(&b, r))
	assert.Contains(t, b.String(), "workers     3 load generators, one merged verdict; their starts spread over 2.5 ms")
	assert.Contains(t, b.String(), "worker 1    users 6,666 to 13,332: 1,200 requests, then died (signal: killed)")
	assert.Contains(t, b.String(), "first after 681 requests")
}

func TestWriteAll(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, WriteAll(dir, failedRecord()))
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	var r map[string]any
	require.NoError(t, json.Unmarshal(b, &r))
	assert.Equal(t, "fail", r["verdict"])
	ev, err := os.ReadFile(filepath.Join(dir, "evidence", "violation-002.txt"))
	require.NoError(t, err)
	assert.Contains(t, string(ev), "holds the IBAN that user 3 wrote")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		assert.NotContains(t, e.Name(), ".report", "no temporary file is left behind")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestRenderersReturnWriteErrors(t *testing.T) {
	for _, f := range Files {
		assert.Error(t, f.Render(failingWriter{}, failedRecord()), f.Name)
	}
}

// TestChartsOfADaySoak: a 24-hour timeline is drawn with at most maxPoints
// points per line, and the page stays small; the counts are not touched.
func TestChartsOfADaySoak(t *testing.T) {
	r := passedRecord()
	r.DurationS = 86400
	r.Timeline = make([]harness.TimelinePoint, 86400)
	for i := range r.Timeline {
		r.Timeline[i] = harness.TimelinePoint{T: i, Requests: 150 + uint64(i%7), P50: 1, P90: 2, P99: 3}
	}
	r.Timeline[50_000].P99 = 900 // one bad second stays visible: a point is its worst second
	var b bytes.Buffer
	require.NoError(t, HTML(&b, r))
	assert.Less(t, b.Len(), 1<<20, "a day's report is under a megabyte")
	for _, m := range regexp.MustCompile(`<polyline class="series"[^>]*points="([^"]*)"`).FindAllStringSubmatch(b.String(), -1) {
		assert.LessOrEqual(t, len(strings.Fields(m[1])), maxPoints)
	}
	assert.Contains(t, b.String(), "averaged over 96 s")
	assert.Contains(t, b.String(), ">1k<", "the latency axis reaches the bad second's 900 ms")
	assert.Equal(t, 86400, len(r.Timeline), "drawing does not touch the record")
}
