package embedded

import (
	"context"
	"strings"
	"sync"

	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
	"github.com/crosstalk-dev/crosstalk/targets/reference"
)

// accounts is the embedded stack's account store: every account is made
// from the population on demand, and only what the portal changed
// (passwords, bank details) is kept. A population of 16.7 million users
// then takes no memory and no time to load, where a table of them took
// eleven gigabytes and a minute. Lookups by NIR and by beneficiary number
// decode the identifier, as an index would find it. It is safe for
// concurrent use.
type accounts struct {
	pop    *population.Population
	shards [64]struct {
		sync.Mutex
		changed map[int]portal.Account
	}
}

var _ portal.AccountStore = (*accounts)(nil)

func newAccounts(pop *population.Population) *accounts {
	a := &accounts{pop: pop}
	for i := range a.shards {
		a.shards[i].changed = map[int]portal.Account{}
	}
	return a
}

// Get implements portal.AccountStore.
func (s *accounts) Get(_ context.Context, id int) (portal.Account, error) {
	if id < 0 || id >= s.pop.Size() {
		return portal.Account{}, portal.ErrNotFound
	}
	sh := &s.shards[id%len(s.shards)]
	sh.Lock()
	a, ok := sh.changed[id]
	sh.Unlock()
	if ok {
		return a, nil
	}
	return reference.AccountOf(s.pop, id), nil
}

// ByNIR implements portal.AccountStore.
func (s *accounts) ByNIR(ctx context.Context, nir string) (portal.Account, error) {
	nir = strings.ReplaceAll(nir, " ", "")
	id, ok := s.pop.DecodeNIR([]byte(nir))
	if !ok {
		return portal.Account{}, portal.ErrNotFound
	}
	return s.Get(ctx, id)
}

// ByBeneficiary implements portal.AccountStore.
func (s *accounts) ByBeneficiary(ctx context.Context, caf, number string) (portal.Account, error) {
	id, ok := s.pop.DecodeBeneficiary(caf, number)
	if !ok {
		return portal.Account{}, portal.ErrNotFound
	}
	return s.Get(ctx, id)
}

// Caseload implements portal.AccountStore.
func (s *accounts) Caseload(ctx context.Context, adviser, limit int) ([]portal.Account, error) {
	staff := s.pop.Staff()
	if staff == nil || adviser < 0 || adviser >= staff.Count() {
		return nil, nil
	}
	n := min(limit, staff.CaseloadSize(adviser))
	out := make([]portal.Account, 0, n)
	for k := 0; k < n; k++ {
		a, err := s.Get(ctx, staff.CaseloadAt(adviser, k))
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func (s *accounts) update(ctx context.Context, id int, f func(*portal.Account)) error {
	a, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	sh := &s.shards[id%len(s.shards)]
	sh.Lock()
	defer sh.Unlock()
	if c, ok := sh.changed[id]; ok {
		a = c // changed since the Get above
	}
	f(&a)
	sh.changed[id] = a
	return nil
}

// SetPassword implements portal.AccountStore.
func (s *accounts) SetPassword(ctx context.Context, id int, passHash string) error {
	return s.update(ctx, id, func(a *portal.Account) { a.PassHash, a.State = passHash, portal.StateMigrated })
}

// SetIBAN implements portal.AccountStore.
func (s *accounts) SetIBAN(ctx context.Context, id int, iban string) error {
	return s.update(ctx, id, func(a *portal.Account) { a.IBAN = iban })
}
