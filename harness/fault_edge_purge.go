package harness

import "context"

// edgePurge empties the edge cache, as an operator does after a bad rule;
// it has nothing to heal.
type edgePurge struct{}

func init() {
	registerFault("edge-purge", "empty the edge cache (nothing to heal)", func() Fault { return &edgePurge{} })
}

func (f *edgePurge) String() string { return "edge-purge" }

func (f *edgePurge) Check(t Target) error {
	if _, ok := t.(EdgePurger); !ok {
		return unsupported("edge-purge", t)
	}
	return nil
}

func (f *edgePurge) Apply(ctx context.Context, t Target) error { return t.(EdgePurger).PurgeEdge(ctx) }

func (f *edgePurge) Heal(context.Context, Target) error { return nil }
