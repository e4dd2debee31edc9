package containers

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/internal/docker"
	"github.com/jackc/pgx/v5"
	"github.com/testcontainers/testcontainers-go"
)

// Services implements harness.Services.
func (s *Stack) Services() []string {
	return append([]string{"edge", "idp", "postgres", "redis", "toxiproxy"}, s.replicaNames()...)
}

// ServiceActions implements harness.Services.
func (s *Stack) ServiceActions() []harness.ServiceAction {
	return []harness.ServiceAction{harness.ServicePause, harness.ServiceUnpause, harness.ServiceKill,
		harness.ServiceStart, harness.ServiceRestart}
}

func (s *Stack) container(service string) *testcontainers.DockerContainer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.containers[service]
}

// ServiceDo implements harness.Services with the Docker API. A started or
// restarted service is waited for until it answers; after a replica comes
// back, nginx is reloaded with the same rules, since it resolves the
// replicas' names only when it loads its configuration.
func (s *Stack) ServiceDo(ctx context.Context, service string, a harness.ServiceAction) error {
	c := s.container(service)
	if c == nil {
		return fmt.Errorf("no service %q in run %s", service, s.runID)
	}
	if err := docker.Action(ctx, s.cli, c.GetContainerID(), a); err != nil || (a != harness.ServiceStart && a != harness.ServiceRestart) {
		return err
	}
	if err := s.waitReady(ctx, service); err != nil {
		return err
	}
	if strings.HasPrefix(service, "replica-") {
		s.edgeMu.Lock()
		defer s.edgeMu.Unlock()
		return s.reloadLocked(ctx, s.edgeRules)
	}
	return nil
}

// waitReady waits until service answers on its port again.
func (s *Stack) waitReady(ctx context.Context, service string) error {
	addr := s.ports[service]
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		switch {
		case service == "postgres":
			var conn *pgx.Conn
			if conn, err = pgx.Connect(ctx, "postgres://postgres@"+addr+"/postgres?sslmode=disable"); err == nil {
				err = conn.Ping(ctx)
				conn.Close(ctx)
			}
		case service == "redis":
			err = redisPing(ctx, addr)
		default:
			path := "/healthz"
			if service == "toxiproxy" {
				path = "/version"
			}
			var resp *http.Response
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
			if resp, err = s.http.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("%s answers %s", path, resp.Status)
				}
			}
		}
		if err == nil {
			return nil
		}
		if err := harness.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s did not come back within 30s: %w", service, err)
}

func redisPing(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf[:n]), "+PONG") {
		return fmt.Errorf("redis answers %q", buf[:n])
	}
	return nil
}

// ServiceExec implements harness.ServiceExecer.
func (s *Stack) ServiceExec(ctx context.Context, service string, cmd []string) (string, error) {
	return docker.ExecIn(ctx, s.container(service), service, cmd)
}
