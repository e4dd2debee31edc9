package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/internal/dockertest"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
)

func readMatrix(t *testing.T, dir string) harness.Matrix {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "matrix.json"))
	require.NoError(t, err)
	var m harness.Matrix
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// TestMatrixQuick is the reduced detection matrix: every defect under its
// trigger and under no fault, the correct portal under every fault.
func TestMatrixQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the reduced matrix")
	}
	dockertest.Exclusive(t)
	dir := t.TempDir()
	code, out, errOut := crosstalk(t, "matrix", "--quick", "--duration", "4s", "--out", dir)
	require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	m := readMatrix(t, dir)
	assert.True(t, m.Pass)
	assert.Empty(t, m.Missed)
	assert.Empty(t, m.FalsePositives)
	for _, d := range matrixDefects() {
		c, ok := m.Cell(d.Name, harness.NoFault)
		require.True(t, ok)
		assert.False(t, c.Detected, "%s must stay latent without its trigger", d.Name)
	}
	for _, f := range m.Columns {
		c, ok := m.Cell(harness.NoDefect, f)
		require.True(t, ok, "the correct portal runs under %s", f)
		assert.False(t, c.Detected, "the correct portal was flagged under %s", f)
		assert.Greater(t, c.Requests, uint64(0))
	}
	caught := 0
	for _, c := range m.Cells {
		if c.Detected {
			caught++
			require.NotNil(t, c.FirstViolationAfterRequests)
			assert.Greater(t, c.Victims, 0)
		}
	}
	assert.Equal(t, len(matrixDefects()), caught, "each defect caught under its trigger")
	assert.Contains(t, out, "PASS:")
}

// TestMatrixCanFail switches a defect's trigger off: its row must report
// "not detected" and the matrix must fail.
func TestMatrixCanFail(t *testing.T) {
	dir := t.TempDir()
	code, out, _ := crosstalk(t, "matrix", "--defect", portal.DefectRequestStateReuse, "--fault", "none", "--duration", "2s", "--out", dir)
	assert.Equal(t, exitFail, code)
	m := readMatrix(t, dir)
	assert.False(t, m.Pass)
	assert.Equal(t, []string{portal.DefectRequestStateReuse}, m.Missed)
	assert.Contains(t, out, "not detected")
	assert.Contains(t, out, "FAIL: missed "+portal.DefectRequestStateReuse)
}

func TestMatrixBadInput(t *testing.T) {
	code, _, errOut := crosstalk(t, "matrix", "--fault", "meteor", "--out", t.TempDir())
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, `unknown fault (known: none, edge-purge`)
	code, _, errOut = crosstalk(t, "matrix", "--defect", "nope", "--out", t.TempDir())
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "unknown defect")
}
