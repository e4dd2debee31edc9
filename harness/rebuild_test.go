package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRebuild: the report of a killed run is rebuilt from its start record,
// results.jsonl and the evidence; a last line cut by the kill is skipped
// and said so, a fault active at the kill is named, one never applied is
// left out; a malformed line is bad input naming the file and line.
func TestRebuild(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "evidence"), 0o755))
	start := Record{Scenario: "caf-2021", Seed: 7, Target: "embedded", Users: 100, ViolationsByOracle: map[string]uint64{},
		Faults: []FaultEvent{{Name: "edge-reload(rules=cache-dynamic)", Type: "edge-reload", StartS: 1, EndS: 20},
			{Name: "service-kill(replica-2)", Type: "service-kill", StartS: 30, EndS: 40}}}
	b, err := json.Marshal(start)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, RunStartFile), b, 0o644))
	results := `{"seq":1,"t":0.5,"user":1,"step":"login","method":"POST","path":"/login","code":303,"lat_ms":1.5,"bytes":10,"login":true}
{"seq":2,"t":1.5,"user":2,"step":"dossier","method":"GET","path":"/dossier","code":200,"lat_ms":2.5,"bytes":900}
{"seq":3,"t":2.25,"user":3,"step":"dossier","method":"GET","path":"/dossier","code":502,"lat_ms":9,"bytes":0}
{"seq":4,"t":2.5,"user":4,"st`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "results.jsonl"), []byte(results), 0o644))
	violation := `{"oracle":"isolation","seq":2,"at_s":1.5,"viewer":2,"owner":1,"field":"nir","value":"x","where":"body","request":"dossier","faults":["edge-reload(rules=cache-dynamic)"],"seed":7}` + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "evidence", "violations.jsonl"), []byte(violation), 0o644))

	r, err := Rebuild(dir)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), r.Requests, "the cut line is not counted")
	assert.Equal(t, Logins{Attempted: 1, Succeeded: 1}, r.Logins)
	assert.Equal(t, uint64(1), r.Errors)
	assert.Equal(t, uint64(1), r.Violations)
	assert.Equal(t, 1, r.Victims)
	assert.Equal(t, VerdictFail, r.Verdict)
	assert.True(t, r.Interrupted)
	require.Len(t, r.Faults, 1, "the fault planned after the kill never ran")
	assert.Equal(t, 2.25, r.Faults[0].EndS)
	assert.Contains(t, r.Faults[0].Error, "possibly not healed")
	assert.Len(t, r.Steps, 2)
	assert.Contains(t, r.Notes[0], "last line was cut")
	require.Len(t, r.Timeline, 3)
	assert.Equal(t, uint64(1), r.Timeline[1].Violations["isolation"])

	require.NoError(t, os.WriteFile(filepath.Join(dir, "results.jsonl"), []byte("{\"seq\":1}\nnot json\n"), 0o644))
	_, err = Rebuild(dir)
	require.Error(t, err)
	assert.Equal(t, ClassBadInput, ClassOf(err))
	assert.Contains(t, err.Error(), "results.jsonl:2")

	_, err = Rebuild(t.TempDir())
	assert.ErrorContains(t, err, "not the output directory of a crosstalk run")
}
