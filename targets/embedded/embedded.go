// Package embedded runs the reference portal stack in-process: an edge cache
// and N replicas on 127.0.0.1 ports, an in-memory account store, and a
// Redis-protocol session store (miniredis) that the replicas reach over real
// TCP through an in-process Toxiproxy, so that the store link can be slowed
// or cut. It is crosstalk's default target and needs no Docker.
package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/targets/idp"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
	"github.com/crosstalk-dev/crosstalk/targets/reference"
)

// Defaults, reused as flag defaults.
const (
	DefaultListen   = "127.0.0.1:0"
	DefaultReplicas = 3
)

// Stack is the embedded reference stack.
type Stack struct {
	listen   string
	replicas int
	defects  portal.DefectSet

	accounts *accounts
	advisers *portal.MemAdvisers
	audit    *portal.AuditLog
	sessions portal.ClosableSessionStore
	redis    *miniredis.Miniredis
	// clockStop ends the goroutine that moves miniredis's clock.
	clockStop chan struct{}
	link      *toxiproxy.Proxy
	running   []*portal.Replica
	// replicaSrv are the replicas' servers, nil while killed.
	replicaSrv []*replicaServer
	svcMu      sync.Mutex
	deploy     sync.Mutex
	edge       *portal.Edge
	servers    []*http.Server
	base       string
	idpURL     string
	client     *http.Client
	wg         sync.WaitGroup
}

var (
	_ harness.Target        = (*Stack)(nil)
	_ harness.AccountReader = (*Stack)(nil)
	_ harness.EdgeReloader  = (*Stack)(nil)
	_ harness.EdgePurger    = (*Stack)(nil)
	_ harness.StoreLink     = (*Stack)(nil)
	_ harness.Deployer      = (*Stack)(nil)
	_ harness.Auditor       = (*Stack)(nil)
	_ harness.Services      = (*Stack)(nil)
	_ harness.StoreFlusher  = (*Stack)(nil)
	_ harness.HostProvider  = (*Stack)(nil)
)

type replicaServer struct {
	addr   string
	server *http.Server
}

// Option configures a Stack.
type Option func(*Stack)

// WithListen sets the edge's address (a loopback host and a port; port 0
// picks a free one).
func WithListen(addr string) Option { return func(s *Stack) { s.listen = addr } }

// WithReplicas sets the number of portal replicas.
func WithReplicas(n int) Option { return func(s *Stack) { s.replicas = n } }

// WithDefects switches reference-portal defects on.
func WithDefects(d portal.DefectSet) Option { return func(s *Stack) { s.defects = d } }

// New returns a stack configured by opts; Start brings it up.
func New(opts ...Option) *Stack {
	s := &Stack{listen: DefaultListen, replicas: DefaultReplicas}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Name implements harness.Target.
func (s *Stack) Name() string { return "embedded" }

// Start implements harness.Target.
func (s *Stack) Start(ctx context.Context, pop *population.Population) (string, error) {
	host, _, err := net.SplitHostPort(s.listen)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return "", harness.BadInput("--listen %q: want a loopback address and port, such as 127.0.0.1:8080", s.listen)
	}
	if s.replicas < 1 {
		return "", harness.BadInput("replicas: want at least 1, got %d", s.replicas)
	}
	// Listen first: a port in use fails before any work.
	edgeLn, err := net.Listen("tcp", s.listen)
	if err != nil {
		return "", fmt.Errorf("edge cannot listen on %s: %w", s.listen, err)
	}
	s.accounts = newAccounts(pop)
	if s.advisers, err = portal.NewMemAdvisers(reference.AdvisersOf(pop)); err != nil {
		edgeLn.Close()
		return "", err
	}
	s.audit = portal.NewAuditLog()
	if s.redis, err = miniredis.Run(); err != nil {
		edgeLn.Close()
		return "", fmt.Errorf("session store: %w", err)
	}
	// miniredis expires keys only when its clock is moved: move it with
	// the wall clock, so that sessions expire as in Redis over a soak.
	// The goroutine gets its own copies: Stop clears the fields.
	stop, m := make(chan struct{}), s.redis
	s.clockStop = stop
	s.wg.Go(func() { tickClock(m, stop) })
	tp := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	s.link = toxiproxy.NewProxy(tp, "sessions", "127.0.0.1:0", s.redis.Addr())
	if err := tp.Collection.Add(s.link, true); err != nil {
		edgeLn.Close()
		return "", fmt.Errorf("session store link: %w", err)
	}
	s.sessions = portal.NewSessionStore(s.link.Listen, portal.DefaultStoreTimeout, s.defects)
	fc, err := s.startIdP(pop)
	if err != nil {
		edgeLn.Close()
		return "", err
	}
	var upstreams []string
	for i := 0; i < s.replicas; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			edgeLn.Close()
			return "", fmt.Errorf("replica cannot listen: %w", err)
		}
		r := portal.NewReplica("r"+strconv.Itoa(i+1), portal.Stores{Accounts: s.accounts, Sessions: s.sessions,
			Advisers: s.advisers, Audit: s.audit, FranceConnect: fc}, s.defects)
		s.running = append(s.running, r)
		s.replicaSrv = append(s.replicaSrv, &replicaServer{addr: ln.Addr().String(), server: s.serve(ln, r)})
		upstreams = append(upstreams, "http://"+ln.Addr().String())
	}
	s.edge = portal.NewEdge(upstreams, s.defects)
	s.serve(edgeLn, s.edge)
	s.base = "http://" + edgeLn.Addr().String()
	s.client = &http.Client{Timeout: 5 * time.Second}
	return s.base, nil
}

// startIdP serves the reference identity provider on a loopback port, its
// users the population, and returns the replicas' configuration for it.
func (s *Stack) startIdP(pop *population.Population) (*portal.FranceConnect, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("identity provider cannot listen: %w", err)
	}
	s.idpURL = "http://" + ln.Addr().String()
	p, err := idp.New(idp.Config{Issuer: s.idpURL, Clients: reference.IdPClients(), Users: reference.Directory{Pop: pop}})
	if err != nil {
		ln.Close()
		return nil, err
	}
	s.serve(ln, p)
	return reference.FranceConnectOf(s.idpURL, s.idpURL), nil
}

// Hosts implements harness.HostProvider: the identity provider.
func (s *Stack) Hosts() map[string]string { return map[string]string{reference.IdPHost: s.idpURL} }

func (s *Stack) serve(ln net.Listener, h http.Handler) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = srv.Serve(ln)
	}()
	return srv
}

// StoredIBAN implements harness.AccountReader.
func (s *Stack) StoredIBAN(ctx context.Context, user int) (string, error) {
	a, err := s.accounts.Get(ctx, user)
	return a.IBAN, err
}

// EdgeVariants implements harness.EdgeReloader.
func (s *Stack) EdgeVariants() []string { return portal.EdgeVariants() }

// ReloadEdge implements harness.EdgeReloader: it reloads the rules, then
// proves through the edge itself that responses carry the new rules' header.
func (s *Stack) ReloadEdge(ctx context.Context, rules string) (string, error) {
	prev, err := s.edge.Reload(rules)
	if err != nil {
		return "", err
	}
	_, want := s.edge.Rules()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/healthz", nil)
	if err != nil {
		return prev, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return prev, fmt.Errorf("verifying the reload: %w", err)
	}
	resp.Body.Close()
	if got := resp.Header.Get(portal.EdgeConfigHeader); got != want {
		return prev, fmt.Errorf("reload did not take effect: edge serves %q, want %q", got, want)
	}
	return prev, nil
}

// PurgeEdge implements harness.EdgePurger.
func (s *Stack) PurgeEdge(context.Context) error {
	s.edge.Purge()
	return nil
}

// StoreLinks implements harness.StoreLink: only the session store is
// reached over a link; accounts are in memory.
func (s *Stack) StoreLinks() []string { return []string{"sessions"} }

// StoreToxic implements harness.StoreLink with a toxic of the in-process
// Toxiproxy on the replies from the session store.
func (s *Stack) StoreToxic(ctx context.Context, _ string, t *harness.Toxic) error {
	if t == nil {
		err := s.link.Toxics.RemoveToxic(ctx, "fault")
		if err != nil && strings.Contains(err.Error(), "not found") {
			return nil
		}
		return err
	}
	spec, err := json.Marshal(map[string]any{"name": "fault", "type": t.Type, "stream": "downstream", "attributes": t.Attributes})
	if err != nil {
		return err
	}
	_, err = s.link.Toxics.AddToxicJson(bytes.NewReader(spec))
	return err
}

// StoreDown implements harness.StoreLink: the link refuses connections and
// drops the open ones.
func (s *Stack) StoreDown(context.Context, string) error {
	s.link.Stop()
	return nil
}

// StoreUp implements harness.StoreLink.
func (s *Stack) StoreUp(context.Context, string) error { return s.link.Start() }

// FlushStore implements harness.StoreFlusher.
func (s *Stack) FlushStore(context.Context, string) error {
	s.redis.FlushAll()
	return nil
}

// Services implements harness.Services: the replicas, "replica-1" to
// "replica-N", and the session store, "redis".
func (s *Stack) Services() []string {
	out := make([]string, 0, s.replicas+1)
	for i := range s.replicas {
		out = append(out, "replica-"+strconv.Itoa(i+1))
	}
	return append(out, "redis")
}

// ServiceActions implements harness.Services: an in-process server can be
// killed and started, not frozen.
func (s *Stack) ServiceActions() []harness.ServiceAction {
	return []harness.ServiceAction{harness.ServiceKill, harness.ServiceStart, harness.ServiceRestart}
}

// ServiceDo implements harness.Services. Killing a replica closes its
// listener and its connections; starting it listens on the same address
// again. The session store is a cache without persistence: killing it drops
// every connection and every session.
func (s *Stack) ServiceDo(ctx context.Context, service string, a harness.ServiceAction) error {
	if a == harness.ServiceRestart {
		if err := s.ServiceDo(ctx, service, harness.ServiceKill); err != nil {
			return err
		}
		return s.ServiceDo(ctx, service, harness.ServiceStart)
	}
	if service == "redis" {
		if a == harness.ServiceKill {
			s.link.Stop()
			s.redis.FlushAll()
			return nil
		}
		return s.link.Start()
	}
	n, err := strconv.Atoi(strings.TrimPrefix(service, "replica-"))
	if err != nil || n < 1 || n > len(s.replicaSrv) {
		return fmt.Errorf("no service %q", service)
	}
	s.svcMu.Lock()
	defer s.svcMu.Unlock()
	srv := s.replicaSrv[n-1]
	if a == harness.ServiceKill {
		if srv.server == nil {
			return nil
		}
		err := srv.server.Close()
		srv.server = nil
		return err
	}
	if srv.server != nil {
		return nil
	}
	ln, err := net.Listen("tcp", srv.addr)
	if err != nil {
		return fmt.Errorf("replica %d cannot listen again on %s: %w", n, srv.addr, err)
	}
	srv.server = s.serve(ln, s.running[n-1])
	return nil
}

// Releases implements harness.Deployer.
func (s *Stack) Releases() []string { return []string{portal.V1, portal.V2} }

// Deploy implements harness.Deployer: it moves the replicas to release one at
// a time, pausing between them, so that old and new serve side by side.
func (s *Stack) Deploy(ctx context.Context, release string, pause time.Duration) (string, error) {
	if !slices.Contains(s.Releases(), release) {
		return "", fmt.Errorf("unknown release %q (known: %s)", release, strings.Join(s.Releases(), ", "))
	}
	s.deploy.Lock()
	defer s.deploy.Unlock()
	previous := s.running[0].Version()
	for i, r := range s.running {
		if i > 0 {
			if err := harness.Sleep(ctx, pause); err != nil {
				return previous, err
			}
		}
		r.SetVersion(release)
	}
	return previous, nil
}

// Audit implements harness.Auditor: the reference portal's audit log is
// shared by its replicas and read here directly.
func (s *Stack) Audit(_ context.Context, after int64) (harness.AuditTrail, error) {
	// An access is logged before its response is written: whatever was
	// served before this read is in it.
	complete := time.Now()
	entries, alerts, next := s.audit.Read(after)
	return reference.AuditTrailOf(entries, alerts, next, complete), nil
}

// Stop implements harness.Target.
func (s *Stack) Stop(ctx context.Context) error {
	var errs []error
	if s.clockStop != nil {
		close(s.clockStop)
		s.clockStop = nil
	}
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, srv.Close())
		}
	}
	s.wg.Wait()
	if s.sessions != nil {
		s.sessions.Close()
	}
	if s.link != nil {
		s.link.Stop()
	}
	if s.redis != nil {
		s.redis.Close()
	}
	return errors.Join(errs...)
}

// tickClock moves m's clock a second every second until stop is closed.
func tickClock(m *miniredis.Miniredis, stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			m.FastForward(time.Second)
		}
	}
}
