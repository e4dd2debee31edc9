package harness

import (
	"context"
)

// serviceAction does one action to a service by name, and another on heal
// (none: nothing to heal): service-pause, service-kill and service-restart.
type serviceAction struct {
	Service string `yaml:"service" json:"service"`

	fault       string
	apply, heal ServiceAction
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
