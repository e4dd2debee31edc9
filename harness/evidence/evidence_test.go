package evidence

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEachViolationReachesTheFileAtOnce: a violation is in the evidence
// file as soon as it is recorded, before Close: a harness killed mid-soak
// loses none.
func TestEachViolationReachesTheFileAtOnce(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "violations.jsonl"))
	require.NoError(t, err)
	defer f.Close()
	r := NewRecorder(10, f, 5, []string{"isolation"})
	r.Add(Violation{Oracle: "isolation", Seq: 7, Viewer: 1, Owner: 2, Field: "nir"})
	b, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	assert.Contains(t, string(b), `"seq":7`)
	sum, err := r.Close()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), sum.Total)
	assert.Equal(t, 1, sum.Victims)
}
