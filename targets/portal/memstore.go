package portal

import (
	"context"
	"fmt"
	"sync"
)

// MemAccounts is an in-memory AccountStore. Load it with Add before serving.
type MemAccounts struct {
	locks    [64]sync.RWMutex // sharded by account id
	accounts []Account
	byNIR    map[string]int
	byBenef  map[string]int
	byAdv    map[int][]int
}

var _ AccountStore = (*MemAccounts)(nil)

// NewMemAccounts returns an empty store sized for n accounts.
func NewMemAccounts(n int) *MemAccounts {
	return &MemAccounts{
		accounts: make([]Account, 0, n),
		byNIR:    make(map[string]int, n),
		byBenef:  make(map[string]int, n),
		byAdv:    make(map[int][]int),
	}
}

// Add appends an account; its ID must equal the number of accounts already
// added. Add is not safe for concurrent use and must precede serving.
func (m *MemAccounts) Add(a Account) error {
	if a.ID != len(m.accounts) {
		return fmt.Errorf("memstore: account id %d added at position %d", a.ID, len(m.accounts))
	}
	m.accounts = append(m.accounts, a)
	m.byNIR[a.NIR] = a.ID
	m.byBenef[a.CAF+"/"+a.Number] = a.ID
	m.byAdv[a.Adviser] = append(m.byAdv[a.Adviser], a.ID)
	return nil
}

// Get implements AccountStore.
func (m *MemAccounts) Get(_ context.Context, id int) (Account, error) {
	if id < 0 || id >= len(m.accounts) {
		return Account{}, ErrNotFound
	}
	l := &m.locks[id%len(m.locks)]
	l.RLock()
	defer l.RUnlock()
	return m.accounts[id], nil
}

// ByNIR implements AccountStore.
func (m *MemAccounts) ByNIR(ctx context.Context, nir string) (Account, error) {
	id, ok := m.byNIR[nir]
	if !ok {
		return Account{}, ErrNotFound
	}
	return m.Get(ctx, id)
}

// ByBeneficiary implements AccountStore.
func (m *MemAccounts) ByBeneficiary(ctx context.Context, caf, number string) (Account, error) {
	id, ok := m.byBenef[caf+"/"+number]
	if !ok {
		return Account{}, ErrNotFound
	}
	return m.Get(ctx, id)
}

// Caseload implements AccountStore.
func (m *MemAccounts) Caseload(ctx context.Context, adviser, limit int) ([]Account, error) {
	ids := m.byAdv[adviser]
	out := make([]Account, 0, min(limit, len(ids)))
	for _, id := range ids[:min(limit, len(ids))] {
		a, err := m.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

func (m *MemAccounts) update(id int, f func(*Account)) error {
	if id < 0 || id >= len(m.accounts) {
		return ErrNotFound
	}
	l := &m.locks[id%len(m.locks)]
	l.Lock()
	defer l.Unlock()
	f(&m.accounts[id])
	return nil
}

// SetPassword implements AccountStore.
func (m *MemAccounts) SetPassword(_ context.Context, id int, passHash string) error {
	return m.update(id, func(a *Account) { a.PassHash, a.State = passHash, StateMigrated })
}

// SetIBAN implements AccountStore.
func (m *MemAccounts) SetIBAN(_ context.Context, id int, iban string) error {
	return m.update(id, func(a *Account) { a.IBAN = iban })
}

// MemSessions is an in-memory SessionStore.
type MemSessions struct {
	shards [64]struct {
		sync.RWMutex
		m map[string]string
	}
}

var _ SessionStore = (*MemSessions)(nil)

// NewMemSessions returns an empty session store.
func NewMemSessions() *MemSessions {
	s := &MemSessions{}
	for i := range s.shards {
		s.shards[i].m = make(map[string]string)
	}
	return s
}

func (s *MemSessions) shard(token string) *struct {
	sync.RWMutex
	m map[string]string
} {
	var h uint32 = 2166136261
	for i := 0; i < len(token); i++ {
		h = (h ^ uint32(token[i])) * 16777619
	}
	return &s.shards[h%uint32(len(s.shards))]
}

// Get implements SessionStore.
func (s *MemSessions) Get(_ context.Context, token string) (string, error) {
	sh := s.shard(token)
	sh.RLock()
	defer sh.RUnlock()
	v, ok := sh.m[token]
	if !ok {
		return "", ErrNotFound
	}
	return v, nil
}

// Put implements SessionStore.
func (s *MemSessions) Put(_ context.Context, token, v string) error {
	sh := s.shard(token)
	sh.Lock()
	defer sh.Unlock()
	sh.m[token] = v
	return nil
}

// Delete implements SessionStore.
func (s *MemSessions) Delete(_ context.Context, token string) error {
	sh := s.shard(token)
	sh.Lock()
	defer sh.Unlock()
	delete(sh.m, token)
	return nil
}

// Flush removes every session (a session-store restart without persistence).
func (s *MemSessions) Flush() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.Lock()
		sh.m = make(map[string]string)
		sh.Unlock()
	}
}
