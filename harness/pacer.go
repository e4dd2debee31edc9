package harness

import (
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
}

// segment is a span of the run whose rate goes linearly from r0 to r1.
type segment struct {
	from, to time.Duration
	r0, r1   float64 // requests per second
}

var _ vegeta.Pacer = (*profilePacer)(nil)

func newProfilePacer(r RateProfile, total time.Duration, maxRequests uint64) *profilePacer {
	p := &profilePacer{end: total, max: maxRequests}
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

// Pace implements vegeta.Pacer.
func (p *profilePacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.max > 0 && hits >= p.max {
		return 0, true
	}
	target := float64(hits + 1)
	if p.hits(elapsed) >= target {
		return 0, false
	}
	if p.hits(p.end) < target {
		return max(p.end-elapsed, 0) + time.Millisecond, false
	}
	// Binary search for the moment the profile reaches the next hit.
	lo, hi := elapsed, p.end
	for hi-lo > time.Microsecond {
		mid := lo + (hi-lo)/2
		if p.hits(mid) >= target {
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
