package containers

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strings"

	mobynet "github.com/moby/moby/api/types/network"

	"github.com/moby/moby/api/types/container"
	"github.com/testcontainers/testcontainers-go"
)

// loopbackPort exposes port and maps it to hostPort on 127.0.0.1 only: a
// container without an explicit binding would be published on every
// interface of the machine.
func loopbackPort(port, hostPort string) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		req.ExposedPorts = append(req.ExposedPorts, port)
		prev := req.HostConfigModifier
		req.HostConfigModifier = func(hc *container.HostConfig) {
			if prev != nil {
				prev(hc)
			}
			if hc.PortBindings == nil {
				hc.PortBindings = mobynet.PortMap{}
			}
			hc.PortBindings[mobynet.MustParsePort(port)] = []mobynet.PortBinding{
				{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: hostPort}}
		}
		return nil
	}
}

// freePort returns a port free on 127.0.0.1 now. The port is pinned in the
// container's binding so that it survives a restart of the container.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port, nil
}

// logTail returns the last lines of a failed container's log, for the error.
func (s *Stack) logTail(ctx context.Context, c *testcontainers.DockerContainer) string {
	if c == nil {
		return ""
	}
	rc, err := c.Logs(ctx)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	if len(lines) == 0 || lines[0] == "" {
		return ""
	}
	return "\n  container log:\n    " + strings.Join(lines, "\n    ")
}
