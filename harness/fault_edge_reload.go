package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// edgeReload reloads the edge cache with other rules mid-run, as an operator
// does to absorb a surge (Steam 2015, CAF 2021) or as a deploy does (Klarna
// 2021, Railway 2026), and restores the previous rules on heal.
type edgeReload struct {
	Rules string `yaml:"rules" json:"rules"`

	previous string
}

func init() {
	registerFault("edge-reload", "reload the edge cache with the named rules; heal restores the previous ones",
		func() Fault { return &edgeReload{Rules: "cache-dynamic"} })
}

func (f *edgeReload) String() string { return "edge-reload(rules=" + f.Rules + ")" }

func (f *edgeReload) Check(t Target) error {
	r, ok := t.(EdgeReloader)
	if !ok {
		return unsupported("edge-reload", t)
	}
	if !slices.Contains(r.EdgeVariants(), f.Rules) {
		return BadInput("edge-reload: unknown rules %q (known: %s)", f.Rules, strings.Join(r.EdgeVariants(), ", "))
	}
	return nil
}

func (f *edgeReload) Apply(ctx context.Context, t Target) error {
	prev, err := t.(EdgeReloader).ReloadEdge(ctx, f.Rules)
	if err != nil {
		return fmt.Errorf("edge-reload to %s: %w", f.Rules, err)
	}
	f.previous = prev
	return nil
}

func (f *edgeReload) Heal(ctx context.Context, t Target) error {
	if _, err := t.(EdgeReloader).ReloadEdge(ctx, f.previous); err != nil {
		return fmt.Errorf("edge-reload back to %s: %w", f.previous, err)
	}
	return nil
}
