package harness

import (
	"context"
	"fmt"
	"time"
)

// storeLatency delays the session store's replies on the replicas' link
// (Toxiproxy's latency toxic): with client timeouts, the ChatGPT incident's
// trigger.
type storeLatency struct {
	Latency time.Duration `yaml:"latency" json:"latency"`
	Jitter  time.Duration `yaml:"jitter" json:"jitter"`
}

func init() {
	registerFault("store-latency", "delay the session store's replies on the replicas' link by latency ± jitter",
		func() Fault { return &storeLatency{Latency: 600 * time.Millisecond, Jitter: 400 * time.Millisecond} })
}

func (f *storeLatency) String() string {
	return fmt.Sprintf("store-latency(latency=%s,jitter=%s)", f.Latency, f.Jitter)
}

func (f *storeLatency) Validate() error {
	if f.Latency <= 0 || f.Jitter < 0 {
		return fmt.Errorf("latency must be positive and jitter not negative")
	}
	return nil
}

func (f *storeLatency) Check(t Target) error {
	if _, ok := t.(StoreLink); !ok {
		return unsupported("store-latency", t)
	}
	return nil
}

func (f *storeLatency) Apply(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreLatency(ctx, f.Latency, f.Jitter)
}

func (f *storeLatency) Heal(ctx context.Context, t Target) error {
	return t.(StoreLink).StoreLatency(ctx, 0, 0)
}
