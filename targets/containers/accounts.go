package containers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
	"github.com/crosstalk-dev/crosstalk/targets/reference"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// seed loads the population into PostgreSQL with one COPY.
func (s *Stack) seed(ctx context.Context, pop *population.Population) error {
	dsn := "postgres://postgres@" + s.ports["postgres"] + "/postgres?sslmode=disable"
	t0 := time.Now()
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err = portal.SeedPG(ctx, dsn, pop.Size(), func(i int) portal.Account { return reference.AccountOf(pop, i) },
			reference.AdvisersOf(pop)); err == nil {
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

// StoredIBAN implements harness.AccountReader: it reads PostgreSQL directly.
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
func (s *Stack) Audit(ctx context.Context, after int64) (harness.AuditTrail, error) {
	entries, alerts, next, complete, err := portal.ReadPGAudit(ctx, s.db, after)
	if err != nil {
		return harness.AuditTrail{}, err
	}
	return reference.AuditTrailOf(entries, alerts, next, complete), nil
}
