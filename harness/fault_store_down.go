package harness

import "context"

// storeDown makes the session store unreachable from the replicas, as the
// cachetur.no update did: a correct portal fails closed.
type storeDown struct{}

func init() {
	registerFault("store-down", "make the session store unreachable; heal reconnects it",
		func() Fault { return &storeDown{} })
}

func (f *storeDown) String() string { return "store-down" }

func (f *storeDown) Check(t Target) error {
	if _, ok := t.(StoreLink); !ok {
		return unsupported("store-down", t)
	}
	return nil
}

func (f *storeDown) Apply(ctx context.Context, t Target) error { return t.(StoreLink).StoreDown(ctx) }

func (f *storeDown) Heal(ctx context.Context, t Target) error { return t.(StoreLink).StoreUp(ctx) }
