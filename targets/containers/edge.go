package containers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
)

// EdgeVariants implements harness.EdgeReloader.
func (s *Stack) EdgeVariants() []string { return portal.EdgeVariants() }

func (s *Stack) renderEdge(rules string) ([]byte, string, error) {
	r, err := portal.EdgeRulesOf(rules, s.defects)
	if err != nil {
		return nil, "", err
	}
	header := rules + "#" + strconv.Itoa(s.edgeGen)
	s.edgeWant = header
	return renderNginx(r, header, s.replicaNames()), header, nil
}

// ReloadEdge implements harness.EdgeReloader: it renders nginx.conf for the
// rules, copies it in, checks it with nginx -t, reloads, and returns once
// new connections are served with it (the X-Edge-Config header), since
// nginx keeps its old configuration when the new one does not load.
func (s *Stack) ReloadEdge(ctx context.Context, rules string) (string, error) {
	s.edgeMu.Lock()
	defer s.edgeMu.Unlock()
	prev := s.edgeRules
	return prev, s.reloadLocked(ctx, rules)
}

func (s *Stack) reloadLocked(ctx context.Context, rules string) error {
	s.edgeGen++
	conf, header, err := s.renderEdge(rules)
	if err != nil {
		return err
	}
	edge := s.container("edge")
	if err := edge.CopyToContainer(ctx, conf, "/etc/nginx/nginx.conf", 0o644); err != nil {
		return fmt.Errorf("copying nginx.conf: %w", err)
	}
	if _, err := s.ServiceExec(ctx, "edge", []string{"nginx", "-t", "-q"}); err != nil {
		return fmt.Errorf("nginx refuses the %s rules: %w", rules, err)
	}
	if _, err := s.ServiceExec(ctx, "edge", []string{"nginx", "-s", "reload"}); err != nil {
		return err
	}
	if err := s.waitEdge(ctx, header); err != nil {
		return err
	}
	s.edgeRules = rules
	return nil
}

// waitEdge polls the edge until it serves with the configuration header.
func (s *Stack) waitEdge(ctx context.Context, header string) error {
	deadline := time.Now().Add(15 * time.Second)
	got, streak := "", 0
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/healthz", nil)
		if err != nil {
			return err
		}
		if resp, err := s.http.Do(req); err == nil {
			resp.Body.Close()
			if got = resp.Header.Get(portal.EdgeConfigHeader); got == header {
				// Old workers accept new connections for a moment after a
				// reload: several answers in a row prove the new ones serve.
				if streak++; streak == 5 {
					return nil
				}
				continue
			}
		}
		streak = 0
		if err := harness.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("the edge did not take its new configuration: it serves %q, want %q", got, header)
}

// PurgeEdge implements harness.EdgePurger. Open-source nginx has no purge:
// the cache files are deleted, and nginx treats an entry whose file is gone
// as a miss.
func (s *Stack) PurgeEdge(ctx context.Context) error {
	_, err := s.ServiceExec(ctx, "edge", []string{"find", "/var/cache/crosstalk", "-type", "f", "-delete"})
	return err
}
