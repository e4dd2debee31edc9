// Package containers runs the reference portal stack in Docker containers
// through testcontainers-go: nginx as the edge cache, N portal replicas,
// Redis for sessions, PostgreSQL for accounts, and a Toxiproxy on every
// replica's links to Redis and PostgreSQL, all on one private network per
// run. The harness reaches the stack only through ports mapped on
// 127.0.0.1. Every container carries the label crosstalk.run=RUN-ID, and
// Stop (or crosstalk down) removes everything with it.
//
// The images are built locally by make images (images/build.sh); Images
// names them, and every name can be pointed elsewhere.
package containers

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/internal/docker"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
	"github.com/crosstalk-dev/crosstalk/targets/reference"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"golang.org/x/sync/errgroup"
)

// DefaultReplicas is how many portal replicas the stack runs.
const DefaultReplicas = 3

// Ports inside the private network.
const (
	portHTTP      = "8080/tcp"
	portRedis     = "6379/tcp"
	portPostgres  = "5432/tcp"
	portToxiproxy = "8474/tcp"
	// The replicas' links: replica i reaches Redis on toxiproxy:7000+i and
	// PostgreSQL on toxiproxy:8000+i.
	linkSessions = 7000
	linkAccounts = 8000
)

// Stack is the reference stack in containers.
type Stack struct {
	replicas int
	defects  portal.DefectSet
	images   Images
	progress func(string)
	runID    string
	keep     bool
	up       bool // Start completed

	cli        *testcontainers.DockerClient
	net        *testcontainers.DockerNetwork
	mu         sync.Mutex
	containers map[string]*testcontainers.DockerContainer
	ports      map[string]string // service -> 127.0.0.1:port
	toxi       *toxiclient.Client
	db         *pgxpool.Pool // the harness's own read-back connection
	http       *http.Client

	deployMu sync.Mutex
	release  string // the replicas' release

	edgeMu    sync.Mutex
	edgeRules string
	edgeGen   int
	edgeWant  string
	base      string
}

var (
	_ harness.Target        = (*Stack)(nil)
	_ harness.EdgeReloader  = (*Stack)(nil)
	_ harness.EdgePurger    = (*Stack)(nil)
	_ harness.StoreLink     = (*Stack)(nil)
	_ harness.StoreFlusher  = (*Stack)(nil)
	_ harness.Services      = (*Stack)(nil)
	_ harness.ServiceExecer = (*Stack)(nil)
	_ harness.Deployer      = (*Stack)(nil)
	_ harness.Auditor       = (*Stack)(nil)
	_ harness.AccountReader = (*Stack)(nil)
	_ harness.HostProvider  = (*Stack)(nil)
)

// Option configures a Stack.
type Option func(*Stack)

// WithReplicas sets the number of portal replicas.
func WithReplicas(n int) Option { return func(s *Stack) { s.replicas = n } }

// WithDefects switches reference-portal defects on.
func WithDefects(d portal.DefectSet) Option { return func(s *Stack) { s.defects = d } }

// WithImages names the images.
func WithImages(im Images) Option { return func(s *Stack) { s.images = im } }

// WithProgress reports each step of bringing the stack up.
func WithProgress(f func(string)) Option { return func(s *Stack) { s.progress = f } }

// WithKeep leaves a started stack running on Stop, for crosstalk up
// --detach; a stack that failed to start is removed all the same.
func WithKeep() Option { return func(s *Stack) { s.keep = true } }

// New returns a stack configured by opts; Start brings it up.
func New(opts ...Option) *Stack {
	s := &Stack{replicas: DefaultReplicas, images: DefaultImages(), progress: func(string) {},
		runID: docker.NewRunID(), containers: map[string]*testcontainers.DockerContainer{}, ports: map[string]string{},
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name implements harness.Target.
func (s *Stack) Name() string { return "containers" }

// RunID returns the value of the crosstalk.run label on the stack's
// containers.
func (s *Stack) RunID() string { return s.runID }

// Endpoints returns each service's address on 127.0.0.1, for crosstalk up.
func (s *Stack) Endpoints() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.ports))
	for k, v := range s.ports {
		out[k] = v
	}
	return out
}

func (s *Stack) replicaNames() []string {
	out := make([]string, s.replicas)
	for i := range out {
		out[i] = "replica-" + strconv.Itoa(i+1)
	}
	return out
}

// Start implements harness.Target.
func (s *Stack) Start(ctx context.Context, pop *population.Population) (string, error) {
	if s.replicas < 1 {
		return "", harness.BadInput("replicas: want at least 1, got %d", s.replicas)
	}
	cli, err := docker.NewClient(ctx)
	if err != nil {
		return "", harness.TargetFailure(fmt.Errorf("the containers target needs a Docker engine: %w", err))
	}
	s.cli = cli
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		return "", harness.TargetFailure(fmt.Errorf("the containers target needs a Docker engine, and none answers: %w", err))
	}
	for _, ref := range s.images.list() {
		if _, err := cli.ImageInspect(ctx, ref); err != nil {
			return "", harness.TargetFailure(fmt.Errorf("image %s is missing: build the images with make images, or name another with --image NAME=REF", ref))
		}
	}
	s.progress("run " + s.runID + ": creating the private network")
	s.net, err = network.New(ctx, network.WithLabels(docker.Labels(s.runID, s.keep)))
	if err != nil {
		return "", fmt.Errorf("creating the network: %w", err)
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return s.run(gctx, "postgres", s.images.Postgres, portPostgres,
			testcontainers.WithEnv(map[string]string{"POSTGRES_HOST_AUTH_METHOD": "trust"}),
			testcontainers.WithWaitStrategy(wait.ForLog("database system is ready to accept connections")))
	})
	g.Go(func() error {
		return s.run(gctx, "redis", s.images.Redis, portRedis,
			testcontainers.WithCmd("redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no", "--maxclients", "4096"),
			testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections")))
	})
	g.Go(func() error {
		return s.run(gctx, "toxiproxy", s.images.Crosstalk, portToxiproxy,
			testcontainers.WithCmd("serve-toxiproxy", "--listen", ":8474"),
			testcontainers.WithWaitStrategy(wait.ForHTTP("/version").WithPort(portToxiproxy).WithForcedIPv4LocalHost()))
	})
	g.Go(func() error {
		return s.run(gctx, "idp", s.images.Crosstalk, portHTTP,
			testcontainers.WithCmd("serve-idp", "--listen", ":8080", "--issuer", idpInternal, "--seed", strconv.FormatUint(pop.Seed(), 10),
				"--users", strconv.Itoa(pop.Size()), "--mix", pop.Mix().String()),
			testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort(portHTTP).WithForcedIPv4LocalHost()))
	})
	if err := g.Wait(); err != nil {
		return "", err
	}
	if err := s.seed(ctx, pop); err != nil {
		return "", err
	}
	if err := s.links(); err != nil {
		return "", err
	}

	s.release = portal.V1
	g, gctx = errgroup.WithContext(ctx)
	for i, name := range s.replicaNames() {
		g.Go(func() error { return s.runReplica(gctx, i, name) })
	}
	if err := g.Wait(); err != nil {
		return "", err
	}

	s.edgeRules, s.edgeGen = "default", 1
	conf, header, err := s.renderEdge("default")
	if err != nil {
		return "", err
	}
	if err := s.run(ctx, "edge", s.images.Nginx, portHTTP,
		testcontainers.WithCmd("nginx", "-g", "daemon off;"),
		testcontainers.WithFiles(testcontainers.ContainerFile{Reader: strings.NewReader(string(conf)),
			ContainerFilePath: "/etc/nginx/nginx.conf", FileMode: 0o644}),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort(portHTTP).WithForcedIPv4LocalHost())); err != nil {
		return "", err
	}
	s.base = "http://" + s.ports["edge"]
	if err := s.waitEdge(ctx, header); err != nil {
		return "", err
	}
	s.up = true
	return s.base, nil
}

// run starts one service's container on the run's network, with its port
// mapped on 127.0.0.1 only, and waits until it is ready.
func (s *Stack) run(ctx context.Context, service, image, port string, opts ...testcontainers.ContainerCustomizer) error {
	s.progress("starting " + service + " (" + image + ")")
	t0 := time.Now()
	hostPort, err := freePort()
	if err != nil {
		return err
	}
	all := append([]testcontainers.ContainerCustomizer{
		network.WithNetwork([]string{service}, s.net),
		testcontainers.WithName("crosstalk-" + s.runID + "-" + service),
		testcontainers.WithLabels(s.labels(service)),
		loopbackPort(port, hostPort),
	}, opts...)
	c, err := testcontainers.Run(ctx, image, all...)
	s.mu.Lock()
	if c != nil {
		s.containers[service] = c
	}
	s.ports[service] = "127.0.0.1:" + hostPort
	s.mu.Unlock()
	if err != nil {
		return harness.TargetFailure(fmt.Errorf("starting %s: %w%s", service, err, s.logTail(ctx, c)))
	}
	s.progress(fmt.Sprintf("%s ready in %.1fs on %s", service, time.Since(t0).Seconds(), s.ports[service]))
	return nil
}

// runReplica starts replica i (0-based) of the current release.
func (s *Stack) runReplica(ctx context.Context, i int, name string) error {
	cmd := []string{"serve-replica", "--listen", ":8080", "--name", "r" + strconv.Itoa(i+1), "--release", s.release,
		"--sessions", "toxiproxy:" + strconv.Itoa(linkSessions+i+1),
		"--accounts", "postgres://postgres@toxiproxy:" + strconv.Itoa(linkAccounts+i+1) + "/postgres?sslmode=disable"}
	if d := s.defects.Names(); len(d) > 0 {
		cmd = append(cmd, "--defects", strings.Join(d, ","))
	}
	cmd = append(cmd, "--idp-public", "http://"+s.ports["idp"], "--idp-internal", idpInternal)
	return s.run(ctx, name, s.images.Crosstalk, portHTTP, testcontainers.WithCmd(cmd...),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort(portHTTP).WithForcedIPv4LocalHost()))
}

// idpInternal is the identity provider's URL on the private network: the
// replicas' back channel, and the issuer of its ID tokens.
const idpInternal = "http://idp:8080"

// Hosts implements harness.HostProvider: the identity provider, through
// its port on 127.0.0.1.
func (s *Stack) Hosts() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]string{reference.IdPHost: "http://" + s.ports["idp"]}
}

// Stop implements harness.Target: it removes every container, network and
// volume labelled with the run's id, unless the stack is kept.
func (s *Stack) Stop(ctx context.Context) error {
	if s.db != nil {
		s.db.Close()
	}
	if (s.keep && s.up) || s.cli == nil {
		return nil
	}
	defer s.cli.Close()
	return docker.RemoveAll(ctx, s.cli, s.runID)
}

// labels are the labels of service's container: the run's, and the
// service's name.
func (s *Stack) labels(service string) map[string]string {
	l := docker.Labels(s.runID, s.keep)
	l[docker.ServiceLabel] = service
	return l
}

// NetworkName is the run's private network: the workers of --engine
// docker join it.
func (s *Stack) NetworkName() string { return s.net.Name }

// Internal maps the stack's URLs as this machine reaches them (its ports
// on 127.0.0.1) to the URLs a container on the run's network reaches the
// same services by.
func (s *Stack) Internal() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[string]string{
		"http://" + s.ports["edge"]: "http://edge:8080",
		"http://" + s.ports["idp"]:  idpInternal,
	}
}

// ContainerLabels are the labels of a container of the run named service:
// Stop removes it with the stack.
func (s *Stack) ContainerLabels(service string) map[string]string { return s.labels(service) }
