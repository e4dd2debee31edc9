package harness

import (
	"slices"
	"strings"
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
