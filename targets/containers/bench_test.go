package containers_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/internal/dockertest"
	"github.com/crosstalk-dev/crosstalk/targets/containers"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
	"github.com/crosstalk-dev/crosstalk/targets/reference"
)

// BenchmarkStackStart brings the container stack up with 100,000 users, the
// images already built, and reports how long that took (start-s) and how
// long loading the 100,000 accounts into PostgreSQL alone takes (seed-s).
//
//	go test -run '^$' -bench StackStart -benchtime 1x ./targets/containers/
func BenchmarkStackStart(b *testing.B) {
	dockertest.Require(b)
	const users = 100_000
	pop, err := population.New(1, users, population.DefaultMix)
	require.NoError(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var start, seed time.Duration
	for b.Loop() {
		s := containers.New()
		t0 := time.Now()
		_, err := s.Start(ctx, pop)
		start += time.Since(t0)
		if err == nil {
			t0 = time.Now()
			err = portal.SeedPG(ctx, "postgres://postgres@"+s.Endpoints()["postgres"]+"/postgres?sslmode=disable",
				users, func(i int) portal.Account { return reference.AccountOf(pop, i) }, nil)
			seed += time.Since(t0)
		}
		require.NoError(b, s.Stop(context.Background()))
		require.NoError(b, err)
	}
	b.ReportMetric(start.Seconds()/float64(b.N), "start-s")
	b.ReportMetric(seed.Seconds()/float64(b.N), "seed-s")
}
