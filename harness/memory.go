package harness

import (
	"os"
	"runtime"
	"runtime/debug"
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
	// LiveMB is the heap that survived a collection; StacksMB the
	// goroutines' stacks; Goroutines how many there were.
	LiveMB     float64 `json:"live_mb"`
	StacksMB   float64 `json:"stacks_mb"`
	Goroutines int     `json:"goroutines"`
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
		// Collect and hand freed pages back to the OS first: the resident
		// set then measures what the process holds, not the high-water
		// mark of its heap between two collections. A collection of a few
		// tens of MB every 10 s costs the load nothing it could measure.
		debug.FreeOSMemory()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mb := func(b uint64) float64 { return float64(b) / (1 << 20) }
		*out = append(*out, MemorySample{T: time.Since(start).Seconds(), HeapMB: mb(m.HeapInuse), RSSMB: rssMB(),
			LiveMB: mb(m.HeapAlloc), StacksMB: mb(m.StackInuse), Goroutines: runtime.NumGoroutine()})
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

// MemorySlope is the resident set's growth in MB per hour after the
// warm-up (as MemoryGrowth chooses it), by least squares over every sample
// from there: a step or a spike moves it less than it moves two samples.
func MemorySlope(samples []MemorySample) (mbPerHour float64, ok bool) {
	from, _, _, ok := MemoryGrowth(samples)
	if !ok {
		return 0, false
	}
	var n, st, sr, stt, str float64
	for _, s := range samples {
		if s.T < from.T {
			continue
		}
		n++
		st, sr, stt, str = st+s.T, sr+s.RSSMB, stt+s.T*s.T, str+s.T*s.RSSMB
	}
	den := n*stt - st*st
	if n < 3 || den == 0 {
		return 0, false
	}
	return (n*str - st*sr) / den * 3600, true
}
