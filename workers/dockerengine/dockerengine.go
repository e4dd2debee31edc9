// Package dockerengine starts a run's workers as containers of the
// crosstalk image on the target's private Docker network: each container
// gets what a pod of the Kubernetes Indexed Job gets (JOB_COMPLETION_INDEX
// and the coordinator's address) and runs the same command, so a run with
// --engine docker exercises the pods' code path over a real network.
package dockerengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"

	"github.com/crosstalk-dev/crosstalk/internal/docker"
	"github.com/crosstalk-dev/crosstalk/workers"
)

// Network is a target whose services containers reach on its private
// network: the containers target.
type Network interface {
	// NetworkName is the network's name.
	NetworkName() string
	// Internal maps the stack's URLs as this machine reaches them to the
	// URLs a container on the network reaches the same services by.
	Internal() map[string]string
	// ContainerLabels are the labels of a container of the run, so that
	// the run's cleanup removes it.
	ContainerLabels(service string) map[string]string
}

// Engine is the workers.Launcher of --engine docker.
type Engine struct {
	Image  string
	Target Network
	// LogDir receives each worker's log when it ends.
	LogDir string
	Status func(string)

	mu         sync.Mutex
	containers []*testcontainers.DockerContainer
	logged     map[int]bool
}

var _ workers.Launcher = (*Engine)(nil)

// BridgeGateway returns the address of the host on Docker's default
// bridge: where the coordinator listens so that the workers' containers,
// on another private network, reach it (the host answers on all its
// addresses), and nothing beyond this machine does.
func BridgeGateway(ctx context.Context) (string, error) {
	cli, err := docker.NewClient(ctx)
	if err != nil {
		return "", fmt.Errorf("the docker engine needs a Docker engine: %w", err)
	}
	defer cli.Close()
	nw, err := cli.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		return "", fmt.Errorf("inspecting Docker's bridge network: %w", err)
	}
	for _, c := range nw.Network.IPAM.Config {
		if c.Gateway.IsValid() && c.Gateway.Is4() {
			return c.Gateway.String(), nil
		}
	}
	// The engine may leave the gateway out of the network's description:
	// the bridge's interface on this machine has it.
	if name := nw.Network.Options["com.docker.network.bridge.name"]; name != "" {
		if ifc, err := net.InterfaceByName(name); err == nil {
			addrs, _ := ifc.Addrs()
			for _, a := range addrs {
				if ip, ok := a.(*net.IPNet); ok && ip.IP.To4() != nil {
					return ip.IP.String(), nil
				}
			}
		}
	}
	return "", errors.New("Docker's bridge network has no IPv4 gateway for the coordinator to listen on")
}

// Rewrite gives an assignment the stack's URLs as the workers' containers
// reach them; those hosts are the harness's own containers, so the workers
// may send load there.
func Rewrite(n Network) func(*workers.Assignment) error {
	return func(a *workers.Assignment) error {
		in := n.Internal()
		move := func(u string) (string, error) {
			v, ok := in[u]
			if !ok {
				return "", fmt.Errorf("%s is not a service of the stack's network", u)
			}
			p, err := url.Parse(v)
			if err != nil {
				return "", err
			}
			a.AllowHosts = append(a.AllowHosts, p.Hostname())
			return v, nil
		}
		var err error
		if a.Base, err = move(a.Base); err != nil {
			return err
		}
		for name, u := range a.Hosts {
			if a.Hosts[name], err = move(u); err != nil {
				return err
			}
		}
		return nil
	}
}

// Launch implements workers.Launcher.
func (e *Engine) Launch(ctx context.Context, coordinator string, n int, exited func(int, error)) error {
	if e.LogDir != "" {
		if err := os.MkdirAll(e.LogDir, 0o755); err != nil {
			return err
		}
	}
	for i := range n {
		name := "worker-" + strconv.Itoa(i)
		c, err := testcontainers.Run(ctx, e.Image,
			network.WithNetworkName([]string{name}, e.Target.NetworkName()),
			testcontainers.WithName("crosstalk-"+e.Target.ContainerLabels(name)[docker.Label]+"-"+name),
			testcontainers.WithLabels(e.Target.ContainerLabels(name)),
			testcontainers.WithEnv(map[string]string{workers.EnvIndex: strconv.Itoa(i), workers.EnvCoordinator: coordinator}),
			testcontainers.WithCmd("worker"))
		if c != nil {
			e.mu.Lock()
			e.containers = append(e.containers, c)
			e.mu.Unlock()
		}
		if err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
		if e.Status != nil {
			e.Status(fmt.Sprintf("worker %d started (container %s)", i, c.GetContainerID()[:12]))
		}
		go e.wait(ctx, i, c, exited)
	}
	return nil
}

// wait reports the worker's exit, with its status, and keeps its log.
func (e *Engine) wait(ctx context.Context, i int, c *testcontainers.DockerContainer, exited func(int, error)) {
	for {
		st, err := c.State(context.Background())
		if err != nil {
			exited(i, fmt.Errorf("its container is gone: %w", err))
			return
		}
		if !st.Running {
			e.keepLog(i, c)
			var why error
			if st.ExitCode != 0 || st.OOMKilled {
				why = fmt.Errorf("container exit %d%s", st.ExitCode, map[bool]string{true: ", OOM-killed"}[st.OOMKilled])
			}
			exited(i, why)
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (e *Engine) keepLog(i int, c *testcontainers.DockerContainer) {
	e.mu.Lock()
	done := e.logged[i]
	if e.logged == nil {
		e.logged = map[int]bool{}
	}
	e.logged[i] = true
	e.mu.Unlock()
	if e.LogDir == "" || done {
		return
	}
	r, err := c.Logs(context.Background())
	if err != nil {
		return
	}
	defer r.Close()
	f, err := os.Create(filepath.Join(e.LogDir, fmt.Sprintf("worker-%d.log", i)))
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.Copy(f, r)
}

// Stop implements workers.Launcher: it keeps the workers' logs and
// removes their containers.
func (e *Engine) Stop() {
	e.mu.Lock()
	cs := e.containers
	e.containers = nil
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			e.keepLog(i, c)
			_ = c.Terminate(ctx)
		})
	}
	wg.Wait()
}
