package harness

import (
	"context"
	"fmt"
	"strings"
)

// serviceExec runs a command inside a service, such as a configuration
// reload, and its Heal command, if any, on heal.
type serviceExec struct {
	Service     string   `yaml:"service" json:"service"`
	Command     []string `yaml:"command" json:"command"`
	HealCommand []string `yaml:"heal" json:"heal"`
}

func init() {
	registerFault("service-exec", "run command in a service by name (a configuration change); heal runs heal, if given",
		func() Fault { return &serviceExec{} })
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
