package harness

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// stats keeps latency in HDR histograms, one per kind of request and one for
// all, and a per-second timeline. It is safe for concurrent use.
type stats struct {
	mu       sync.Mutex
	all      *hdrhistogram.Histogram
	perKind  []*hdrhistogram.Histogram // by kind, created on first use
	errs     []uint64
	timeline []second
	// cur holds the latencies of second curSec, until a later one starts:
	// its percentiles are kept in the timeline, the histogram reused, so a
	// day-long soak keeps a few numbers per second, not a histogram.
	cur    *hdrhistogram.Histogram
	curSec int
	// closed, if set, is given each second's latencies as it closes (a
	// generator streams them to its coordinator).
	closed func(sec int, h *hdrhistogram.Histogram)
	// merged holds, on a coordinator, the latencies of the seconds some
	// generator has not closed yet; live all of them, for the progress.
	merged map[int]*hdrhistogram.Histogram
	live   *hdrhistogram.Histogram
}

type second struct {
	Requests uint64
	Errors   uint64
	Authed   uint64 // responses to logged-in users, scanned
	// Latency percentiles of the responses that came in this second, in
	// milliseconds.
	P50, P90, P99 float32
}

// Latencies are recorded in microseconds, from 1 µs to 5 minutes, with three
// significant digits.
const (
	histMin = 1
	histMax = int64(5 * time.Minute / time.Microsecond)
)

func newStats() *stats {
	return &stats{all: hdrhistogram.New(histMin, histMax, 3), cur: hdrhistogram.New(histMin, histMax, 2)}
}

// kinds sizes the per-kind statistics for n kinds of request, keeping
// those of the kinds it had.
func (s *stats) kinds(n int) {
	for len(s.perKind) < n {
		s.perKind, s.errs = append(s.perKind, nil), append(s.errs, 0)
	}
}

func (s *stats) observe(k kind, at, lat time.Duration, failed, authed bool) {
	us := max(int64(lat/time.Microsecond), histMin)
	us = min(us, histMax)
	sec := min(max(int(at/time.Second), 0), int(MaxDuration/time.Second))
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.all.RecordValue(us)
	if s.perKind[k] == nil {
		s.perKind[k] = hdrhistogram.New(histMin, histMax, 3)
	}
	_ = s.perKind[k].RecordValue(us)
	for len(s.timeline) <= sec {
		s.timeline = append(s.timeline, second{})
	}
	if sec > s.curSec {
		s.closeSecond()
		s.curSec = sec
	}
	_ = s.cur.RecordValue(us)
	s.timeline[sec].Requests++
	if authed {
		s.timeline[sec].Authed++
	}
	if failed {
		s.errs[k]++
		s.timeline[sec].Errors++
	}
}

// closeSecond keeps the percentiles of the current second. A response that
// started in an earlier second but came in late counts in the current one.
func (s *stats) closeSecond() {
	if s.cur.TotalCount() == 0 || s.curSec >= len(s.timeline) {
		return
	}
	if s.closed != nil {
		s.closed(s.curSec, s.cur)
	}
	s.timeline[s.curSec].percentiles(s.cur)
	s.cur.Reset()
}

// percentiles keeps h's percentiles as the second's.
func (t *second) percentiles(h *hdrhistogram.Histogram) {
	ms := func(q float64) float32 { return float32(h.ValueAtQuantile(q)) / 1000 }
	t.P50, t.P90, t.P99 = ms(50), ms(90), ms(99)
}

// p99 returns the 99th percentile of all latencies so far.
func (s *stats) p99() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.all
	if h.TotalCount() == 0 && s.live != nil {
		h = s.live
	}
	return time.Duration(h.ValueAtQuantile(99)) * time.Microsecond
}

// Latency is a latency summary in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// StepStats summarises one kind of request.
type StepStats struct {
	Step      string  `json:"step"`
	Requests  int64   `json:"requests"`
	Errors    uint64  `json:"errors"`
	LatencyMS Latency `json:"latency_ms"`
	// Coverage, for a step whose pages must show the viewer's own values:
	// its floor, its 2xx pages, how many showed an own value, by field.
	ExpectOwn  float64           `json:"expect_own,omitempty"`
	OwnPages   uint64            `json:"own_pages,omitempty"`
	WithOwn    uint64            `json:"with_own,omitempty"`
	OwnShare   float64           `json:"own_share,omitempty"`
	OwnByField map[string]uint64 `json:"own_by_field,omitempty"`
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	ms := func(v int64) float64 { return float64(v) / 1000 }
	return Latency{P50: ms(h.ValueAtQuantile(50)), P90: ms(h.ValueAtQuantile(90)),
		P99: ms(h.ValueAtQuantile(99)), Max: ms(h.Max())}
}

func (s *stats) summary(names []string) (all Latency, errors uint64, steps []StepStats, timeline []second) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeSecond()
	for k, h := range s.perKind {
		errors += s.errs[k]
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		steps = append(steps, StepStats{Step: names[k], Requests: h.TotalCount(), Errors: s.errs[k], LatencyMS: latencyOf(h)})
	}
	return latencyOf(s.all), errors, steps, append([]second(nil), s.timeline...)
}
