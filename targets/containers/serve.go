package containers

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/targets/idp"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
	"github.com/crosstalk-dev/crosstalk/targets/reference"
)

// The programs inside the crosstalk image. The image holds one static
// binary; these are its hidden subcommands.

// ReplicaConfig configures one portal replica in a container.
type ReplicaConfig struct {
	Listen   string // address to serve on, such as :8080
	Name     string // replica name, shown in X-Replica
	Sessions string // host:port of the session store (Redis, through Toxiproxy)
	Accounts string // PostgreSQL DSN of the account store (through Toxiproxy)
	Defects  []string
	Release  string // portal.V1 or portal.V2
	// IdPPublic and IdPInternal are the identity provider's URL as
	// browsers reach it (a port on 127.0.0.1) and as the replica does (its
	// service name); empty: no FranceConnect login.
	IdPPublic   string
	IdPInternal string
}

// IdPConfig configures the reference identity provider's container.
type IdPConfig struct {
	Listen string
	Issuer string // its URL on the private network
	Seed   uint64
	Users  int
	Mix    population.Mix
}

// ServeIdP runs the reference identity provider, its users the population.
func ServeIdP(ctx context.Context, c IdPConfig) error {
	pop, err := population.New(c.Seed, c.Users, c.Mix)
	if err != nil {
		return err
	}
	p, err := idp.New(idp.Config{Issuer: c.Issuer, Clients: reference.IdPClients(), Users: reference.Directory{Pop: pop}})
	if err != nil {
		return err
	}
	return serveUntil(ctx, c.Listen, p)
}

const (
	// pgConnsPerReplica is each replica's PostgreSQL pool: a few
	// connections per core of the database keep it busy without queueing
	// in it.
	pgConnsPerReplica = 8
	// pgTimeout bounds a replica's PostgreSQL query, waiting for a
	// connection included. It is longer than the session store's: when
	// Docker kills a container, the bridge network stalls for up to a
	// second; pgx closes a connection whose query timed out, and a new one
	// is a forked backend, slow to open on a busy machine. At half a second,
	// a replica failed a burst of requests on every kill, their users logged
	// in again, and on two cores at the CAF rush that retry storm lasted as
	// long as the rush. Two seconds ride the stall out; a database that
	// stays down still fails closed. Redis connections are cheap to reopen,
	// and the session store keeps the short timeout.
	pgTimeout = 2 * time.Second
)

// ServeReplica serves one reference-portal replica on Redis and PostgreSQL
// until ctx ends, then drains its connections.
func ServeReplica(ctx context.Context, c ReplicaConfig) error {
	defects, err := portal.NewDefectSet(c.Defects...)
	if err != nil {
		return err
	}
	accounts, err := portal.NewPGAccounts(c.Accounts, pgConnsPerReplica, pgTimeout)
	if err != nil {
		return err
	}
	defer accounts.Close()
	sessions := portal.NewSessionStore(c.Sessions, portal.DefaultStoreTimeout, defects)
	defer sessions.Close()
	st := portal.Stores{Accounts: accounts, Sessions: sessions, Advisers: accounts.Advisers(), Audit: accounts.Audit()}
	if c.IdPPublic != "" && c.IdPInternal != "" {
		st.FranceConnect = reference.FranceConnectOf(c.IdPPublic, c.IdPInternal)
	}
	r := portal.NewReplica(c.Name, st, defects)
	r.SetErrorLog(logEvery(time.Second))
	if c.Release != "" {
		r.SetVersion(c.Release)
	}
	return serveUntil(ctx, c.Listen, r)
}

// ServeToxiproxy runs a Toxiproxy server with its HTTP API on listen, the
// proxies on the replicas' links being created by the harness through it.
func ServeToxiproxy(ctx context.Context, listen string) error {
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	return runUntil(ctx, func() error { return srv.Listen(listen) }, srv.Shutdown)
}

func serveUntil(ctx context.Context, listen string, h http.Handler) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	return runUntil(ctx, func() error { return srv.Serve(ln) }, func() error {
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shut); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return nil
	})
}

// runUntil runs serve until it fails or ctx ends, and then shuts it down.
func runUntil(ctx context.Context, serve, shutdown func() error) error {
	done := make(chan error, 1)
	go func() { done <- serve() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return shutdown()
	}
}

// logEvery returns an error log that prints at most one error per interval,
// with the count of those it left out, so that a failing store does not
// flood the container's log.
func logEvery(interval time.Duration) func(error) {
	var mu sync.Mutex
	var last time.Time
	skipped := 0
	return func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < interval {
			skipped++
			return
		}
		last = time.Now()
		log.Printf("store failure: %v (%d more since the last line)", err, skipped)
		skipped = 0
	}
}

// SeedAccounts (re)creates the reference portal's accounts table in the
// PostgreSQL database at dsn with the population of seed, users and mix: the
// seeding job of a compose stack (see examples/compose). It retries while
// the database is starting.
func SeedAccounts(ctx context.Context, dsn string, seed uint64, users int, mix population.Mix) error {
	pop, err := population.New(seed, users, mix)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err = portal.SeedPG(ctx, dsn, users, func(i int) portal.Account { return reference.AccountOf(pop, i) }, nil)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}
