package containers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
	"github.com/moby/moby/client"
)

// Releases implements harness.Deployer.
func (s *Stack) Releases() []string { return []string{portal.V1, portal.V2} }

// Deploy implements harness.Deployer as an orchestrator rolls a release:
// each replica's container is replaced by one running release, one at a
// time, pause apart, with nginx reloaded onto the new container.
func (s *Stack) Deploy(ctx context.Context, release string, pause time.Duration) (string, error) {
	if !slices.Contains(s.Releases(), release) {
		return "", fmt.Errorf("unknown release %q (known: %s)", release, strings.Join(s.Releases(), ", "))
	}
	s.deployMu.Lock()
	defer s.deployMu.Unlock()
	previous := s.release
	s.release = release
	for i, name := range s.replicaNames() {
		if i > 0 {
			if err := harness.Sleep(ctx, pause); err != nil {
				return previous, err
			}
		}
		if c := s.container(name); c != nil {
			if _, err := s.cli.ContainerRemove(ctx, c.GetContainerID(), client.ContainerRemoveOptions{Force: true}); err != nil {
				return previous, fmt.Errorf("removing %s: %w", name, err)
			}
		}
		if err := s.runReplica(ctx, i, name); err != nil {
			return previous, err
		}
		s.edgeMu.Lock()
		err := s.reloadLocked(ctx, s.edgeRules)
		s.edgeMu.Unlock()
		if err != nil {
			return previous, err
		}
	}
	return previous, nil
}
