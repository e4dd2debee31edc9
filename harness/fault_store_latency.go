package harness

import (
	"context"
	"fmt"
	"time"
)

// storeLatency delays the store's replies on the replicas' link (Toxiproxy's
// latency toxic): with client timeouts, the ChatGPT incident's trigger.
type storeLatency struct {
	Store   string        `yaml:"store" json:"store"`
	Latency time.Duration `yaml:"latency" json:"latency"`
	Jitter  time.Duration `yaml:"jitter" json:"jitter"`
}

func init() {
	registerFault("store-latency", "delay a store's replies on the replicas' links by latency ± jitter (store: sessions|accounts)",
		func() Fault {
			return &storeLatency{Store: "sessions", Latency: 600 * time.Millisecond, Jitter: 400 * time.Millisecond}
		})
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
