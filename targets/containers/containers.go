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
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/moby/moby/api/types/container"
	mobynet "github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcexec "github.com/testcontainers/testcontainers-go/exec"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
	"golang.org/x/sync/errgroup"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/targets/embedded"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
)

// Label is the label every container, network and volume of a run carries,
// its value being the run id.
const Label = "crosstalk.run"

// serviceLabel names the service a container runs.
const serviceLabel = "crosstalk.service"

func init() {
	// The reaper container (Ryuk) would need a registry to pull from; the
	// stack is removed by label instead. testcontainers reads this once.
	if os.Getenv("TESTCONTAINERS_RYUK_DISABLED") == "" {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	// Ports are mapped on 127.0.0.1 only (loopbackPort), so that is where
	// the stack is reached; left alone, testcontainers guesses a gateway
	// address when it runs inside a container itself.
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
	}
	// The stack reports its own progress; testcontainers' log lines are
	// for debugging, with CROSSTALK_DEBUG set.
	if os.Getenv("CROSSTALK_DEBUG") == "" {
		tclog.SetDefault(tclog.NewNoopLogger())
	}
}

// Images names the images of the stack.
type Images struct {
	Crosstalk string // the portal replicas and Toxiproxy (FROM scratch)
	Redis     string
	Postgres  string
	Nginx     string
}

// DefaultImages returns the names make images builds:
// $CROSSTALK_IMAGE_PREFIX/NAME:$CROSSTALK_IMAGE_TAG (crosstalk/NAME:local),
// each overridden by $CROSSTALK_IMAGE_<NAME> when set.
func DefaultImages() Images {
	prefix, tag := envOr("CROSSTALK_IMAGE_PREFIX", "crosstalk"), envOr("CROSSTALK_IMAGE_TAG", "local")
	name := func(n string) string {
		return envOr("CROSSTALK_IMAGE_"+strings.ToUpper(n), prefix+"/"+n+":"+tag)
	}
	return Images{Crosstalk: name("crosstalk"), Redis: name("redis"), Postgres: name("postgres"), Nginx: name("nginx")}
}

// Set overrides one image from a NAME=REF spec, such as redis=redis:7.
func (im *Images) Set(spec string) error {
	name, ref, ok := strings.Cut(spec, "=")
	if !ok || ref == "" {
		return fmt.Errorf("%q: want NAME=IMAGE, NAME one of crosstalk, redis, postgres, nginx", spec)
	}
	switch name {
	case "crosstalk":
		im.Crosstalk = ref
	case "redis":
		im.Redis = ref
	case "postgres":
		im.Postgres = ref
	case "nginx":
		im.Nginx = ref
	default:
		return fmt.Errorf("%q: unknown image %q (known: crosstalk, redis, postgres, nginx)", spec, name)
	}
	return nil
}

func (im Images) list() []string { return []string{im.Crosstalk, im.Redis, im.Postgres, im.Nginx} }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

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
	s := &Stack{replicas: embedded.DefaultReplicas, images: DefaultImages(), progress: func(string) {},
		runID: NewRunID(), containers: map[string]*testcontainers.DockerContainer{}, ports: map[string]string{},
		http: &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// NewRunID returns a fresh value for the crosstalk.run label: the UTC time
// and random bytes, so that two runs started in the same second differ.
func NewRunID() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
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
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
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
	s.net, err = network.New(ctx, network.WithLabels(map[string]string{Label: s.runID}))
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
		testcontainers.WithLabels(map[string]string{Label: s.runID, serviceLabel: service}),
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
	return s.run(ctx, name, s.images.Crosstalk, portHTTP, testcontainers.WithCmd(cmd...),
		testcontainers.WithWaitStrategy(wait.ForHTTP("/healthz").WithPort(portHTTP).WithForcedIPv4LocalHost()))
}

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

// seed loads the population into PostgreSQL with one COPY.
func (s *Stack) seed(ctx context.Context, pop *population.Population) error {
	dsn := "postgres://postgres@" + s.ports["postgres"] + "/postgres?sslmode=disable"
	t0 := time.Now()
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err = portal.SeedPG(ctx, dsn, pop.Size(), func(i int) portal.Account { return embedded.AccountOf(pop, i) },
			embedded.AdvisersOf(pop)); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return harness.TargetFailure(fmt.Errorf("seeding PostgreSQL: %w", err))
		}
		time.Sleep(200 * time.Millisecond)
	}
	s.progress(fmt.Sprintf("seeded %d accounts into PostgreSQL in %.1fs", pop.Size(), time.Since(t0).Seconds()))
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.MaxConns = 4
	s.db, err = pgxpool.NewWithConfig(ctx, cfg)
	return err
}

// links creates each replica's two proxies in Toxiproxy.
func (s *Stack) links() error {
	s.toxi = toxiclient.NewClient("http://" + s.ports["toxiproxy"])
	for i := 1; i <= s.replicas; i++ {
		for _, l := range []struct {
			store    string
			port     int
			upstream string
		}{{"sessions", linkSessions + i, "redis:6379"}, {"accounts", linkAccounts + i, "postgres:5432"}} {
			if _, err := s.toxi.CreateProxy(linkName(l.store, i), "0.0.0.0:"+strconv.Itoa(l.port), l.upstream); err != nil {
				return harness.TargetFailure(fmt.Errorf("creating the %s link of replica %d in Toxiproxy: %w", l.store, i, err))
			}
		}
	}
	return nil
}

func linkName(store string, replica int) string { return store + "-r" + strconv.Itoa(replica) }

// StoredIBAN implements harness.Target: it reads PostgreSQL directly.
func (s *Stack) StoredIBAN(ctx context.Context, user int) (string, error) {
	var iban string
	err := s.db.QueryRow(ctx, "SELECT iban FROM accounts WHERE id = $1", user).Scan(&iban)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", portal.ErrNotFound
	}
	return iban, err
}

// Audit implements harness.Auditor: the replicas share one audit log, in
// PostgreSQL, read here directly.
func (s *Stack) Audit(ctx context.Context) (harness.AuditTrail, error) {
	entries, alerts, err := portal.ReadPGAudit(ctx, s.db)
	if err != nil {
		return harness.AuditTrail{}, err
	}
	return embedded.AuditTrailOf(entries, alerts), nil
}

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

// StoreLinks implements harness.StoreLink.
func (s *Stack) StoreLinks() []string { return []string{"sessions", "accounts"} }

// StoreToxic implements harness.StoreLink on every replica's link to store.
func (s *Stack) StoreToxic(_ context.Context, store string, t *harness.Toxic) error {
	return s.eachLink(store, func(p *toxiclient.Proxy) error {
		if err := p.RemoveToxic("fault"); err != nil && !strings.Contains(err.Error(), "not found") {
			return err
		}
		if t == nil {
			return nil
		}
		attrs := toxiclient.Attributes{}
		for k, v := range t.Attributes {
			attrs[k] = v
		}
		_, err := p.AddToxic("fault", t.Type, "downstream", 1, attrs)
		return err
	})
}

// StoreDown implements harness.StoreLink.
func (s *Stack) StoreDown(_ context.Context, store string) error {
	return s.eachLink(store, (*toxiclient.Proxy).Disable)
}

// StoreUp implements harness.StoreLink.
func (s *Stack) StoreUp(_ context.Context, store string) error {
	return s.eachLink(store, (*toxiclient.Proxy).Enable)
}

func (s *Stack) eachLink(store string, f func(*toxiclient.Proxy) error) error {
	for i := 1; i <= s.replicas; i++ {
		p, err := s.toxi.Proxy(linkName(store, i))
		if err != nil {
			return fmt.Errorf("toxiproxy: %w", err)
		}
		if err := f(p); err != nil {
			return fmt.Errorf("toxiproxy %s: %w", linkName(store, i), err)
		}
	}
	return nil
}

// FlushStore implements harness.StoreFlusher: FLUSHALL on Redis.
func (s *Stack) FlushStore(ctx context.Context, _ string) error {
	_, err := s.ServiceExec(ctx, "redis", []string{"redis-cli", "FLUSHALL"})
	return err
}

// Services implements harness.Services.
func (s *Stack) Services() []string {
	return append([]string{"edge", "postgres", "redis", "toxiproxy"}, s.replicaNames()...)
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
	if err := DockerAction(ctx, s.cli, c.GetContainerID(), a); err != nil || (a != harness.ServiceStart && a != harness.ServiceRestart) {
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

// DockerAction does a service action to a container through the Docker API;
// a restart gives the process two seconds to stop before it is killed.
func DockerAction(ctx context.Context, cli *testcontainers.DockerClient, id string, a harness.ServiceAction) error {
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
	return ExecIn(ctx, s.container(service), service, cmd)
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
	// Remove until a pass finds nothing: a container the nemesis is
	// restarting as the run ends can refuse removal for a moment, and the
	// run must leave nothing behind.
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		var n int
		n, err = DownCount(ctx, s.cli, s.runID)
		if err == nil && n == 0 {
			return nil
		}
		if err != nil && harness.Sleep(ctx, time.Second) != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("removing run %s: %w (crosstalk down --run %s removes what is left)", s.runID, err, s.runID)
	}
	return nil
}

// Down removes every container, network and volume that carries the
// crosstalk.run label with value runID, or any value if runID is empty. It
// returns what it removed.
func Down(ctx context.Context, cli *testcontainers.DockerClient, runID string) error {
	_, err := DownCount(ctx, cli, runID)
	return err
}

// DownCount is Down, also returning the number of objects removed.
func DownCount(ctx context.Context, cli *testcontainers.DockerClient, runID string) (int, error) {
	label := Label
	if runID != "" {
		label += "=" + runID
	}
	f := make(client.Filters).Add("label", label)
	var errs []error
	removed := 0
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return 0, err
	}
	for _, c := range cs.Items {
		if _, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
			errs = append(errs, err)
		} else {
			removed++
		}
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
	if err != nil {
		return removed, err
	}
	for _, n := range ns.Items {
		if _, err := cli.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil {
			errs = append(errs, err)
		} else {
			removed++
		}
	}
	vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return removed, err
	}
	for _, v := range vs.Items {
		if _, err := cli.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{Force: true}); err != nil {
			errs = append(errs, err)
		} else {
			removed++
		}
	}
	return removed, errors.Join(errs...)
}
