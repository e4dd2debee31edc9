package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The service faults act on one service of the stack by name: a replica
// ("replica-2"), the session store ("redis"), the edge, or any service of a
// user's compose file. They are what only real processes have: a frozen
// process keeps its sockets open and answers nothing; a killed one refuses
// connections; a restarted one loses what it kept in memory.

// serviceAction does one action to a service by name, and another on heal
// (none: nothing to heal): service-pause, service-kill and service-restart.
type serviceAction struct {
	Service string `yaml:"service" json:"service"`

	fault       string
	apply, heal ServiceAction
}

// serviceExec runs a command inside a service, such as a configuration
// reload, and its Heal command, if any, on heal.
type serviceExec struct {
	Service     string   `yaml:"service" json:"service"`
	Command     []string `yaml:"command" json:"command"`
	HealCommand []string `yaml:"heal" json:"heal"`
}

// rollingRestart restarts services one at a time, pause apart, as an
// orchestrator rolls a deployment; by default every replica of the stack.
type rollingRestart struct {
	Services []string      `yaml:"services" json:"services"`
	Pause    time.Duration `yaml:"pause" json:"pause"`
}

func init() {
	registerFault("service-pause", "freeze a service by name (docker pause); heal thaws it",
		func() Fault {
			return &serviceAction{Service: "replica-1", fault: "service-pause", apply: ServicePause, heal: ServiceUnpause}
		})
	registerFault("service-kill", "kill a service by name (SIGKILL); heal starts it again",
		func() Fault {
			return &serviceAction{Service: "replica-1", fault: "service-kill", apply: ServiceKill, heal: ServiceStart}
		})
	registerFault("service-restart", "restart a service by name (nothing to heal)",
		func() Fault {
			return &serviceAction{Service: "replica-1", fault: "service-restart", apply: ServiceRestart}
		})
	registerFault("service-exec", "run command in a service by name (a configuration change); heal runs heal, if given",
		func() Fault { return &serviceExec{} })
	registerFault("rolling-restart", "restart services one at a time, pause apart (default: every replica-N)",
		func() Fault { return &rollingRestart{Pause: 2 * time.Second} })
}

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

func (f *serviceAction) String() string { return f.fault + "(" + f.Service + ")" }

func (f *serviceAction) Check(t Target) error {
	actions := []ServiceAction{f.apply}
	if f.heal != "" {
		actions = append(actions, f.heal)
	}
	return checkService(f.fault, f.Service, t, actions...)
}

func (f *serviceAction) Apply(ctx context.Context, t Target) error {
	return serviceDo(ctx, t, f.Service, f.apply)
}

func (f *serviceAction) Heal(ctx context.Context, t Target) error {
	if f.heal == "" {
		return nil
	}
	return serviceDo(ctx, t, f.Service, f.heal)
}

func (f *serviceExec) String() string {
	return fmt.Sprintf("service-exec(%s: %s)", f.Service, strings.Join(f.Command, " "))
}

func (f *serviceExec) Validate() error {
	if f.Service == "" || len(f.Command) == 0 {
		return fmt.Errorf("service and command are required, e.g. service: web, command: [nginx, -s, reload]")
	}
	return nil
}

func (f *serviceExec) Check(t Target) error {
	if err := checkService("service-exec", f.Service, t); err != nil {
		return err
	}
	if _, ok := t.(ServiceExecer); !ok {
		return unsupported("service-exec", t)
	}
	return nil
}

func (f *serviceExec) Apply(ctx context.Context, t Target) error { return f.exec(ctx, t, f.Command) }

func (f *serviceExec) Heal(ctx context.Context, t Target) error {
	if len(f.HealCommand) == 0 {
		return nil
	}
	return f.exec(ctx, t, f.HealCommand)
}

func (f *serviceExec) exec(ctx context.Context, t Target, cmd []string) error {
	if _, err := t.(ServiceExecer).ServiceExec(ctx, f.Service, cmd); err != nil {
		return fmt.Errorf("exec in %s: %w", f.Service, err)
	}
	return nil
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
