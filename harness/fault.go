package harness

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Fault is one kind of breakage the nemesis applies and heals. Each kind is a
// small type in its own file (fault_*.go), registered by name with a
// constructor that sets its defaults; its exported fields are its scenario
// parameters. Concerns common to every fault (when it starts, how long it
// lasts) live in the FaultSpec envelope, not in the fault.
type Fault interface {
	// Check reports whether the fault can run against t, with its
	// parameters; it is called before the load starts.
	Check(t Target) error
	// Apply breaks the target and returns once the change has taken effect.
	Apply(ctx context.Context, t Target) error
	// Heal undoes Apply.
	Heal(ctx context.Context, t Target) error
	// String describes the fault with its parameters.
	String() string
}

type faultKind struct {
	doc string
	new func() Fault
}

var faultKinds = map[string]faultKind{}

// registerFault adds a fault type; each lives in its own fault_*.go file.
// Two registrations of one name are a programming error, caught at init.
func registerFault(name, doc string, new func() Fault) {
	if _, dup := faultKinds[name]; dup {
		panic("harness: fault " + name + " registered twice")
	}
	faultKinds[name] = faultKind{doc: doc, new: new}
}

// NewFault returns a fault of the named type with its default parameters;
// an unknown name is an error that lists the known ones.
func NewFault(name string) (Fault, error) {
	k, ok := faultKinds[name]
	if !ok {
		return nil, fmt.Errorf("unknown fault %q (known: %s)", name, strings.Join(FaultTypes(), ", "))
	}
	return k.new(), nil
}

// FaultTypes returns the registered fault names, sorted.
func FaultTypes() []string {
	out := make([]string, 0, len(faultKinds))
	for n := range faultKinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// FaultDoc returns the one-line description of a fault type.
func FaultDoc(name string) string { return faultKinds[name].doc }

// unsupported is the error of a fault that the target cannot apply.
func unsupported(fault string, t Target) error {
	return BadInput("fault %s is not supported by target %s", fault, t.Name())
}

// Sleep waits for d, or until ctx ends and then returns its error. Every
// pause of a fault or a target waits through it, so that Ctrl-C never waits
// out a rolling restart.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
