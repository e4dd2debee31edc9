package harness

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoryGrowthAndSlope: the growth is judged from the warm-up (five
// minutes in) to the end, and the slope over every sample from there; a
// flat run has neither, a growing one both.
func TestMemoryGrowthAndSlope(t *testing.T) {
	series := func(rss func(t float64) float64) []MemorySample {
		var s []MemorySample
		for t := 0.0; t <= 1200; t += 10 {
			s = append(s, MemorySample{T: t, RSSMB: rss(t)})
		}
		return s
	}
	// Warming up for five minutes, then flat.
	flat := series(func(t float64) float64 { return 40 + min(t, 300)/10 })
	from, to, g, ok := MemoryGrowth(flat)
	require.True(t, ok)
	assert.Equal(t, 300.0, from.T)
	assert.Equal(t, 1200.0, to.T)
	assert.InDelta(t, 0, g, 1e-9)
	slope, ok := MemorySlope(flat)
	require.True(t, ok)
	assert.InDelta(t, 0, slope, 1e-6)

	// 10 MB an hour after the warm-up.
	leak := series(func(t float64) float64 { return 70 + t*10/3600 })
	_, _, g, _ = MemoryGrowth(leak)
	assert.InDelta(t, 2.5/(70+300*10/3600.0), g, 1e-3)
	slope, _ = MemorySlope(leak)
	assert.InDelta(t, 10, slope, 1e-6)

	_, _, _, ok = MemoryGrowth(flat[:2])
	assert.False(t, ok, "too short to tell")
}
