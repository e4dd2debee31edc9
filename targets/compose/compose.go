// Package compose runs a user's own stack from a Docker Compose file with
// testcontainers-go's compose support, and offers the service faults on its
// services by name: pause, kill, restart, and exec of a command (a
// configuration change). The load goes to one entry service's published
// port, reached on 127.0.0.1.
//
// The stack learns the run's population from the environment it is
// interpolated with: CROSSTALK_SEED, CROSSTALK_USERS and CROSSTALK_MIX, for
// a seeding job declared in the compose file itself; the run's preflight
// then checks that seeded users can log in.
package compose

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tccompose "github.com/testcontainers/testcontainers-go/modules/compose"
	"gopkg.in/yaml.v3"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/internal/docker"
)

// Stack is a user's compose stack.
type Stack struct {
	file     string
	entry    string   // service:port the load goes to
	volumes  []string // the file's own (not external) named volumes
	networks []string // the file's own networks, and its default one
	progress func(string)
	runID    string

	services []string
	dc       *tccompose.DockerCompose
	cli      *testcontainers.DockerClient
}

var (
	_ harness.Target        = (*Stack)(nil)
	_ harness.Services      = (*Stack)(nil)
	_ harness.ServiceExecer = (*Stack)(nil)
)

// New returns the stack of the compose file; entry is SERVICE:PORT, the
// service and container port the load goes to (through the port the file
// publishes for it). It reads the file now, so that a missing file or an
// unknown entry service is bad input before anything starts.
func New(file, entry string, progress func(string)) (*Stack, error) {
	if progress == nil {
		progress = func(string) {}
	}
	s := &Stack{file: file, entry: entry, progress: progress,
		runID: docker.NewRunID()}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, harness.BadInput("--compose-file: %v", err)
	}
	var doc struct {
		Services map[string]struct {
			Ports []any `yaml:"ports"`
		} `yaml:"services"`
		Volumes map[string]struct {
			External any `yaml:"external"`
		} `yaml:"volumes"`
		Networks map[string]struct {
			External any `yaml:"external"`
		} `yaml:"networks"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, harness.BadInput("%s: %v", file, err)
	}
	if len(doc.Services) == 0 {
		return nil, harness.BadInput("%s: no services", file)
	}
	var published []string
	for name, svc := range doc.Services {
		s.services = append(s.services, name)
		if len(svc.Ports) > 0 {
			published = append(published, name)
		}
	}
	for name, v := range doc.Volumes {
		if v.External == nil || v.External == false {
			s.volumes = append(s.volumes, name)
		}
	}
	// The default network compose creates is the file's own too, and is
	// labelled like its services, so that down finds it.
	s.networks = []string{"default"}
	for name, n := range doc.Networks {
		if name != "default" && (n.External == nil || n.External == false) {
			s.networks = append(s.networks, name)
		}
	}
	sort.Strings(s.services)
	sort.Strings(s.volumes)
	sort.Strings(s.networks)
	sort.Strings(published)
	if s.entry == "" {
		return nil, harness.BadInput("--entry SERVICE:PORT: name the service the load goes to, and its container port (services publishing ports in %s: %s)",
			file, strings.Join(published, ", "))
	}
	svc, port, ok := strings.Cut(s.entry, ":")
	if !ok || port == "" {
		return nil, harness.BadInput("--entry %q: want SERVICE:PORT, such as edge:8080", s.entry)
	}
	if !slices.Contains(s.services, svc) {
		return nil, harness.BadInput("--entry %q: %s has no service %q (it has: %s)", s.entry, file, svc, strings.Join(s.services, ", "))
	}
	return s, nil
}

// Name implements harness.Target.
func (s *Stack) Name() string { return "compose" }

// RunID is the value of the crosstalk.run label of this stack's objects.
func (s *Stack) RunID() string { return s.runID }

// Start implements harness.Target: compose up, waiting for the services to
// be running (and healthy where they declare a health check), then the entry
// service's published port on 127.0.0.1.
func (s *Stack) Start(ctx context.Context, pop *population.Population) (string, error) {
	// Every service and volume is labelled with the run, for crosstalk
	// down, by an override file merged over the user's.
	var override strings.Builder
	override.WriteString("services:\n")
	labels := docker.Labels(s.runID, false)
	label := func(name string) {
		fmt.Fprintf(&override, "  %q:\n    labels:\n", name)
		for _, k := range []string{docker.Label, docker.OwnerLabel} {
			fmt.Fprintf(&override, "      %s: %q\n", k, labels[k])
		}
	}
	for _, name := range s.services {
		label(name)
	}
	if len(s.volumes) > 0 {
		override.WriteString("volumes:\n")
		for _, name := range s.volumes {
			label(name)
		}
	}
	override.WriteString("networks:\n")
	for _, name := range s.networks {
		label(name)
	}
	docker.Configure() // before testcontainers reads its environment
	dc, err := tccompose.NewDockerComposeWith(tccompose.WithStackFiles(s.file),
		tccompose.WithStackReaders(strings.NewReader(override.String())),
		tccompose.StackIdentifier("crosstalk-"+strings.ToLower(s.runID)))
	if err != nil {
		return "", harness.TargetFailure(fmt.Errorf("compose: %w", err))
	}
	s.dc = dc
	if s.cli, err = docker.NewClient(ctx); err != nil {
		return "", harness.TargetFailure(fmt.Errorf("the compose target needs a Docker engine: %w", err))
	}
	mix := pop.Mix()
	env := map[string]string{
		"CROSSTALK_SEED":  strconv.FormatUint(pop.Seed(), 10),
		"CROSSTALK_USERS": strconv.Itoa(pop.Size()),
		"CROSSTALK_MIX":   fmt.Sprintf("%g,%g,%g", mix.Legacy, mix.MigrationPending, mix.Migrated),
		"CROSSTALK_RUN":   s.runID,
	}
	s.progress(fmt.Sprintf("compose up %s (run %s, %d users, seed %d)", s.file, s.runID, pop.Size(), pop.Seed()))
	t0 := time.Now()
	if err := dc.WithEnv(env).Up(ctx, tccompose.Wait(true)); err != nil {
		return "", harness.TargetFailure(fmt.Errorf("compose up %s: %w", s.file, err))
	}
	s.progress(fmt.Sprintf("compose stack up in %.1fs", time.Since(t0).Seconds()))
	svc, port, _ := strings.Cut(s.entry, ":")
	addr, err := s.published(ctx, svc, port)
	if err != nil {
		return "", err
	}
	base := "http://" + addr
	return base, waitHTTP(ctx, base+"/", 30*time.Second)
}

// published returns the 127.0.0.1 address that service's port is published
// on; a port published on every interface is refused, since it would expose
// the stack under test to the network.
func (s *Stack) published(ctx context.Context, service, port string) (string, error) {
	c, err := s.dc.ServiceContainer(ctx, service)
	if err != nil {
		return "", harness.TargetFailure(fmt.Errorf("entry service %s: %w", service, err))
	}
	insp, err := c.Inspect(ctx)
	if err != nil {
		return "", harness.TargetFailure(err)
	}
	for p, bindings := range insp.NetworkSettings.Ports {
		if p.Port() != port {
			continue
		}
		for _, b := range bindings {
			if b.HostIP.IsValid() && b.HostIP.IsLoopback() {
				return net.JoinHostPort(b.HostIP.String(), b.HostPort), nil
			}
		}
		return "", harness.BadInput("%s: service %s publishes port %s on %v, not on 127.0.0.1: write ports: [\"127.0.0.1::%s\"]",
			s.file, service, port, bindings, port)
	}
	return "", harness.BadInput("%s: service %s does not publish port %s: add ports: [\"127.0.0.1::%s\"]", s.file, service, port, port)
}

// Services implements harness.Services: the compose file's services.
func (s *Stack) Services() []string { return s.services }

// ServiceActions implements harness.Services.
func (s *Stack) ServiceActions() []harness.ServiceAction {
	return []harness.ServiceAction{harness.ServicePause, harness.ServiceUnpause, harness.ServiceKill,
		harness.ServiceStart, harness.ServiceRestart}
}

// ServiceDo implements harness.Services with the Docker API; a started or
// restarted service is waited for until it runs (and is healthy, if it
// declares a health check).
func (s *Stack) ServiceDo(ctx context.Context, service string, a harness.ServiceAction) error {
	c, err := s.dc.ServiceContainer(ctx, service)
	if err != nil {
		return err
	}
	if err := docker.Action(ctx, s.cli, c.GetContainerID(), a); err != nil || (a != harness.ServiceStart && a != harness.ServiceRestart) {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		st, err := c.State(ctx)
		if err != nil {
			return err
		}
		if st.Running && (st.Health == nil || st.Health.Status == "healthy") {
			return nil
		}
		if err := harness.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s is not running (and healthy) 60s after %s", service, a)
}

// ServiceExec implements harness.ServiceExecer.
func (s *Stack) ServiceExec(ctx context.Context, service string, cmd []string) (string, error) {
	c, err := s.dc.ServiceContainer(ctx, service)
	if err != nil {
		return "", err
	}
	return docker.ExecIn(ctx, c, service, cmd)
}

// Stop implements harness.Target: compose down with volumes, then anything
// left with the run's label.
func (s *Stack) Stop(ctx context.Context) error {
	var errs []error
	if s.dc != nil {
		errs = append(errs, s.dc.Down(ctx, tccompose.RemoveOrphans(true), tccompose.RemoveVolumes(true)))
	}
	if s.cli != nil {
		errs = append(errs, docker.RemoveAll(ctx, s.cli, s.runID))
		s.cli.Close()
	}
	return errors.Join(errs...)
}

// waitHTTP waits until url answers HTTP at all: a published port is open
// before the server behind it listens.
func waitHTTP(ctx context.Context, url string, within time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(within)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return harness.TargetFailure(fmt.Errorf("the entry %s does not answer within %s: %w", url, within, err))
		}
		if err := harness.Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}
