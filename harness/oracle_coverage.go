package harness

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// The coverage oracle proves that the other oracles could see: a portal
// whose pages carry no canary the scanner can read (masked values, a
// format it does not know, a body it never sees) would pass while it
// leaks. For every step, it counts the 2xx responses a logged-in user was
// served and how many showed the viewer's own values, by field; a step
// below its floor (expect_own) fails the gate. Per fault window, it counts
// the authenticated responses scanned: a fault during which no
// authenticated page was read proved nothing.

// coverage counts one step's pages.
type coverage struct {
	pages, withOwn atomic.Uint64
	byField        [8]atomic.Uint64
}

// noteCoverage counts x's page for its step, own being the fields of the
// viewer found on it.
func (e *engine) noteCoverage(x *exchange, own uint8) {
	if int(x.kind) >= len(e.cov) || e.expectOwn[x.kind] == 0 || x.status() < 200 || x.status() > 299 {
		return
	}
	c := &e.cov[x.kind]
	c.pages.Add(1)
	if own == 0 {
		return
	}
	c.withOwn.Add(1)
	for f := range c.byField {
		if own&(1<<f) != 0 {
			c.byField[f].Add(1)
		}
	}
}

// coverageOf fills the steps' coverage figures and returns why the gate
// fails on them, or "".
func (e *engine) coverageOf(steps []StepStats) string {
	byName := map[string]*StepStats{}
	for i := range steps {
		byName[steps[i].Step] = &steps[i]
	}
	var blind []string
	for k := range e.cov {
		c, floor := &e.cov[k], e.expectOwn[k]
		s := byName[e.kinds[k]]
		if s == nil || floor == 0 {
			continue
		}
		s.ExpectOwn = floor
		s.OwnPages, s.WithOwn = c.pages.Load(), c.withOwn.Load()
		if s.OwnPages == 0 {
			continue
		}
		s.OwnShare = float64(s.WithOwn) / float64(s.OwnPages)
		s.OwnByField = map[string]uint64{}
		for _, f := range population.Fields {
			s.OwnByField[f.String()] = c.byField[f].Load()
		}
		if s.OwnShare < floor {
			blind = append(blind, fmt.Sprintf("%s (%d of %d pages, floor %.0f%%)", s.Step, s.WithOwn, s.OwnPages, floor*100))
		}
	}
	if len(blind) == 0 {
		return ""
	}
	sort.Strings(blind)
	return "the oracle could not see the pages: too few of them showed the viewer's own values, so a leak there would go unseen: " +
		strings.Join(blind, ", ") + " (masked values or an unknown format? set expect_own: 0 on a step that shows no personal data)"
}

// preflightCoverage says why the preflight user's journey proves the
// oracle blind: a step that expects its own values served it pages, and
// none showed any.
func (e *engine) preflightCoverage() string {
	for k := range e.cov {
		c := &e.cov[k]
		if e.expectOwn[k] > 0 && c.pages.Load() > 0 && c.withOwn.Load() == 0 {
			return fmt.Sprintf("preflight: the pages of step %s show none of the user's own values "+
				"(NIR, IBAN, e-mail, phone, beneficiary number): the oracle cannot read this portal's pages, and a leak would pass unseen; "+
				"see Coverage in the README, or set expect_own: 0 on a step that shows no personal data", e.kinds[k])
		}
	}
	return ""
}

// blindFaults returns the faults during which no authenticated response
// was scanned, from the per-second timeline.
func blindFaults(faults []FaultEvent, timeline []second, logins bool) []string {
	if !logins {
		return nil
	}
	var out []string
	for _, f := range faults {
		if f.Error != "" {
			continue // a fault that was not applied is reported as such
		}
		from := int(math.Floor(f.StartS))
		to := max(int(math.Ceil(f.EndS)), from+1)
		n := uint64(0)
		for s := from; s < to && s < len(timeline); s++ {
			n += timeline[s].Authed
		}
		if n == 0 {
			out = append(out, fmt.Sprintf("%s (%.1f–%.1f s)", f.Name, f.StartS, f.EndS))
		}
	}
	return out
}
