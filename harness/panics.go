package harness

import (
	"fmt"
	"runtime/debug"
	"sync/atomic"
)

// A panic in the harness (a request worker, the fault scheduler, the
// progress reporter) must not skip healing the faults, writing the report
// and stopping the target. Each goroutine the run starts recovers, records
// the first panic with its stack, and carries on or stops cleanly; the run
// then ends as a harness error (exit 3), with the stack in the report.

// panicked holds the first panic of a run.
type panicked struct {
	first atomic.Pointer[PanicRecord]
}

// PanicRecord is a recovered panic, for the report.
type PanicRecord struct {
	Where string `json:"where"`
	Value string `json:"value"`
	Stack string `json:"stack"`
}

// recovered records v, the value of a recover() in where, if it is a
// panic, and returns it as an error (nil when v is nil).
func (p *panicked) recovered(where string, v any) error {
	if v == nil {
		return nil
	}
	r := &PanicRecord{Where: where, Value: fmt.Sprint(v), Stack: string(debug.Stack())}
	p.first.CompareAndSwap(nil, r)
	return fmt.Errorf("harness panic in %s: %v", where, v)
}

// testHookRoundTrip, when set by a test, runs at the start of every
// request the engine sends: a way to inject a panic into a worker.
var testHookRoundTrip func()
