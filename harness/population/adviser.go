package population

import "fmt"

// Advisers are the conseillers of a population: adviser a follows a caseload
// of beneficiaries, and every beneficiary has exactly one adviser. The
// assignment is a keyed permutation like the canaries: the adviser of a
// beneficiary and the caseload of an adviser are computed, never stored.
// Advisers is immutable and safe for concurrent use.
type Advisers struct {
	pop    *Population
	n      int
	assign perm // beneficiary index -> position; position mod n is the adviser
	login  perm
}

// MaxAdvisers bounds the number of advisers of a population.
const MaxAdvisers = 100_000

// Advisers returns the n advisers of the population.
func (p *Population) Advisers(n int) (*Advisers, error) {
	if n < 1 || n > MaxAdvisers || n > p.size {
		return nil, fmt.Errorf("advisers: %d out of range 1..%d (and at most one per user)", n, min(MaxAdvisers, p.size))
	}
	k := mix64(p.seed ^ 0x61647669736572) // "adviser"
	return &Advisers{pop: p, n: n, assign: newPerm(uint64(p.size), k^1), login: newPerm(1e6, k^2)}, nil
}

// Count returns the number of advisers.
func (a *Advisers) Count() int { return a.n }

// Of returns the adviser who follows beneficiary i.
func (a *Advisers) Of(i int) int { return int(a.assign.enc(uint64(i)) % uint64(a.n)) }

// Caseload calls f for each beneficiary adviser adv follows, in a fixed
// order, until f returns false.
func (a *Advisers) Caseload(adv int, f func(i int) bool) {
	for pos := uint64(adv); pos < uint64(a.pop.size); pos += uint64(a.n) {
		if !f(int(a.assign.dec(pos))) {
			return
		}
	}
}

// Login returns adviser adv's login, "CNS" and six digits.
func (a *Advisers) Login(adv int) string {
	var b [9]byte
	copy(b[:], "CNS")
	putDigits(b[3:], a.login.enc(uint64(adv)))
	return string(b[:])
}

// DecodeLogin returns the adviser with the given login.
func (a *Advisers) DecodeLogin(login string) (int, bool) {
	if len(login) != 9 || login[:3] != "CNS" {
		return 0, false
	}
	v, ok := atou([]byte(login[3:]))
	if !ok {
		return 0, false
	}
	adv := a.login.dec(v)
	return int(adv), adv < uint64(a.n)
}

// Password returns adviser adv's password.
func (a *Advisers) Password(adv int) string {
	return "Adv-" + base36(mix64(a.pop.seed^mix64(uint64(adv)<<8|0xad)), 10)[:10]
}

// MFACode returns adviser adv's second factor, six digits: the code its
// authenticator shows. The synthetic adviser knows it; a password alone
// does not give it.
func (a *Advisers) MFACode(adv int) string {
	var b [6]byte
	putDigits(b[:], mix64(a.pop.seed^mix64(uint64(adv)<<8|0xaf))%1e6)
	return string(b[:])
}

// Name returns adviser adv's name.
func (a *Advisers) Name(adv int) (first, last string) {
	h := mix64(a.pop.seed ^ mix64(uint64(adv)<<8|0xae))
	list := firstNamesF
	if h&1 == 0 {
		list = firstNamesM
	}
	return list[(h>>8)%uint64(len(list))], lastNames[(h>>24)%uint64(len(lastNames))]
}

// CaseloadSize returns how many beneficiaries adviser adv follows.
func (a *Advisers) CaseloadSize(adv int) int {
	return (a.pop.size - adv + a.n - 1) / a.n
}

// CaseloadAt returns the k-th beneficiary adviser adv follows, in the order
// Caseload gives, for k below CaseloadSize(adv).
func (a *Advisers) CaseloadAt(adv, k int) int {
	return int(a.assign.dec(uint64(adv + k*a.n)))
}

// TOTPSecret returns adviser adv's time-based one-time password secret
// (RFC 6238), in base32 as authenticator apps take it.
func (a *Advisers) TOTPSecret(adv int) string {
	return totpSecret(a.pop.seed ^ 0x746f7470 ^ uint64(adv)<<20 | 1)
}
