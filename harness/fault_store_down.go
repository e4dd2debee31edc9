package harness

import (
	"context"
)

// storeDown makes the store unreachable from the replicas, as the
// cachetur.no update did: a correct portal fails closed.
type storeDown struct {
	Store string `yaml:"store" json:"store"`
}

func init() {
	registerFault("store-down", "make a store unreachable; heal reconnects it (store: sessions|accounts)",
		func() Fault { return &storeDown{Store: "sessions"} })
}

func (f *storeDown) String() string { return "store-down(store=" + f.Store + ")" }

func (f *storeDown) Check(t Target) error { return checkStoreLink("store-down", f.Store, t) }

func (f *storeDown) Apply(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreDown(ctx, f.Store)
}

func (f *storeDown) Heal(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreUp(ctx, f.Store)
}
