package embedded

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
	"github.com/crosstalk-dev/crosstalk/targets/reference"
)

func TestStackLifecycle(t *testing.T) {
	pop, err := population.New(3, 500, population.DefaultMix)
	require.NoError(t, err)
	s := New(WithReplicas(2))
	base, err := s.Start(t.Context(), pop)
	require.NoError(t, err)
	require.NoError(t, harness.CheckTarget(base, nil))

	seen := map[string]bool{}
	for i := 0; i < 4; i++ {
		resp, err := http.Get(base + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		seen[resp.Header.Get(portal.ReplicaHeader)] = true
		assert.Equal(t, "default#1", resp.Header.Get(portal.EdgeConfigHeader))
	}
	assert.Equal(t, map[string]bool{"r1": true, "r2": true}, seen, "the edge spreads requests over the replicas")

	prev, err := s.ReloadEdge(t.Context(), "cache-dynamic")
	require.NoError(t, err)
	assert.Equal(t, "default", prev)
	_, err = s.ReloadEdge(t.Context(), "nope")
	assert.Error(t, err)

	iban, err := s.StoredIBAN(t.Context(), 17)
	require.NoError(t, err)
	assert.Equal(t, pop.IBAN(17, 0), iban, "seeded with the population's data")

	require.NoError(t, s.Stop(t.Context()))
	_, err = http.Get(base + "/healthz")
	assert.Error(t, err, "stopped means no longer listening")
}

func TestStartRefusesBadListen(t *testing.T) {
	pop, err := population.New(3, 10, population.DefaultMix)
	require.NoError(t, err)
	_, err = New(WithListen("0.0.0.0:0")).Start(t.Context(), pop)
	assert.Equal(t, harness.ClassBadInput, harness.ClassOf(err))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	s := New(WithListen(ln.Addr().String()))
	_, err = s.Start(t.Context(), pop)
	assert.ErrorContains(t, err, "address already in use")
	assert.NoError(t, s.Stop(t.Context()), "Stop is safe after a failed Start")
}

func TestAccountOfSeedsEachState(t *testing.T) {
	pop, err := population.New(3, 300, population.DefaultMix)
	require.NoError(t, err)
	for i := 0; i < 300; i++ {
		a := reference.AccountOf(pop, i)
		switch pop.State(i) {
		case population.MigrationPending:
			assert.Equal(t, portal.StatePending, a.State)
			assert.True(t, portal.CheckPassword(a, pop.Password(i, 0)))
		default:
			assert.True(t, portal.CheckPassword(a, pop.Password(i, 1)))
			assert.False(t, portal.CheckPassword(a, pop.Password(i, 0)))
		}
	}
}

// TestSessionsExpireInTheEmbeddedStore: miniredis's clock moves with the
// wall clock, so a session's TTL ends it, as in Redis.
func TestSessionsExpireInTheEmbeddedStore(t *testing.T) {
	m, err := miniredis.Run()
	require.NoError(t, err)
	defer m.Close()
	require.NoError(t, m.Set("session:x", "v"))
	m.SetTTL("session:x", time.Second)
	stop := make(chan struct{})
	go tickClock(m, stop)
	defer close(stop)
	require.Eventually(t, func() bool { return !m.Exists("session:x") }, 5*time.Second, 50*time.Millisecond)
}
