package harness

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness/population"
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

// BenchmarkShardMemory is what one of four generators holds for a
// population of 20,000 users and for the CAF incident's 13.6 million, once
// its engine is built and its shard's users have begun: the population
// decodes without a table and actors are allocated by the page as users
// are reached, so the two differ by the recorder's two bitsets of the
// population (1.7 MB each at 13.6 M), not by anything per user.
func BenchmarkShardMemory(b *testing.B) {
	heap := func() float64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapAlloc) / (1 << 20)
	}
	held := map[int]float64{}
	for b.Loop() {
		for _, users := range []int{20_000, 13_600_000} {
			before := heap()
			pop, err := population.New(1, users, population.DefaultMix)
			require.NoError(b, err)
			plans, errs := compileFlows([]Flow{apiFlow()}, nil)
			require.Empty(b, errs)
			from, to := Shard{Index: 3, Count: 4}.Range(users)
			e := newEngine(engineConfig{pop: pop, flows: plans, shard: [2]int{from, to}})
			for i := from; i < from+5_000; i++ { // the users a short run reaches
				e.users.get(i)
			}
			held[users] = heap() - before
			runtime.KeepAlive(e)
		}
	}
	b.ReportMetric(held[20_000], "MB-20k-users")
	b.ReportMetric(held[13_600_000], "MB-13.6M-users")
	b.ReportMetric(held[13_600_000]/held[20_000], "ratio")
}
