package harness

import (
	"testing"

	"github.com/crosstalk-dev/crosstalk/harness/canary"
	"github.com/crosstalk-dev/crosstalk/harness/content"
	"github.com/crosstalk-dev/crosstalk/harness/population"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The oracle's own table of encodings, in make test: every cell caught or
// documented as out of reach, and no page of the viewer's own flagged.
func TestOracleSelfTest(t *testing.T) {
	tbl, err := OracleSelfTest(t.Context())
	require.NoError(t, err)
	for _, c := range tbl.Cells {
		switch c.Transform {
		case "masked":
			assert.Equal(t, CellOutOfReach, c.State, "%s masked", c.Field)
		default:
			assert.Contains(t, []string{CellCaught, CellNA}, c.State, "%s under %s", c.Field, c.Transform)
		}
	}
	assert.True(t, tbl.Pass)
	for _, tr := range []string{"gzip", "deflate", "br", "zstd", "chunked", "Location", "cookie", "json \\u", "inline tags", "line break"} {
		assert.Equal(t, CellCaught, tbl.Cell("nir", tr).State, "nir under %s", tr)
	}
	assert.Equal(t, CellCaught, tbl.Cell("email", "cookie").State, "an escaped @ in a cookie")
	assert.Equal(t, CellNA, tbl.Cell("email", "spaces").State)
}

// The self-test can fail: with the decoder gone, compressed pages hide
// their values and the table says so.
func TestOracleSelfTestCanFail(t *testing.T) {
	old := selfTestNoDecode
	selfTestNoDecode = true
	defer func() { selfTestNoDecode = old }()
	tbl, err := OracleSelfTest(t.Context())
	require.NoError(t, err)
	assert.False(t, tbl.Pass)
	assert.Equal(t, CellMissed, tbl.Cell("nir", "gzip").State)
	assert.Equal(t, CellCaught, tbl.Cell("nir", "plain").State)
}

// BenchmarkScanGzipPage is the oracle's cost on a compressed page: decode
// (gzip) and scan, per byte of the decoded page, beside BenchmarkScan's
// plain pages in harness/canary.
func BenchmarkScanGzipPage(b *testing.B) {
	pop, err := population.New(2021, 50_000, population.DefaultMix)
	require.NoError(b, err)
	page := selfTestPage(pop, 123, "")
	for len(page) < 16<<10 {
		page = append(page, selfTestPage(pop, 123, "")...)
	}
	page = page[:16<<10]
	wire, err := content.Encode("gzip", page)
	require.NoError(b, err)
	d := content.New(0)
	s := canary.NewScanner(pop)
	buf, ms := make([]byte, 0, 32<<10), make([]canary.Match, 0, 16)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		buf, err = d.Decode(buf[:0], []string{"gzip"}, wire)
		if err != nil {
			b.Fatal(err)
		}
		ms = s.Scan(ms[:0], buf)
	}
	b.ReportMetric(float64(len(page))/float64(len(wire)), "ratio")
}
