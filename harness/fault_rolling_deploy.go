package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// rollingDeploy moves the replicas to another release one at a time, so
// that old and new versions serve side by side; heal rolls back the same way.
type rollingDeploy struct {
	Release string        `yaml:"release" json:"release"`
	Pause   time.Duration `yaml:"pause" json:"pause"`

	previous string
}

func init() {
	registerFault("rolling-deploy", "move the replicas to release one at a time, pause apart; heal rolls back",
		func() Fault { return &rollingDeploy{Release: "v2", Pause: time.Second} })
}

func (f *rollingDeploy) String() string { return "rolling-deploy(release=" + f.Release + ")" }

func (f *rollingDeploy) Check(t Target) error {
	d, ok := t.(Deployer)
	if !ok {
		return unsupported("rolling-deploy", t)
	}
	if !slices.Contains(d.Releases(), f.Release) {
		return BadInput("rolling-deploy: unknown release %q (known: %s)", f.Release, strings.Join(d.Releases(), ", "))
	}
	return nil
}

func (f *rollingDeploy) Apply(ctx context.Context, t Target) error {
	prev, err := t.(Deployer).Deploy(ctx, f.Release, f.Pause)
	if prev != "" {
		// Kept even when the deploy failed or was cut short: the replicas
		// it moved must be rolled back to it.
		f.previous = prev
	}
	if err != nil {
		return fmt.Errorf("deploying %s: %w", f.Release, err)
	}
	return nil
}

func (f *rollingDeploy) Heal(ctx context.Context, t Target) error {
	if _, err := t.(Deployer).Deploy(ctx, f.previous, f.Pause); err != nil {
		return fmt.Errorf("rolling back to %s: %w", f.previous, err)
	}
	return nil
}
