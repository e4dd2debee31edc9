package canary

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// The largest population the CLI accepts is 16.7 M users: the bound must
// hold there.
const bigPopulation = 16_700_000

// draws is how many look-alike values of each kind the property test makes.
const draws = 1_000_000

// A million random look-alike values of every field, each on a page of its
// own, at a population of 16.7 M: the scanner finds no more false matches
// than the bound predicts (a Poisson tail of five standard deviations), and
// the bound is not loose either (at least a third of what it predicts,
// where it predicts something), so that it tells the truth both ways.
func TestFalseMatchBoundHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("a million values of each field")
	}
	p, err := population.New(20211010, bigPopulation, population.DefaultMix)
	require.NoError(t, err)
	s := NewScanner(p)
	b := NewBounds(p)
	rng := rand.New(rand.NewPCG(1, 2))
	users := make([]population.User, 64) // names for look-alike addresses
	for i := range users {
		users[i] = p.User(rng.IntN(bigPopulation))
	}
	kinds := []struct {
		name  string
		field population.Field
		p     float64 // the bound's probability for one value
		draw  func() string
	}{
		{"valid-key NIRs", population.FieldNIR, p.FalseMatch(population.FieldNIR), func() string { return randomNIR(rng) }},
		{"valid IBANs", population.FieldIBAN, p.FalseMatch(population.FieldIBAN), func() string { return randomIBAN(rng) }},
		{"mobile numbers", population.FieldPhone, p.FalseMatch(population.FieldPhone), func() string {
			return spacedIf(rng, fmt.Sprintf("0%d%08d", 6+rng.IntN(2), rng.IntN(1e8)), 2, 2, 2, 2)
		}},
		{"look-alike e-mails", population.FieldEmail, p.FalseMatch(population.FieldEmail), func() string {
			u := users[rng.IntN(len(users))]
			return strings.ToLower(u.First+"."+u.Last) + fmt.Sprint(rng.IntN(1e8)) + "@example.fr"
		}},
		{"15-digit runs", population.FieldNIR, p.RandomRunMatch(population.FieldNIR), func() string { return spacedIf(rng, digits(rng, 15), 1, 2, 2, 2, 3, 3) }},
		{"10-digit runs", population.FieldPhone, p.RandomRunMatch(population.FieldPhone), func() string { return spacedIf(rng, digits(rng, 10), 2, 2, 2, 2) }},
		{"long runs", 0, 0, func() string { // 16 to 40 digits: never a value, however grouped
			return spacedIf(rng, digits(rng, 16+rng.IntN(25)), 1+rng.IntN(4), 1+rng.IntN(4), 2, 3, 4, 2, 1, 4)
		}},
	}
	var buf []Match
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			found, judged := 0, 0
			for range draws {
				page := "<tr><td>Valeur</td><td>" + k.draw() + "</td></tr>"
				buf = s.Scan(buf[:0], []byte(page))
				for _, m := range buf {
					if m.Owner == NoOwner {
						continue
					}
					require.Equal(t, k.field, m.Field, "page %q", page)
					found++
					if b.Alone(m.Field) {
						judged++ // alone on its page: a false violation
					}
				}
			}
			want := float64(draws) * k.p
			tail := want + 5*math.Sqrt(want) + 5
			t.Logf("%s: %d false matches, %d judged, bound predicts %.1f", k.name, found, judged, want)
			assert.LessOrEqual(t, float64(found), tail, "more false matches than the bound predicts")
			if want >= 30 {
				assert.GreaterOrEqual(t, float64(found), want/3, "the bound is loose")
			}
			if !b.Alone(k.field) {
				assert.Zero(t, judged, "a corroborated field is never judged alone")
			}
		})
	}
}

// A weak field alone on a page is not judged, but beside a value of the
// same owner in a field judged alone it is: corroboration.
func TestBoundsModesAtScale(t *testing.T) {
	for _, tc := range []struct {
		users int
		phone string
	}{{2_000, ModeAlone}, {20_000, ModeAlone}, {200_000, ModeCorroborated}, {bigPopulation, ModeCorroborated}} {
		p, err := population.New(1, tc.users, population.DefaultMix)
		require.NoError(t, err)
		b := NewBounds(p)
		for _, fb := range b.Report() {
			want := ModeAlone
			if fb.Field == "phone" {
				want = tc.phone
			}
			assert.Equal(t, want, fb.Mode, "%s at %d users (p %.2g)", fb.Field, tc.users, fb.FalseMatch)
			assert.LessOrEqual(t, fb.FalseMatch, 0.1)
		}
	}
	p, _ := population.New(1, bigPopulation, population.DefaultMix)
	b := NewBounds(p)
	for range 100 {
		b.Nobody(population.FieldNIR)
		b.Nobody(population.FieldPhone)
	}
	r := b.Report()
	assert.InDelta(t, 100*p.FalseMatch(population.FieldNIR), r[0].ExpectedFalse, 1e-3)
	assert.Less(t, r[3].ExpectedFalse, 1e-6, "a corroborated phone needs a second chance match")
}

func digits(rng *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + rng.IntN(10))
	}
	return string(b)
}

// spacedIf groups s in the given sizes half of the time, as pages print
// values, and leaves it whole otherwise.
func spacedIf(rng *rand.Rand, s string, sizes ...int) string {
	if rng.IntN(2) == 0 {
		return s
	}
	return spaced(s, " ", sizes...)
}

// randomNIR returns a NIR with a valid structure and key that belongs to
// nobody in particular.
func randomNIR(rng *rand.Rand) string {
	dep := 1 + rng.IntN(95)
	if dep == 20 {
		dep = 21
	}
	n := uint64(1+rng.IntN(2))*1e12 + uint64(rng.IntN(100))*1e10 + uint64(1+rng.IntN(12))*1e8 +
		uint64(dep)*1e6 + uint64(1+rng.IntN(990))*1e3 + uint64(1+rng.IntN(999))
	return spacedIf(rng, fmt.Sprintf("%013d%02d", n, 97-n%97), 1, 2, 2, 2, 3, 3)
}

// bankCodes are real French bank codes, as real IBANs carry them.
var bankCodes = []int{30004, 30003, 20041, 10278, 30002, 17515, 18206, 30066}

// randomIBAN returns a valid French IBAN (ISO 13616 check digits and RIB
// key) of a real bank, with a random branch and account.
func randomIBAN(rng *rand.Rand) string {
	bank, branch, account := bankCodes[rng.IntN(len(bankCodes))], rng.IntN(100000), uint64(rng.Int64N(1e11))
	rib := 97 - (89*uint64(bank)+15*uint64(branch)+3*account)%97
	bban := fmt.Sprintf("%05d%05d%011d%02d", bank, branch, account, rib)
	r := 0
	for _, c := range bban + "152700" {
		r = (r*10 + int(c-'0')) % 97
	}
	iban := fmt.Sprintf("FR%02d%s", 98-r, bban)
	if rng.IntN(2) == 0 {
		return iban
	}
	return spaced(iban, " ", 4, 4, 4, 4, 4, 4)
}
