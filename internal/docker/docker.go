// Package docker holds what every Docker-backed driver shares: the labels
// that mark a run's containers, networks and volumes, run ids, service
// actions through the Docker API, exec, and clean-up by label. The
// containers and compose targets and `crosstalk down` import it; none of
// them imports another.
package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// Label is the label every container, network and volume of a run carries,
// its value being the run id.
const Label = "crosstalk.run"

// ServiceLabel names the service a container runs.
const ServiceLabel = "crosstalk.service"

var configure sync.Once

// Configure sets testcontainers up the way crosstalk runs it, once, before
// the first Docker call (testcontainers reads its environment once):
//   - no reaper container (Ryuk would need a registry to pull from; a run's
//     objects are removed by label instead);
//   - the stack reached on 127.0.0.1, where its ports are mapped, instead of
//     a gateway address testcontainers guesses when it runs in a container;
//   - testcontainers' own log lines only with CROSSTALK_DEBUG set.
//
// A variable the user set is kept.
func Configure() {
	configure.Do(func() {
		setDefault("TESTCONTAINERS_RYUK_DISABLED", "true")
		setDefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
		if os.Getenv("CROSSTALK_DEBUG") == "" {
			tclog.SetDefault(tclog.NewNoopLogger())
		}
	})
}

func setDefault(k, v string) {
	if os.Getenv(k) == "" {
		_ = os.Setenv(k, v)
	}
}

// NewClient configures testcontainers (Configure) and returns a client of
// the Docker engine.
func NewClient(ctx context.Context) (*testcontainers.DockerClient, error) {
	Configure()
	return testcontainers.NewDockerClientWithOpts(ctx)
}

// NewRunID returns a fresh value for the crosstalk.run label: the UTC time
// and random bytes, so that two runs started in the same second differ.
func NewRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

// Action does a service action to a container through the Docker API; a
// restart gives the process two seconds to stop before it is killed.
func Action(ctx context.Context, cli *testcontainers.DockerClient, id string, a harness.ServiceAction) error {
	var err error
	switch a {
	case harness.ServicePause:
		_, err = cli.ContainerPause(ctx, id, client.ContainerPauseOptions{})
	case harness.ServiceUnpause:
		_, err = cli.ContainerUnpause(ctx, id, client.ContainerUnpauseOptions{})
	case harness.ServiceKill:
		_, err = cli.ContainerKill(ctx, id, client.ContainerKillOptions{Signal: "KILL"})
	case harness.ServiceStart:
		_, err = cli.ContainerStart(ctx, id, client.ContainerStartOptions{})
	case harness.ServiceRestart:
		timeout := 2
		_, err = cli.ContainerRestart(ctx, id, client.ContainerRestartOptions{Timeout: &timeout})
	default:
		return fmt.Errorf("unknown action %q", a)
	}
	return err
}

// ExecIn runs cmd in container c of service and returns its output; a
// non-zero exit status is an error carrying the output.
func ExecIn(ctx context.Context, c *testcontainers.DockerContainer, service string, cmd []string) (string, error) {
	if c == nil {
		return "", fmt.Errorf("no service %q", service)
	}
	code, r, err := c.Exec(ctx, cmd, tcexec.Multiplexed())
	if err != nil {
		return "", fmt.Errorf("exec %s in %s: %w", strings.Join(cmd, " "), service, err)
	}
	out, _ := io.ReadAll(r)
	if code != 0 {
		return string(out), fmt.Errorf("%s in %s exited %d: %s", strings.Join(cmd, " "), service, code, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// RemoveAll removes what Down removes, again until a pass finds nothing:
// a container the nemesis is restarting as the run ends can refuse removal
// for a moment, and a run must leave nothing behind.
func RemoveAll(ctx context.Context, cli *testcontainers.DockerClient, runID string) error {
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		var n int
		n, err = Down(ctx, cli, runID)
		if err == nil && n == 0 {
			return nil
		}
		if err != nil && harness.Sleep(ctx, time.Second) != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("removing run %s: %w (crosstalk down --run %s removes what is left)", runID, err, runID)
	}
	return nil
}

// Down removes every container, network and volume that carries the
// crosstalk.run label with value runID, or any value if runID is empty, and
// returns how many it removed.
func Down(ctx context.Context, cli *testcontainers.DockerClient, runID string) (int, error) {
	label := Label
	if runID != "" {
		label += "=" + runID
	}
	f := make(client.Filters).Add("label", label)
	var errs []error
	removed := 0
	count := func(err error) {
		if err != nil {
			errs = append(errs, err)
		} else {
			removed++
		}
	}
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, err
	}
	for _, c := range cs.Items {
		_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		count(err)
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return removed, err
	}
	for _, n := range ns.Items {
		_, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{})
		count(err)
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return removed, err
	}
	for _, v := range vs.Items {
		_, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true})
		count(err)
	}
	return removed, errors.Join(errs...)
}
