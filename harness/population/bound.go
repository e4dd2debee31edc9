package population

// The strength of a canary. A value found in a response is evidence that it
// belongs to its decoded owner only if a value that belongs to nobody is
// unlikely to decode to a user of this run. Every identifying value is the
// image of a user index under a keyed permutation of the field's domain, so
// a value that belongs to nobody (someone else's real number, a constant on
// a help page) decodes to a uniformly random point of that domain: it lands
// on a user with probability size / domain, times the chance that it passes
// the field's structural checks at all.

// FalseMatch returns the probability that one well-formed value of field f
// that belongs to nobody (a valid-key NIR, a valid French IBAN, a French
// mobile number, an address of the form first.lastDIGITS@) decodes to a user
// of this population. It grows with the population: at 13.6 million users
// about 7% of all French mobile numbers decode to someone.
func (p *Population) FalseMatch(f Field) float64 {
	n := float64(p.size)
	switch f {
	case FieldNIR:
		return n / nirDomain
	case FieldPhone:
		return n / phoneDomain
	case FieldIBAN:
		// Bank and branch codes must be the ones the account number maps
		// to (1 in 8 banks, 1 in 100,000 branches), the account number
		// inside the generator's 2^36, its low 24 bits a user index.
		return 1.0 / float64(len(bankCodes)) / 1e5 * (1 << 36) / 1e11 * n / MaxSize
	case FieldEmail:
		// The digits decode to a user (1e8 codes) whose first and last
		// names must then stand before them.
		first := min(len(firstNamesF), len(firstNamesM))
		return n / emailDomain / float64(first*len(lastNames))
	}
	return 0
}

// RandomRunMatch returns the probability that a random delimited run of
// digits of the field's length (a reference, an order number, a timestamp)
// decodes to a user: FalseMatch times the share of such runs that are
// well-formed values of the field.
func (p *Population) RandomRunMatch(f Field) float64 {
	switch f {
	case FieldNIR:
		// sex 1-2, month 01-12, a department, commune 001-990, order
		// 001-999, and the 97-key.
		shape := 0.2 * 0.12 * float64(len(departments)) / 100 * 0.99 * 0.999 / 97
		return shape * p.FalseMatch(f)
	case FieldPhone:
		return 0.02 * p.FalseMatch(f) // 06 or 07 of 00-99
	case FieldIBAN:
		return p.FalseMatch(f) / 97 / 97 // check digits and RIB key
	case FieldEmail:
		return p.FalseMatch(f)
	}
	return 0
}

// Domains of the permutations the canaries are drawn from.
const (
	phoneDomain = 2e8 // 06 and 07 numbers
	emailDomain = 1e8 // the digits that end an address's local part
)

// Fields lists the canary fields, in report order.
var Fields = []Field{FieldNIR, FieldIBAN, FieldEmail, FieldPhone}
