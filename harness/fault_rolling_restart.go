package harness

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// rollingRestart restarts services one at a time, pause apart, as an
// orchestrator rolls a deployment; by default every replica of the stack.
type rollingRestart struct {
	Services []string      `yaml:"services" json:"services"`
	Pause    time.Duration `yaml:"pause" json:"pause"`
}

func init() {
	registerFault("rolling-restart", "restart services one at a time, pause apart (default: every replica-N)",
		func() Fault { return &rollingRestart{Pause: 2 * time.Second} })
}

func (f *rollingRestart) String() string {
	return fmt.Sprintf("rolling-restart(%s, pause=%s)", strings.Join(f.Services, ","), f.Pause)
}

func (f *rollingRestart) Check(t Target) error {
	s, ok := t.(Services)
	if !ok {
		return unsupported("rolling-restart", t)
	}
	if len(f.Services) == 0 {
		for _, name := range s.Services() {
			if strings.HasPrefix(name, "replica-") {
				f.Services = append(f.Services, name)
			}
		}
		if len(f.Services) == 0 {
			return BadInput("rolling-restart: target %s has no replica-N service; name them with services: [...]", t.Name())
		}
	}
	for _, name := range f.Services {
		if err := checkService("rolling-restart", name, t, ServiceRestart); err != nil {
			return err
		}
	}
	return nil
}

func (f *rollingRestart) Apply(ctx context.Context, t Target) error {
	for i, name := range f.Services {
		if i > 0 {
			if err := Sleep(ctx, f.Pause); err != nil {
				return err
			}
		}
		if err := serviceDo(ctx, t, name, ServiceRestart); err != nil {
			return err
		}
	}
	return nil
}

func (f *rollingRestart) Heal(context.Context, Target) error { return nil }
