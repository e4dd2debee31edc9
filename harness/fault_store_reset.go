package harness

import (
	"context"
)

// storeReset resets the replicas' connections to the store (Toxiproxy's
// reset_peer toxic), as a crashed proxy or a dropped route does.
type storeReset struct {
	Store string `yaml:"store" json:"store"`
}

func init() {
	registerFault("store-reset", "reset the replicas' connections to a store while the fault lasts (store: sessions|accounts)",
		func() Fault { return &storeReset{Store: "sessions"} })
}

func (f *storeReset) String() string { return "store-reset(store=" + f.Store + ")" }

func (f *storeReset) Check(t Target) error { return checkStoreLink("store-reset", f.Store, t) }

func (f *storeReset) Apply(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreToxic(ctx, f.Store, &Toxic{Type: "reset_peer", Attributes: map[string]int{"timeout": 0}})
}

func (f *storeReset) Heal(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreToxic(ctx, f.Store, nil)
}
