package harness

import (
	"context"
	"fmt"
	"time"
)

// storeTimeout stops the store's replies and closes the connection after
// Timeout (Toxiproxy's timeout toxic): a hung store.
type storeTimeout struct {
	Store   string        `yaml:"store" json:"store"`
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

func init() {
	registerFault("store-timeout", "hang the replicas' links to a store, closing them after timeout (store: sessions|accounts)",
		func() Fault { return &storeTimeout{Store: "sessions", Timeout: time.Second} })
}

func (f *storeTimeout) String() string {
	return fmt.Sprintf("store-timeout(store=%s,timeout=%s)", f.Store, f.Timeout)
}

func (f *storeTimeout) Validate() error {
	if f.Timeout < 0 {
		return fmt.Errorf("timeout must not be negative")
	}
	return nil
}

func (f *storeTimeout) Check(t Target) error { return checkStoreLink("store-timeout", f.Store, t) }

func (f *storeTimeout) Apply(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreToxic(ctx, f.Store, &Toxic{Type: "timeout",
		Attributes: map[string]int{"timeout": int(f.Timeout.Milliseconds())}})
}

func (f *storeTimeout) Heal(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreToxic(ctx, f.Store, nil)
}
