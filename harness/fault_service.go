package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// The service faults act on one service of the stack by name: a replica
// ("replica-2"), the session store ("redis"), the edge, or any service of a
// user's compose file. They are what only real processes have: a frozen
// process keeps its sockets open and answers nothing; a killed one refuses
// connections; a restarted one loses what it kept in memory.

// checkService reports whether t has service and can do actions to it.
func checkService(fault, service string, t Target, actions ...ServiceAction) error {
	s, ok := t.(Services)
	if !ok {
		return unsupported(fault, t)
	}
	if !slices.Contains(s.Services(), service) {
		return BadInput("%s: unknown service %q (target %s has: %s)", fault, service, t.Name(), strings.Join(s.Services(), ", "))
	}
	for _, a := range actions {
		if !slices.Contains(s.ServiceActions(), a) {
			return BadInput("%s: target %s cannot %s a service (use --target containers)", fault, t.Name(), a)
		}
	}
	return nil
}

func serviceDo(ctx context.Context, t Target, service string, a ServiceAction) error {
	if err := t.(Services).ServiceDo(ctx, service, a); err != nil {
		return fmt.Errorf("%s %s: %w", a, service, err)
	}
	return nil
}
