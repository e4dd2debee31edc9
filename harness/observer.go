package harness

import "time"

// Observer watches a run as it goes: live metrics (a Prometheus endpoint)
// are one. Response, Login and Violation are called from the request
// workers as things happen, so they must be cheap and safe for concurrent
// use; Progress about twice a second. The harness knows nothing of what an
// observer does with them.
type Observer interface {
	// Response is one response of step, with its status (0: none came)
	// and latency; failed is a transport error or a 5xx.
	Response(step string, status int, latency time.Duration, failed bool)
	// Login is one login attempt.
	Login(succeeded bool)
	// Violation is one violation found by oracle in field.
	Violation(oracle, field string)
	// Progress is the run's state now.
	Progress(Progress)
}
