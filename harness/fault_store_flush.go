package harness

import (
	"context"
)

// storeFlush empties the store (Redis FLUSHALL): every session is lost at
// once, as after a restart without persistence. Nothing to heal.
type storeFlush struct {
	Store string `yaml:"store" json:"store"`
}

func init() {
	registerFault("store-flush", "empty a store, as FLUSHALL does (nothing to heal)",
		func() Fault { return &storeFlush{Store: "sessions"} })
}

func (f *storeFlush) String() string { return "store-flush(store=" + f.Store + ")" }

func (f *storeFlush) Check(t Target) error {
	if _, ok := t.(StoreFlusher); !ok {
		return unsupported("store-flush", t)
	}
	if f.Store != "sessions" {
		return BadInput("store-flush: only the sessions store can be flushed, not %q", f.Store)
	}
	return nil
}

func (f *storeFlush) Apply(ctx context.Context, t Target) error {
	return t.(StoreFlusher).FlushStore(ctx, f.Store)
}

func (f *storeFlush) Heal(context.Context, Target) error { return nil }
