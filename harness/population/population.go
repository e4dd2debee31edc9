// Package population generates the synthetic beneficiaries of a run and
// decodes their identifying values back to their owner.
//
// Each user i of a population gets realistic data (NIR with its 97-key,
// beneficiary number, French IBAN with valid check digits and RIB key, name,
// e-mail, phone, address, salary, family situation, temporary password,
// account state) computed from (seed, i) alone. Every identifying value is the
// image of i under a keyed permutation, so any such value found in a response
// decodes back to i without a table: memory is O(1) per user and the full
// 13.6 million beneficiaries of the CAF incident fit on one machine.
//
// A Population is immutable and safe for concurrent use.
package population

import (
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxSize is the largest population: user indexes fit in 24 bits, which
// covers the 13.6 million beneficiaries of the CAF incident.
const MaxSize = 1 << 24

// MaxIBANGenerations is how many distinct IBANs one user can write before
// generations wrap around (a soak test that writes more reuses old ones).
const MaxIBANGenerations = 1 << 12

// State is an account's position in the identifier migration.
type State uint8

// Account states. Legacy accounts log in with their beneficiary number;
// MigrationPending accounts have been switched to the NIR and still hold
// the temporary password (the accounts hit in October 2021); Migrated
// accounts log in with NIR and a password of their own.
const (
	Legacy State = iota
	MigrationPending
	Migrated
)

func (s State) String() string {
	switch s {
	case Legacy:
		return "legacy"
	case MigrationPending:
		return "migration-pending"
	case Migrated:
		return "migrated"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Mix gives the fraction of accounts in each state; the fractions are
// normalised, so {1, 3, 0} means a quarter legacy and three quarters pending.
type Mix struct {
	Legacy           float64 `yaml:"legacy" json:"legacy"`
	MigrationPending float64 `yaml:"migration_pending" json:"migration_pending"`
	Migrated         float64 `yaml:"migrated" json:"migrated"`
}

// DefaultMix is the state mix used when a scenario gives none.
var DefaultMix = Mix{Legacy: 0.3, MigrationPending: 0.5, Migrated: 0.2}

// Population is a deterministic set of synthetic users.
type Population struct {
	seed uint64
	size int
	mix  Mix
	// cumulative thresholds of the state mix, scaled to 2^32
	pendingFrom, migratedFrom uint64

	nir, iban, phone, email, benef perm

	advisers *Advisers // nil without WithAdvisers
}

// Option configures a Population.
type Option func(*Population) error

// WithAdvisers gives the population n advisers, each following a caseload.
func WithAdvisers(n int) Option {
	return func(p *Population) error {
		a, err := p.Advisers(n)
		p.advisers = a
		return err
	}
}

// Staff returns the population's advisers, or nil if it has none.
func (p *Population) Staff() *Advisers { return p.advisers }

// New returns the population of size users generated from seed.
func New(seed uint64, size int, mix Mix, opts ...Option) (*Population, error) {
	if size < 1 || size > MaxSize {
		return nil, fmt.Errorf("population size %d out of range 1..%d", size, MaxSize)
	}
	total := mix.Legacy + mix.MigrationPending + mix.Migrated
	if mix.Legacy < 0 || mix.MigrationPending < 0 || mix.Migrated < 0 || total <= 0 {
		return nil, errors.New("population mix: fractions must be non-negative and not all zero")
	}
	scale := func(f float64) uint64 { return uint64(f / total * (1 << 32)) }
	k := mix64(seed ^ 0x63726f737374616c) // "crosstal"
	p := &Population{
		seed:         seed,
		size:         size,
		mix:          mix,
		pendingFrom:  scale(mix.Legacy),
		migratedFrom: scale(mix.Legacy + mix.MigrationPending),
		nir:          newPerm(nirDomain, k^1),
		iban:         newPerm(1<<36, k^2),
		phone:        newPerm(phoneDomain, k^3),
		email:        newPerm(emailDomain, k^4),
		benef:        newPerm(uint64(len(departments))*1e7, k^5),
	}
	for _, o := range opts {
		if err := o(p); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Mix returns the state mix the population was made with.
func (p *Population) Mix() Mix { return p.mix }

// ParseMix reads a mix written "legacy,migration_pending,migrated", such as
// "0.15,0.75,0.10".
func ParseMix(s string) (Mix, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return Mix{}, fmt.Errorf("mix %q: want three fractions, legacy,migration_pending,migrated", s)
	}
	var f [3]float64
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return Mix{}, fmt.Errorf("mix %q: %v", s, err)
		}
		f[i] = v
	}
	return Mix{Legacy: f[0], MigrationPending: f[1], Migrated: f[2]}, nil
}

// String writes the mix as ParseMix reads it.
func (m Mix) String() string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	return f(m.Legacy) + "," + f(m.MigrationPending) + "," + f(m.Migrated)
}

// Size returns the number of users.
func (p *Population) Size() int { return p.size }

// Seed returns the seed the population was generated from.
func (p *Population) Seed() uint64 { return p.seed }

// User is one synthetic beneficiary. Identifying values are given without
// formatting: NIR as 15 digits, IBAN as 27 characters, phone as 10 digits.
type User struct {
	Index        int
	NIR          string
	CAF          string // department code of the user's CAF, 2 digits
	Number       string // beneficiary number, 7 digits, unique within a CAF
	First, Last  string
	Email        string
	Phone        string
	Street       string
	PostalCode   string
	City         string
	Salary       int // net monthly, euros
	Family       string
	IBAN         string // generation 0, as seeded
	TempPassword string
	// IdPPassword is the user's password at the identity provider
	// (FranceConnect's), a system apart from the portal's accounts.
	IdPPassword string
	State       State
}

// User returns user i. It panics if i is out of range: indexes come from the
// harness, never from user input.
func (p *Population) User(i int) User {
	if i < 0 || i >= p.size {
		panic(fmt.Sprintf("population: user %d out of range [0,%d)", i, p.size))
	}
	h := func(tag uint64) uint64 { return p.hash(i, tag) }
	first, last := p.names(i)
	dept := departments[p.benef.enc(uint64(i))/1e7]
	u := User{
		Index:        i,
		NIR:          p.NIR(i),
		First:        first,
		Last:         last,
		Phone:        p.Phone(i),
		Street:       strconv.FormatUint(h(3)%150+1, 10) + " " + streets[h(4)%uint64(len(streets))],
		PostalCode:   fmt.Sprintf("%02d%03d", dept, h(5)%100*10),
		City:         cities[h(6)%uint64(len(cities))],
		Salary:       900 + int(h(7)%3600),
		Family:       families[h(8)%uint64(len(families))],
		IBAN:         p.IBAN(i, 0),
		TempPassword: p.Password(i, 0),
		IdPPassword:  p.IdPPassword(i),
		State:        p.State(i),
	}
	u.CAF, u.Number = p.Beneficiary(i)
	u.Email = p.emailLocal(i, u.First, u.Last) + "@" + mailDomains[p.email.enc(uint64(i))%uint64(len(mailDomains))]
	return u
}

func (p *Population) hash(i int, tag uint64) uint64 {
	return mix64(p.seed ^ mix64(uint64(i)<<8|tag))
}

// names returns user i's first and last names without allocating: the
// e-mail canary confirms a match with them on the oracle's hot path.
func (p *Population) names(i int) (first, last string) {
	list := firstNamesF
	if p.nir.enc(uint64(i))%2 == 0 { // the NIR's sex digit is 1
		list = firstNamesM
	}
	return list[p.hash(i, 1)%uint64(len(list))], lastNames[p.hash(i, 2)%uint64(len(lastNames))]
}

// State returns user i's account state at the start of a run.
func (p *Population) State(i int) State {
	x := mix64(p.seed^mix64(uint64(i)<<8|9)) >> 32
	switch {
	case x < p.pendingFrom:
		return Legacy
	case x < p.migratedFrom:
		return MigrationPending
	}
	return Migrated
}

// Password returns user i's password of generation gen: generation 0 is the
// temporary password sent at migration, later ones are passwords the user set.
func (p *Population) Password(i, gen int) string {
	s := base36(mix64(p.seed^mix64(uint64(i)<<20|uint64(gen)<<4|0xa)), 10)
	if gen == 0 {
		return "Tmp-" + s[:8]
	}
	return "Pw-" + s[:10] + "!" + strconv.Itoa(gen%10)
}

// base36 returns x in base 36, left-padded with zeros to at least n digits:
// a hash small enough to print in fewer digits (about one user in 200,000)
// must still give a password of full length.
func base36(x uint64, n int) string {
	s := strconv.FormatUint(x, 36)
	if len(s) < n {
		s = strings.Repeat("0", n-len(s)) + s
	}
	return s
}

// Name returns "First Last" for user i.
func (p *Population) Name(i int) string {
	u := p.User(i)
	return u.First + " " + u.Last
}

func (p *Population) emailLocal(i int, first, last string) string {
	code := p.email.enc(uint64(i))
	return strings.ToLower(first) + "." + strings.ToLower(last) + strconv.FormatUint(code, 10)
}

// ParseSeed reads a seed written in decimal or 0x-hexadecimal.
func ParseSeed(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("seed %q: want a non-negative integer", s)
	}
	return v, nil
}

// IdPPassword returns user i's password at the identity provider: it does
// not change when the portal's password does.
func (p *Population) IdPPassword(i int) string {
	return "Idp-" + base36(mix64(p.seed^mix64(uint64(i)<<20|0x1d9)), 10)[:10]
}

// TOTPSecret returns user i's time-based one-time password secret (RFC
// 6238), in base32 as authenticator apps take it: 160 bits derived from
// the seed like the user's other data.
func (p *Population) TOTPSecret(i int) string {
	return totpSecret(p.seed ^ uint64(i)<<24 ^ 0x746f7470)
}

func totpSecret(k uint64) string {
	var b [20]byte
	for j := 0; j < len(b); j += 8 {
		k = mix64(k + 0x9e3779b97f4a7c15)
		for n := 0; n < 8 && j+n < len(b); n++ {
			b[j+n] = byte(k >> (8 * n))
		}
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}
