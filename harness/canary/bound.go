package canary

import (
	"sync/atomic"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// AloneBelow is the largest false-match probability at which a value is
// judged alone: one well-formed value that belongs to nobody decodes to a
// user of the run at most once in 10,000. A field more common than that at
// the run's size (mobile numbers above 20,000 users) counts only beside a
// value of the same owner in a field judged alone.
const AloneBelow = 1e-4

// Modes of a field.
const (
	ModeAlone        = "alone"
	ModeCorroborated = "corroborated"
)

// FieldBound is the strength of one canary field in one run: the
// probability that a value of it that belongs to nobody decodes to a user,
// how the oracle judged it, how many values of nobody it met, and the
// number of false violations that makes likely.
type FieldBound struct {
	Field string `json:"field"`
	// FalseMatch: a well-formed value (a valid-key NIR, a valid IBAN, a
	// mobile number) that belongs to nobody decodes to a user with this
	// probability.
	FalseMatch float64 `json:"p_false_match"`
	// RandomRun: the same for a random delimited run of digits of the
	// field's length (a reference, an order number).
	RandomRun float64 `json:"p_random_run"`
	Mode      string  `json:"mode"`
	// Nobody is how many well-formed values the scan met that decode to
	// no user: the page shows values that are not canaries (someone
	// else's real numbers, constants), each a chance for a false match.
	Nobody uint64 `json:"values_of_nobody"`
	// ExpectedFalse is the number of false violations to expect in this
	// run: the values of nobody met stand for Nobody/(1-p) such values in
	// all, of which a share p decoded to a user by chance. For a
	// corroborated field, a second value must decode to the same user by
	// chance too.
	ExpectedFalse float64 `json:"expected_false_violations"`
	// Uncorroborated counts this field's values of another user that were
	// not judged: no value of the same owner in a field judged alone stood
	// beside them.
	Uncorroborated uint64 `json:"uncorroborated,omitempty"`
}

// Bounds tracks the strength of the canaries over one run. It is safe for
// concurrent use.
type Bounds struct {
	size           int
	fm, rr         [8]float64
	aloneF         [8]bool
	nobody         [8]atomic.Uint64
	uncorroborated [8]atomic.Uint64
}

// NewBounds returns the bounds of pop's canaries.
func NewBounds(pop *population.Population) *Bounds {
	b := &Bounds{size: pop.Size()}
	for _, f := range population.Fields {
		b.fm[f], b.rr[f] = pop.FalseMatch(f), pop.RandomRunMatch(f)
		b.aloneF[f] = b.fm[f] <= AloneBelow
	}
	return b
}

// Alone reports whether a value of f is evidence on its own.
func (b *Bounds) Alone(f population.Field) bool { return b.aloneF[f] }

// Nobody counts a well-formed value of f that decodes to no user.
func (b *Bounds) Nobody(f population.Field) { b.nobody[f].Add(1) }

// Uncorroborated counts a value of f of another user that was not judged.
func (b *Bounds) Uncorroborated(f population.Field) { b.uncorroborated[f].Add(1) }

// Report returns the bound of every field, in population.Fields order.
func (b *Bounds) Report() []FieldBound {
	// The chance that a second value decodes to one given user by chance:
	// the strongest judged-alone field's rate, spread over the population.
	corroborate := 0.0
	for _, f := range population.Fields {
		if b.aloneF[f] {
			corroborate = max(corroborate, b.fm[f]/float64(max(b.size, 1)))
		}
	}
	var out []FieldBound
	for _, f := range population.Fields {
		fb := FieldBound{Field: f.String(), FalseMatch: b.fm[f], RandomRun: b.rr[f], Mode: ModeAlone,
			Nobody: b.nobody[f].Load(), Uncorroborated: b.uncorroborated[f].Load()}
		p := b.fm[f]
		fb.ExpectedFalse = float64(fb.Nobody) * p / (1 - min(p, 0.5))
		if !b.aloneF[f] {
			fb.Mode = ModeCorroborated
			fb.ExpectedFalse *= corroborate
		}
		out = append(out, fb)
	}
	return out
}

// Counts returns the values of nobody and the uncorroborated values met so
// far, by field: what a generator hands its coordinator.
func (b *Bounds) Counts() (nobody, uncorroborated [8]uint64) {
	for f := range b.nobody {
		nobody[f], uncorroborated[f] = b.nobody[f].Load(), b.uncorroborated[f].Load()
	}
	return nobody, uncorroborated
}

// Add counts what another generator met.
func (b *Bounds) Add(nobody, uncorroborated [8]uint64) {
	for f := range b.nobody {
		b.nobody[f].Add(nobody[f])
		b.uncorroborated[f].Add(uncorroborated[f])
	}
}
