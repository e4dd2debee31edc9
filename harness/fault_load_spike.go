package harness

import (
	"context"
	"errors"
	"fmt"
)

// loadSpike multiplies the request rate while it lasts: a surge of traffic
// (the Steam DoS, a Sunday-evening rush, a burst of certificate requests).
// It acts on the load, not on the target, so every target supports it.
type loadSpike struct {
	Factor float64 `yaml:"factor" json:"factor"`

	pacer *profilePacer
}

func init() {
	registerFault("load-spike", "multiply the request rate by factor while the fault lasts",
		func() Fault { return &loadSpike{Factor: 8} })
}

// loadFault is a fault on the load itself; the nemesis hands it the pacer.
type loadFault interface{ bindPacer(*profilePacer) }

func (f *loadSpike) bindPacer(p *profilePacer) { f.pacer = p }

func (f *loadSpike) String() string { return fmt.Sprintf("load-spike(factor=%g)", f.Factor) }

func (f *loadSpike) Validate() error {
	if f.Factor <= 0 || f.Factor > 1000 {
		return fmt.Errorf("factor %g: want a multiplier between 0 and 1000", f.Factor)
	}
	return nil
}

func (f *loadSpike) Check(Target) error { return nil }

func (f *loadSpike) Apply(context.Context, Target) error {
	if f.pacer == nil {
		return errors.New("load-spike: no load to shape")
	}
	f.pacer.setFactor(f.Factor)
	return nil
}

func (f *loadSpike) Heal(context.Context, Target) error {
	if f.pacer != nil {
		f.pacer.setFactor(1)
	}
	return nil
}
