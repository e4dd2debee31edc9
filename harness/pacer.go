package harness

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// profilePacer is a vegeta.Pacer for a piecewise-linear rate profile, bounded
// in count. vegeta ships constant, linear and sine pacers but none made of
// segments, which a spike (base, then peak, then base again) needs.
type profilePacer struct {
	segs []segment
	end  time.Duration
	max  uint64

	factor atomic.Uint64 // float64 bits: the load-spike multiplier, 1 normally

	mu       sync.Mutex
	last     time.Duration
	expected float64 // requests due by last, the multiplier applied

	// stop, when closed, ends a long wait at once: vegeta sleeps the wait
	// Pace returns without looking at its own stop, so a long one (a rate
	// of zero until the spike) is waited here instead.
	stop <-chan struct{}
}

// longWait is the wait above which Pace waits itself, interruptibly.
const longWait = 50 * time.Millisecond

// segment is a span of the run whose rate goes linearly from r0 to r1.
type segment struct {
	from, to time.Duration
	r0, r1   float64 // requests per second
}

var _ vegeta.Pacer = (*profilePacer)(nil)

func newProfilePacer(r RateProfile, total time.Duration, maxRequests uint64) *profilePacer {
	p := &profilePacer{end: total, max: maxRequests}
	p.setFactor(1)
	switch r.Profile {
	case "constant":
		p.segs = []segment{{0, total, r.Rate, r.Rate}}
	case "ramp":
		p.segs = []segment{{0, total, r.From, r.To}}
	case "spike":
		at := min(r.At.Resolve(total), total)
		until := min(at+r.For.Resolve(total), total)
		p.segs = []segment{{0, at, r.Base, r.Base}, {at, until, r.Peak, r.Peak}, {until, total, r.Base, r.Base}}
	}
	return p
}

// hits returns the number of requests the profile expects by time t.
func (p *profilePacer) hits(t time.Duration) float64 {
	var n float64
	for _, s := range p.segs {
		if t <= s.from {
			break
		}
		span := (min(t, s.to) - s.from).Seconds()
		total := (s.to - s.from).Seconds()
		if total <= 0 {
			continue
		}
		r := s.r0 + (s.r1-s.r0)*span/total // rate at the end of the covered part
		n += (s.r0 + r) / 2 * span
	}
	return n
}

// setFactor multiplies the profile's rate from now on (the load-spike fault).
func (p *profilePacer) setFactor(f float64) { p.factor.Store(math.Float64bits(f)) }

// Pace implements vegeta.Pacer. vegeta calls it from one goroutine, before
// each hit; it integrates the profile, times the multiplier in force, since
// the previous call.
func (p *profilePacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	wait, stop := p.pace(elapsed, hits)
	if stop || wait < longWait || p.stop == nil {
		return wait, stop
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-p.stop:
		return 0, true
	case <-t.C:
		return 0, false
	}
}

func (p *profilePacer) pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.max > 0 && hits >= p.max {
		return 0, true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	f := math.Float64frombits(p.factor.Load())
	if elapsed > p.last {
		p.expected += (p.hits(elapsed) - p.hits(p.last)) * f
		p.last = elapsed
	}
	// The next hit, the (hits+1)th, is due once the profile expects that
	// many. Comparing hits itself with the expected count sent a second hit
	// the moment the first was due (the wait below rounds up to the
	// microsecond, so the count was a hair past it): pairs of hits at half
	// the rate, and a paced journey interleaved with the next user's.
	if float64(hits)+1 <= p.expected+1e-9 {
		return 0, false
	}
	// vegeta sends a hit after every wait, so the wait must end exactly
	// when the next hit is due: search for that moment, assuming the
	// multiplier stays as it is.
	need, base := float64(hits)+1-p.expected, p.hits(elapsed)
	if (p.hits(p.end)-base)*f < need {
		return max(p.end-elapsed, 0) + time.Millisecond, false
	}
	lo, hi := elapsed, p.end
	for hi-lo > time.Microsecond {
		mid := lo + (hi-lo)/2
		if (p.hits(mid)-base)*f >= need {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi - elapsed, false
}

// Rate implements vegeta.Pacer.
func (p *profilePacer) Rate(elapsed time.Duration) float64 {
	for _, s := range p.segs {
		if elapsed >= s.from && elapsed < s.to {
			return s.r0 + (s.r1-s.r0)*float64(elapsed-s.from)/float64(s.to-s.from)
		}
	}
	return 0
}
