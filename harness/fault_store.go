package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The store faults break the link between the replicas and one of their
// stores (Toxiproxy), or empty the store. Each names its store ("sessions"
// by default, "accounts" where the target has one) and is checked against
// the stores the target can break.

func checkStoreLink(fault, store string, t Target) error {
	l, ok := t.(StoreLink)
	if !ok {
		return unsupported(fault, t)
	}
	if !slices.Contains(l.StoreLinks(), store) {
		return BadInput("%s: unknown store %q (target %s has: %s)", fault, store, t.Name(), strings.Join(l.StoreLinks(), ", "))
	}
	return nil
}

// storeLatency delays the store's replies on the replicas' link (Toxiproxy's
// latency toxic): with client timeouts, the ChatGPT incident's trigger.
type storeLatency struct {
	Store   string        `yaml:"store" json:"store"`
	Latency time.Duration `yaml:"latency" json:"latency"`
	Jitter  time.Duration `yaml:"jitter" json:"jitter"`
}

// storeTimeout stops the store's replies and closes the connection after
// Timeout (Toxiproxy's timeout toxic): a hung store.
type storeTimeout struct {
	Store   string        `yaml:"store" json:"store"`
	Timeout time.Duration `yaml:"timeout" json:"timeout"`
}

// storeReset resets the replicas' connections to the store (Toxiproxy's
// reset_peer toxic), as a crashed proxy or a dropped route does.
type storeReset struct {
	Store string `yaml:"store" json:"store"`
}

// storeDown makes the store unreachable from the replicas, as the
// cachetur.no update did: a correct portal fails closed.
type storeDown struct {
	Store string `yaml:"store" json:"store"`
}

// storeFlush empties the store (Redis FLUSHALL): every session is lost at
// once, as after a restart without persistence. Nothing to heal.
type storeFlush struct {
	Store string `yaml:"store" json:"store"`
}

func init() {
	registerFault("store-latency", "delay a store's replies on the replicas' links by latency ± jitter (store: sessions|accounts)",
		func() Fault {
			return &storeLatency{Store: "sessions", Latency: 600 * time.Millisecond, Jitter: 400 * time.Millisecond}
		})
	registerFault("store-timeout", "hang the replicas' links to a store, closing them after timeout (store: sessions|accounts)",
		func() Fault { return &storeTimeout{Store: "sessions", Timeout: time.Second} })
	registerFault("store-reset", "reset the replicas' connections to a store while the fault lasts (store: sessions|accounts)",
		func() Fault { return &storeReset{Store: "sessions"} })
	registerFault("store-down", "make a store unreachable; heal reconnects it (store: sessions|accounts)",
		func() Fault { return &storeDown{Store: "sessions"} })
	registerFault("store-flush", "empty a store, as FLUSHALL does (nothing to heal)",
		func() Fault { return &storeFlush{Store: "sessions"} })
}

func (f *storeLatency) String() string {
	return fmt.Sprintf("store-latency(store=%s,latency=%s,jitter=%s)", f.Store, f.Latency, f.Jitter)
}

func (f *storeLatency) Validate() error {
	if f.Latency <= 0 || f.Jitter < 0 {
		return fmt.Errorf("latency must be positive and jitter not negative")
	}
	return nil
}

func (f *storeLatency) Check(t Target) error { return checkStoreLink("store-latency", f.Store, t) }

func (f *storeLatency) Apply(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreToxic(ctx, f.Store, &Toxic{Type: "latency",
		Attributes: map[string]int{"latency": int(f.Latency.Milliseconds()), "jitter": int(f.Jitter.Milliseconds())}})
}

func (f *storeLatency) Heal(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreToxic(ctx, f.Store, nil)
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

func (f *storeReset) String() string { return "store-reset(store=" + f.Store + ")" }

func (f *storeReset) Check(t Target) error { return checkStoreLink("store-reset", f.Store, t) }

func (f *storeReset) Apply(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreToxic(ctx, f.Store, &Toxic{Type: "reset_peer", Attributes: map[string]int{"timeout": 0}})
}

func (f *storeReset) Heal(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreToxic(ctx, f.Store, nil)
}

func (f *storeDown) String() string { return "store-down(store=" + f.Store + ")" }

func (f *storeDown) Check(t Target) error { return checkStoreLink("store-down", f.Store, t) }

func (f *storeDown) Apply(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreDown(ctx, f.Store)
}

func (f *storeDown) Heal(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreUp(ctx, f.Store)
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
