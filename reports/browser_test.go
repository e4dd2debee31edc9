package reports

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/internal/browser"
)

// RenderInChromium renders the report.html of r in headless Chromium and
// checks what a person would see: no console error, and every chart drawn.
// It returns the charts; the screenshot is kept under the test's output.
// Without Chromium it skips, except in CI, where it fails.
func renderInChromium(t *testing.T, r *harness.Record) []browser.Chart {
	t.Helper()
	if _, err := browser.Path(); errors.Is(err, browser.ErrNoChromium) {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set and Chromium is missing: .ci/run installs it")
		}
		t.Skip(err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	f, err := os.Create(page)
	require.NoError(t, err)
	require.NoError(t, HTML(f, r))
	require.NoError(t, f.Close())
	charts, shown, err := browser.Charts(context.Background(), "file://"+page)
	require.NoError(t, err)
	// Kept under the test's output with go test -artifacts (make test
	// keeps them in out/test-artifacts).
	shot := filepath.Join(t.ArtifactDir(), "report.png")
	require.NoError(t, os.WriteFile(shot, shown.Screenshot, 0o644))
	t.Logf("screenshot: %s", shot)
	assert.Empty(t, shown.Console, "the report writes nothing to the console")
	require.Len(t, charts, 4, "load, latency, violations and fault lanes")
	for _, c := range charts {
		assert.Greater(t, c.Width, 300.0, "chart %s is laid out", c.ID)
		assert.Greater(t, c.Height, 30.0, "chart %s is laid out", c.ID)
		if c.ID != "faults" {
			assert.Positive(t, c.Series, "chart %s drew a line", c.ID)
		}
	}
	return charts
}

// TestReportInChromium: the failing and the passing report render in a real
// browser, every chart drawn, each fault in a lane of its own, the first
// leak marked on every chart of a failing run and on none of a passing one.
func TestReportInChromium(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *harness.Record
		leak int
	}{{"fail", failedRecord(), 1}, {"pass", passedRecord(), 0}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, c := range renderInChromium(t, tc.r) {
				assert.Equal(t, tc.leak, c.Leak, "first-leak marks on chart %s", c.ID)
				if c.ID == "faults" {
					assert.Equal(t, len(tc.r.Faults), c.Lanes, "one lane per fault")
				}
			}
		})
	}
}
