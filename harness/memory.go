package harness

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// MemorySample is the harness process's memory at a moment of the run:
// the Go heap in use and the resident set (which, on the embedded target,
// includes the portal stack in the same process).
type MemorySample struct {
	T      float64 `json:"t"`
	HeapMB float64 `json:"heap_mb"`
	RSSMB  float64 `json:"rss_mb"`
}

// memoryEvery is how often a run samples its memory.
const memoryEvery = 10 * time.Second

// sampleMemory appends a sample every memoryEvery until stop is closed,
// and one at the end; out is read once it returns.
func sampleMemory(stop <-chan struct{}, start time.Time, out *[]MemorySample, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(memoryEvery)
	defer tick.Stop()
	take := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		*out = append(*out, MemorySample{T: time.Since(start).Seconds(), HeapMB: float64(m.HeapInuse) / (1 << 20), RSSMB: rssMB()})
	}
	take()
	for {
		select {
		case <-stop:
			take()
			return
		case <-tick.C:
			take()
		}
	}
}

// rssMB reads the resident set size from /proc (Linux); 0 elsewhere.
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return 0
	}
	return pages * float64(os.Getpagesize()) / (1 << 20)
}

// MemoryGrowth compares the resident set at the end of the run with the
// one after its warm-up (the first sample from five minutes in, or from a
// quarter of a shorter run): the figure a soak is judged on. ok is false
// when the run is too short to tell.
func MemoryGrowth(samples []MemorySample) (from, to MemorySample, growth float64, ok bool) {
	if len(samples) < 3 {
		return
	}
	end := samples[len(samples)-1]
	warm := min(300, end.T/4)
	for _, s := range samples {
		if s.T >= warm {
			from = s
			break
		}
	}
	if from.RSSMB == 0 || end.T-from.T < memoryEvery.Seconds() {
		return
	}
	return from, end, (end.RSSMB - from.RSSMB) / from.RSSMB, true
}
