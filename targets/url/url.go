// Package url is the target for a stack that is already running: crosstalk
// sends the load to its base URL and starts nothing. Loads go only to
// loopback addresses unless the user allows a host by name (--allow-host).
//
// A running stack exposes no driver: the writes oracle (which reads stored
// bank details back) and the faults that act on the stack's parts are not
// available through it.
package url

import (
	"context"
	"net/url"
	"strings"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// Target is an already running stack at a base URL.
type Target struct {
	base  string
	allow []string
}

var _ harness.Target = (*Target)(nil)

// New returns the target at base; hosts in allow may be non-loopback.
func New(base string, allow []string) (*Target, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, harness.BadInput("--base-url %q: want http://host:port", base)
	}
	if err := harness.CheckTarget(base, allow); err != nil {
		return nil, err
	}
	return &Target{base: strings.TrimSuffix(base, "/"), allow: allow}, nil
}

// Name implements harness.Target.
func (t *Target) Name() string { return "url" }

// Start implements harness.Target: the stack is already up.
func (t *Target) Start(context.Context, *population.Population) (string, error) { return t.base, nil }

// Stop implements harness.Target: crosstalk did not start the stack and
// leaves it running.
func (t *Target) Stop(context.Context) error { return nil }
