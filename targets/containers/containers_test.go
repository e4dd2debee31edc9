package containers_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/internal/docker"
	"github.com/crosstalk-dev/crosstalk/internal/dockertest"
	"github.com/crosstalk-dev/crosstalk/targets/containers"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
)

// TestStackFaults starts the stack once and drives every fault the target
// offers through its apply and heal, checking after each that the fault
// took effect and that the healed stack serves logins again.
func TestStackFaults(t *testing.T) {
	cli := dockertest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pop, err := population.New(42, 500, population.Mix{Legacy: 1})
	require.NoError(t, err)
	s := containers.New(containers.WithReplicas(2), containers.WithProgress(func(m string) { t.Log(m) }))
	base, err := s.Start(ctx, pop)
	defer func() { require.NoError(t, s.Stop(context.Background())) }()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)
	for svc, addr := range s.Endpoints() {
		assert.True(t, strings.HasPrefix(addr, "127.0.0.1:"), "%s is published on %s, not loopback", svc, addr)
	}

	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login := func() int {
		caf, num := pop.Beneficiary(7)
		resp, err := hc.PostForm(base+"/login", url.Values{"caf": {caf}, "number": {num}, "password": {pop.Password(7, 1)}})
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusSeeOther, login(), "a seeded user logs in through nginx")
	iban, err := s.StoredIBAN(ctx, 7)
	require.NoError(t, err)
	assert.Equal(t, pop.IBAN(7, 0), iban, "the writes oracle reads PostgreSQL back")

	state := func(service string) string {
		id := containerID(t, cli, s.RunID(), service)
		insp, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		require.NoError(t, err)
		return string(insp.Container.State.Status)
	}
	do := func(service string, a harness.ServiceAction) {
		t.Helper()
		require.NoError(t, s.ServiceDo(ctx, service, a), "%s %s", a, service)
	}

	t.Run("edge reload to every variant is proven by X-Edge-Config", func(t *testing.T) {
		for _, v := range append(s.EdgeVariants(), "default") {
			_, err := s.ReloadEdge(ctx, v)
			require.NoError(t, err, v)
			resp, err := hc.Get(base + "/healthz")
			require.NoError(t, err)
			resp.Body.Close()
			assert.True(t, strings.HasPrefix(resp.Header.Get(portal.EdgeConfigHeader), v+"#"), resp.Header.Get(portal.EdgeConfigHeader))
		}
		_, err := s.ReloadEdge(ctx, "no-such-rules")
		assert.Error(t, err)
		require.NoError(t, s.PurgeEdge(ctx))
	})
	t.Run("pause freezes a replica and unpause thaws it", func(t *testing.T) {
		do("replica-1", harness.ServicePause)
		assert.Equal(t, "paused", state("replica-1"))
		do("replica-1", harness.ServiceUnpause)
		assert.Equal(t, "running", state("replica-1"))
		assert.Equal(t, http.StatusSeeOther, login())
	})
	t.Run("kill stops a replica, nginx fails over, start brings it back", func(t *testing.T) {
		do("replica-2", harness.ServiceKill)
		assert.Equal(t, "exited", state("replica-2"))
		assert.Equal(t, http.StatusSeeOther, login(), "the other replica serves")
		do("replica-2", harness.ServiceStart)
		assert.Equal(t, "running", state("replica-2"))
		assert.Equal(t, http.StatusSeeOther, login())
	})
	t.Run("redis restart and flush lose the sessions, postgres restart keeps the accounts", func(t *testing.T) {
		do("redis", harness.ServiceRestart)
		require.NoError(t, s.FlushStore(ctx, "sessions"))
		do("postgres", harness.ServiceRestart)
		assert.Eventually(t, func() bool { return login() == http.StatusSeeOther }, 20*time.Second, 200*time.Millisecond)
	})
	t.Run("a link down fails closed and heals", func(t *testing.T) {
		require.NoError(t, s.StoreDown(ctx, "accounts"))
		assert.Equal(t, http.StatusServiceUnavailable, login(), "no account store: the portal refuses, it does not guess")
		require.NoError(t, s.StoreUp(ctx, "accounts"))
		assert.Eventually(t, func() bool { return login() == http.StatusSeeOther }, 10*time.Second, 100*time.Millisecond)
	})
	t.Run("toxics slow, hang and reset a link, and are removed", func(t *testing.T) {
		require.NoError(t, s.StoreToxic(ctx, "sessions", &harness.Toxic{Type: "latency", Attributes: map[string]int{"latency": 300}}))
		t0 := time.Now()
		assert.Equal(t, http.StatusSeeOther, login())
		assert.GreaterOrEqual(t, time.Since(t0), 300*time.Millisecond, "the session write waited for the latency toxic")
		require.NoError(t, s.StoreToxic(ctx, "accounts", &harness.Toxic{Type: "reset_peer", Attributes: map[string]int{"timeout": 0}}))
		assert.Equal(t, http.StatusServiceUnavailable, login())
		require.NoError(t, s.StoreToxic(ctx, "accounts", &harness.Toxic{Type: "timeout", Attributes: map[string]int{"timeout": 100}}))
		assert.Equal(t, http.StatusServiceUnavailable, login())
		require.NoError(t, s.StoreToxic(ctx, "accounts", nil))
		require.NoError(t, s.StoreToxic(ctx, "sessions", nil))
		assert.Eventually(t, func() bool { return login() == http.StatusSeeOther }, 10*time.Second, 100*time.Millisecond)
	})
	t.Run("a rolling deploy replaces each replica with the new release", func(t *testing.T) {
		prev, err := s.Deploy(ctx, portal.V2, 0)
		require.NoError(t, err)
		assert.Equal(t, portal.V1, prev)
		for range 4 {
			resp, err := hc.Get(base + "/healthz") // not cached: /login is, with the old header
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, portal.V2, resp.Header.Get("X-Portal-Version"))
		}
		assert.Equal(t, http.StatusSeeOther, login())
	})
	t.Run("exec runs in a service and reports a failing command", func(t *testing.T) {
		out, err := s.ServiceExec(ctx, "redis", []string{"redis-cli", "PING"})
		require.NoError(t, err)
		assert.Contains(t, out, "PONG")
		_, err = s.ServiceExec(ctx, "edge", []string{"nginx", "-t", "-c", "/no/such.conf"})
		assert.Error(t, err)
	})
}

func containerID(t *testing.T, cli interface {
	ContainerList(context.Context, client.ContainerListOptions) (client.ContainerListResult, error)
}, run, service string) string {
	t.Helper()
	f := make(client.Filters).Add("label", docker.Label+"="+run).Add("label", "crosstalk.service="+service)
	cs, err := cli.ContainerList(context.Background(), client.ContainerListOptions{All: true, Filters: f})
	require.NoError(t, err)
	require.Len(t, cs.Items, 1, service)
	return cs.Items[0].ID
}

// Advisers on the container stack: their accounts, lockout counters and the
// audit log are shared by the replicas in PostgreSQL, and the mass-read
// rule raises its alert there, whichever replica served the reads.
func TestStackAdvisersAndAudit(t *testing.T) {
	dockertest.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pop, err := population.New(42, 400, population.Mix{Legacy: 1}, population.WithAdvisers(4))
	require.NoError(t, err)
	s := containers.New(containers.WithReplicas(2))
	base, err := s.Start(ctx, pop)
	defer func() { require.NoError(t, s.Stop(context.Background())) }()
	require.NoError(t, err)

	staff := pop.Staff()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Timeout: 5 * time.Second, Jar: jar, Transport: &http.Transport{DisableKeepAlives: true}, // each request may go to another replica
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, v url.Values) int {
		t.Helper()
		resp, err := hc.PostForm(base+path, v)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	get := func(path string) int {
		t.Helper()
		resp, err := hc.Get(base + path)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	// Adviser 1 fails its password LockoutAfter times, across both replicas: locked.
	for range portal.LockoutAfter {
		assert.Equal(t, http.StatusUnauthorized, post("/adviser/login", url.Values{"login": {staff.Login(1)}, "password": {"guess"}}))
	}
	assert.Equal(t, http.StatusLocked, post("/adviser/login", url.Values{"login": {staff.Login(1)}, "password": {staff.Password(1)}}),
		"the failure counter is shared by the replicas")

	// Adviser 0 logs in with its second factor and reads 11 files outside its caseload.
	require.Equal(t, http.StatusSeeOther, post("/adviser/login", url.Values{"login": {staff.Login(0)}, "password": {staff.Password(0)}}))
	require.Equal(t, http.StatusSeeOther, post("/adviser/mfa", url.Values{"code": {totpCode(t, staff.TOTPSecret(0))}}))
	assert.Equal(t, http.StatusOK, get("/adviser/caseload"))
	own := staff.CaseloadAt(0, 0)
	caf, num := pop.Beneficiary(own)
	assert.Equal(t, http.StatusOK, get("/adviser/files/"+caf+"/"+num))
	outside := 0
	for i := 0; outside < 11; i++ {
		if staff.Of(i) == 0 {
			continue
		}
		caf, num := pop.Beneficiary(i)
		assert.Equal(t, http.StatusForbidden, get("/adviser/files/"+caf+"/"+num), "user %d is not in adviser 0's caseload", i)
		outside++
	}

	// Rows are read once settled: read until the log is complete past the
	// last request, from where each read ended.
	done := time.Now()
	var trail harness.AuditTrail
	for trail.Complete.Before(done) {
		time.Sleep(500 * time.Millisecond)
		next, err := s.Audit(ctx, trail.Next)
		require.NoError(t, err)
		trail.Entries, trail.Alerts = append(trail.Entries, next.Entries...), next.Alerts
		trail.Next, trail.Complete = next.Next, next.Complete
	}
	require.Len(t, trail.Entries, 12, "every access is logged, granted or not")
	assert.Equal(t, staff.Login(0), trail.Entries[0].Reader)
	assert.Equal(t, own, trail.Entries[0].Subject)
	assert.True(t, trail.Entries[0].Granted)
	assert.False(t, trail.Entries[11].Granted)
	require.Len(t, trail.Alerts, 1, "more than 10 out-of-caseload reads within a minute raise one alert")
	assert.Equal(t, staff.Login(0), trail.Alerts[0].Reader)
}

// totpCode is the adviser's current one-time password, as its app shows it.
func totpCode(t *testing.T, secret string) string {
	code, err := totp.GenerateCode(secret, time.Now())
	require.NoError(t, err)
	return code
}
