package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

func TestProfilePacer(t *testing.T) {
	d := 10 * time.Second
	cases := []struct {
		name    string
		profile RateProfile
		want    float64 // requests over the run
	}{
		{"constant", RateProfile{Profile: "constant", Rate: 100}, 1000},
		{"ramp", RateProfile{Profile: "ramp", From: 0, To: 200}, 1000},
		{"spike", RateProfile{Profile: "spike", Base: 50, Peak: 450, At: When{Frac: 0.2, Set: true}, For: When{Abs: 2 * time.Second, Set: true}}, 50*8 + 450*2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProfilePacer(tc.profile, d, 0)
			assert.InDelta(t, tc.want, p.hits(d), 0.001)
			// Replaying the pacer's waits sends the expected count.
			var elapsed time.Duration
			var hits uint64
			minWait := time.Hour
			for elapsed < d {
				wait, stop := p.Pace(elapsed, hits)
				require.False(t, stop)
				minWait = min(minWait, wait)
				elapsed += wait
				if elapsed < d {
					hits++
				}
			}
			assert.InDelta(t, tc.want, float64(hits), 2)
			if tc.name == "constant" {
				// Hits are spaced, never sent in pairs.
				assert.InDelta(t, 10*time.Millisecond, minWait, float64(100*time.Microsecond))
			}
		})
	}
	p := newProfilePacer(RateProfile{Profile: "constant", Rate: 100}, d, 50)
	_, stop := p.Pace(time.Second, 50)
	assert.True(t, stop, "the pacer stops at the request bound")
	assert.Equal(t, 450.0, RateProfile{Profile: "spike", Base: 50, Peak: 450}.Max())
	scaled := RateProfile{Profile: "spike", Base: 50, Peak: 500}.Scaled(1000)
	assert.Equal(t, 100.0, scaled.Base)
	assert.Equal(t, 1000.0, scaled.Peak)
}

func TestWhen(t *testing.T) {
	var w When
	require.NoError(t, w.UnmarshalText([]byte("25%")))
	assert.Equal(t, 5*time.Second, w.Resolve(20*time.Second))
	assert.Equal(t, "25%", w.String())
	require.NoError(t, w.UnmarshalText([]byte("3s")))
	assert.Equal(t, 3*time.Second, w.Resolve(time.Hour))
	for _, bad := range []string{"", "120%", "-1s", "soon", "%"} {
		var we *WhenError
		assert.ErrorAs(t, w.UnmarshalText([]byte(bad)), &we, bad)
	}
}

func testEngine(t *testing.T, size int, flows ...Flow) *engine {
	t.Helper()
	pop, err := population.New(5, size, population.DefaultMix)
	require.NoError(t, err)
	plans, errs := compileFlows(flows, nil)
	require.Empty(t, errs)
	return newEngine(engineConfig{pop: pop, seed: 5, base: "http://127.0.0.1:1", next: http.DefaultTransport, flows: plans,
		sensitive: allFields()})
}

func response(status int, header http.Header) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: header}
}

// judgeResponse runs the response oracles on one response to id.
func judgeResponse(e *engine, id actorID, req *http.Request, resp *http.Response, body []byte) *exchange {
	x := &exchange{seq: e.seq.Add(1), id: id, who: id.viewer(), req: req, resp: resp, body: body}
	for _, o := range e.oracles {
		o.check(e, x)
	}
	return x
}

func TestSessionOracle(t *testing.T) {
	e := testEngine(t, 100)
	req, _ := http.NewRequest("POST", "http://127.0.0.1/login/nir", nil)
	login := func(uid int, cookie string) *exchange {
		h := http.Header{"Set-Cookie": {"sid=" + cookie + "; Path=/; HttpOnly"}}
		return judgeResponse(e, actorID(uid), req, response(303, h), nil)
	}
	assert.Empty(t, login(1, "tok-a").refusedTokens)
	assert.Empty(t, login(2, "tok-b").refusedTokens)
	assert.Zero(t, e.rec.Total(), "distinct tokens for distinct users are fine")
	x := login(3, "tok-a")
	assert.Equal(t, []string{"tok-a"}, x.refusedTokens, "another user's token is refused")
	e.keepCookies(e.actor(3), x)
	assert.Empty(t, e.actor(3).jar, "and never adopted")
	login(4, "deleted")
	h := http.Header{"Set-Cookie": {"sid=tok-b; Max-Age=0"}}
	judgeResponse(e, 5, req, response(303, h), nil)
	sum, err := e.rec.Close()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), sum.ByOracle[OracleSession], "deletion and expired cookies are no tokens")
	assert.Equal(t, 3, sum.First.Viewer)
	assert.Equal(t, 1, sum.First.Owner)
	assert.Equal(t, uint64(3), sum.First.Seq, "the evidence carries the response's own sequence")
}

// TestSessionTokenFoundAnywhere: a live token of user 1 is a violation in
// another user's body, any cookie or redirect, and in an anonymous
// response; in its own user's page it is not.
func TestSessionTokenFoundAnywhere(t *testing.T) {
	const tok = "eyJhbGciOiJIUzI1NiJ9.dXNlcjE.c2lnbmF0dXJl"
	for _, tc := range []struct {
		name   string
		viewer actorID
		header http.Header
		body   string
		want   uint64
	}{
		{"own page", 1, nil, `{"token":"` + tok + `"}`, 0},
		{"another's body", 2, nil, `<script>var t = "` + tok + `";</script>`, 1},
		{"another cookie", 2, http.Header{"Set-Cookie": {"remember=" + tok + "; Path=/"}}, "", 1},
		{"a redirect", 2, http.Header{"Location": {"/cb?access_token=" + tok + "&x=1"}}, "", 1},
		{"anonymous", nobody, nil, tok, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testEngine(t, 100)
			req, _ := http.NewRequest("GET", "http://127.0.0.1/page", nil)
			judgeResponse(e, 1, req, response(303, http.Header{"Set-Cookie": {"sid=" + tok}}), nil)
			x := judgeResponse(e, tc.viewer, req, response(200, tc.header), []byte(tc.body))
			assert.Equal(t, tc.want, e.rec.Total())
			assert.Equal(t, int(tc.want), len(x.refusedTokens))
		})
	}
}

func TestSessionTokensAreForgottenAtTheEndOfAJourney(t *testing.T) {
	e := testEngine(t, 100)
	req, _ := http.NewRequest("POST", "http://127.0.0.1/login", nil)
	judgeResponse(e, 1, req, response(303, http.Header{"Set-Cookie": {"sid=t1"}}), nil)
	judgeResponse(e, 2, req, response(303, http.Header{"Set-Cookie": {"sid=t2"}}), nil)
	assert.Equal(t, 2, e.tokens.size())
	e.forgetSession(e.actor(1))
	assert.Equal(t, 1, e.tokens.size(), "a session that ended leaves the table")
	judgeResponse(e, 3, req, response(303, http.Header{"Set-Cookie": {"sid=t1"}}), nil)
	assert.Zero(t, e.rec.Total(), "a token reissued after its session ended is no leak")
}

func TestIsolationAndFailClosed(t *testing.T) {
	e := testEngine(t, 100)
	req, _ := http.NewRequest("GET", "http://127.0.0.1/dossier", nil)
	own := e.pop.User(7)
	other := e.pop.User(8)
	body := []byte("<p>" + own.NIR + " " + own.IBAN + "</p>")
	judgeResponse(e, 7, req, response(200, nil), body)
	assert.Zero(t, e.rec.Total(), "a user's own data is no violation")

	body = []byte("<p>" + other.NIR + " " + other.IBAN + " " + other.Email + "</p>")
	judgeResponse(e, 7, req, response(200, nil), body)
	judgeResponse(e, nobody, req, response(200, nil), body)
	judgeResponse(e, 9, req, response(503, http.Header{"Location": {"/x?m=" + url.QueryEscape(other.Email)}}), nil)
	sum, err := e.rec.Close()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), sum.ByOracle[OracleIsolation], "three fields of one owner in one response are one violation")
	assert.Equal(t, uint64(2), sum.ByOracle[OracleFailClosed], "anonymous and error responses are fail-closed violations")
	assert.Equal(t, 1, sum.Victims)
	assert.Equal(t, 2, sum.Viewers)
	assert.Contains(t, sum.First.Detail, "nir, iban, email")
	assert.Contains(t, sum.First.Excerpt, "»"+other.NIR+"«")
	assert.Equal(t, "header Location", sum.Examples[2].Where)
}

// fakeTarget stores IBANs in a map: enough for the writes audit.
type fakeTarget struct {
	ibans map[int]string
	mu    sync.Mutex
	log   []string
	fail  bool
}

func (f *fakeTarget) Name() string { return "fake" }
func (f *fakeTarget) Start(context.Context, *population.Population) (string, error) {
	return "http://127.0.0.1:1", nil
}
func (f *fakeTarget) StoredIBAN(_ context.Context, i int) (string, error) { return f.ibans[i], nil }
func (f *fakeTarget) Stop(context.Context) error                          { return nil }
func (f *fakeTarget) EdgeVariants() []string                              { return []string{"a", "b"} }
func (f *fakeTarget) ReloadEdge(_ context.Context, rules string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return "", errors.New("reload refused")
	}
	f.log = append(f.log, rules)
	return "a", nil
}

func TestWritesOracle(t *testing.T) {
	e := testEngine(t, 100)
	tgt := &fakeTarget{ibans: map[int]string{}}
	touch := func(i, gen int, stored string) {
		a := e.actor(actorID(i))
		a.touched, a.ibanGen = true, uint16(gen)
		tgt.ibans[i] = stored
	}
	touch(1, 2, e.pop.IBAN(1, 2)) // as written
	touch(2, 1, e.pop.IBAN(3, 4)) // user 3's write landed in user 2's account
	touch(4, 3, e.pop.IBAN(4, 1)) // a lost write
	a5 := e.actor(5)
	a5.touched, a5.ibanGen, a5.ibanAlt, a5.ibanUnsure = true, 1, 2, true
	tgt.ibans[5] = e.pop.IBAN(5, 2) // a timed-out write that landed: accepted

	n, err := auditWrites(context.Background(), e, tgt.StoredIBAN)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	sum, err := e.rec.Close()
	require.NoError(t, err)
	require.Equal(t, uint64(2), sum.ByOracle[OracleWrites])
	misdirected := sum.Examples[0]
	assert.Equal(t, 2, misdirected.Owner)
	assert.Equal(t, 3, misdirected.Viewer)
	assert.Contains(t, misdirected.Detail, "holds the IBAN that user 3 wrote")
	assert.Contains(t, sum.Examples[1].Detail, "generation 1, but the user last wrote generation 3")
}

func TestNemesisAppliesAndHealsOnSchedule(t *testing.T) {
	tgt := &fakeTarget{}
	f, err := NewFault("edge-reload")
	require.NoError(t, err)
	f.(*edgeReload).Rules = "b"
	require.NoError(t, f.Check(tgt))
	plan := []FaultSpec{{Type: "edge-reload", At: When{Abs: 20 * time.Millisecond, Set: true}, For: When{Abs: 30 * time.Millisecond, Set: true}, Fault: f}}
	n := newNemesis(tgt, plan, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	start := time.Now()
	go func() { done <- n.run(ctx, start, func(error) {}) }()
	require.Eventually(t, func() bool { return len(n.activeFaults()) == 1 }, time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(n.activeFaults()) == 0 }, time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, []string{"b", "a"}, tgt.log, "applied, then healed back to the previous rules")
	ev := n.timeline()
	require.Len(t, ev, 1)
	assert.Greater(t, ev[0].EndS, ev[0].StartS)

	// A fault that cannot be applied stops the run with a target error.
	tgt.fail = true
	n = newNemesis(tgt, plan, time.Second)
	var stopped error
	err = n.run(context.Background(), time.Now(), func(e error) { stopped = e })
	assert.Equal(t, ClassTarget, ClassOf(err))
	assert.ErrorContains(t, stopped, "could not be applied")

	// Cancelling the run heals what is applied.
	tgt.fail, tgt.log = false, nil
	plan[0].For = When{Abs: time.Hour, Set: true}
	n = newNemesis(tgt, plan, 2*time.Hour)
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- n.run(ctx, time.Now(), func(error) {}) }()
	require.Eventually(t, func() bool { return len(n.activeFaults()) == 1 }, time.Second, time.Millisecond)
	cancel()
	require.NoError(t, <-done)
	assert.Equal(t, []string{"b", "a"}, tgt.log)
}

func TestFaultRegistry(t *testing.T) {
	_, err := NewFault("nope")
	assert.ErrorContains(t, err, `unknown fault "nope" (known: edge-purge, edge-reload`)
	f, err := NewFault("edge-reload")
	require.NoError(t, err)
	f.(*edgeReload).Rules = "zzz"
	assert.ErrorContains(t, f.Check(&fakeTarget{}), `unknown rules "zzz" (known: a, b)`)
	p, _ := NewFault("edge-purge")
	err = p.Check(&fakeTarget{})
	assert.ErrorContains(t, err, "edge-purge is not supported by target fake")
	assert.Equal(t, ClassBadInput, ClassOf(err))
}

func TestCheckTargetRefusesNonLoopback(t *testing.T) {
	assert.NoError(t, CheckTarget("http://127.0.0.1:8080", nil))
	assert.NoError(t, CheckTarget("http://[::1]:8080", nil))
	assert.NoError(t, CheckTarget("http://localhost:8080", nil))
	for _, u := range []string{"http://10.0.0.1:80", "http://192.168.1.1", "https://8.8.8.8", "ftp://127.0.0.1", "nonsense"} {
		err := CheckTarget(u, nil)
		assert.Error(t, err, u)
		assert.Equal(t, ClassBadInput, ClassOf(err), u)
	}
	assert.NoError(t, CheckTarget("http://10.0.0.1:80", []string{"10.0.0.1"}), "an explicitly allowed host")

	// The dialer refuses too, whatever the caller asked for.
	tr := mustTransport(t)
	req, _ := http.NewRequest("GET", "http://10.255.255.1:9/", nil)
	_, err := tr.RoundTrip(req)
	assert.ErrorContains(t, err, "not a loopback address")
}

func TestExpiredCookies(t *testing.T) {
	for v, want := range map[string]bool{
		"sid=abc; Path=/": false, "sid=; Max-Age=0": true, "sid=x; Max-Age=-1": true, "PHPSESSID=deleted; expires=Thu, 01-Jan-1970 00:00:01 GMT": true,
		"sid=abc; Expires=Wed, 09 Jun 2100 10:18:14 GMT": false,
	} {
		c, err := http.ParseSetCookie(v)
		require.NoError(t, err)
		assert.Equal(t, want, expired(c), v)
	}
}

func TestLoadSpikeMultipliesTheRate(t *testing.T) {
	d := 10 * time.Second
	p := newProfilePacer(RateProfile{Profile: "constant", Rate: 100}, d, 0)
	spike := &loadSpike{Factor: 4}
	spike.bindPacer(p)
	var elapsed time.Duration
	var hits uint64
	applied, healed := false, false
	for elapsed < d {
		if !applied && elapsed >= 4*time.Second {
			require.NoError(t, spike.Apply(context.Background(), nil))
			applied = true
		}
		if !healed && elapsed >= 6*time.Second {
			require.NoError(t, spike.Heal(context.Background(), nil))
			healed = true
		}
		wait, stop := p.Pace(elapsed, hits)
		require.False(t, stop)
		elapsed += wait
		if elapsed < d {
			hits++
		}
	}
	assert.InDelta(t, 100*8+400*2, float64(hits), 5, "4 s at 100/s, 2 s at 400/s, 4 s at 100/s")
}

// A write is counted as made only when the portal confirms it: a session lost
// to a store flush answers a bank change with a redirect to /login, and the
// account must then still hold the previous IBAN (a false positive otherwise).
func TestBankWriteCountsOnlyWhenConfirmed(t *testing.T) {
	bank := Flow{Name: "bank", Steps: []Step{{Name: "bank", Method: "POST", Path: "/bank", Form: map[string]string{"iban": "{{.User.NextIBAN}}"},
		Expect: []int{303}, ExpectLocation: "/dossier", Writes: "iban"}}}
	for _, tc := range []struct {
		name     string
		status   int
		location string
		gen      uint16
		unsure   bool
	}{
		{"confirmed", http.StatusSeeOther, "/dossier", 1, false},
		{"session lost: sent to login", http.StatusSeeOther, "/login", 0, false},
		{"store failure: either may hold", http.StatusServiceUnavailable, "", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testEngine(t, 10, bank)
			a := e.actor(3)
			a.begin(0)
			resp := response(tc.status, nil)
			if tc.location != "" {
				resp.Header.Set("Location", tc.location)
			}
			req, _ := http.NewRequest("POST", "http://127.0.0.1:1/bank", nil)
			e.advance(&exchange{id: 3, who: actorID(3).viewer(), req: req, resp: resp})
			assert.Equal(t, tc.gen, a.ibanGen)
			assert.Equal(t, tc.unsure, a.ibanUnsure)
			assert.True(t, a.touched)
		})
	}
}

// fakeDeployer moves its replicas one at a time and stops between two when
// its context ends, as a rolling deploy cut short by the end of the load.
type fakeDeployer struct {
	fakeTarget
	replicas []string
}

func (d *fakeDeployer) Releases() []string { return []string{"v1", "v2"} }

func (d *fakeDeployer) Deploy(ctx context.Context, release string, _ time.Duration) (string, error) {
	if !slices.Contains(d.Releases(), release) {
		return "", fmt.Errorf("unknown release %q", release)
	}
	prev := d.replicas[0]
	for i := range d.replicas {
		if i > 0 && ctx.Err() != nil {
			return prev, ctx.Err()
		}
		d.replicas[i] = release
	}
	return prev, nil
}

// A rolling deploy cut short still knows what it rolls back to: the replica
// it moved returns to the previous release on heal.
func TestRollingDeployCutShortRollsBack(t *testing.T) {
	d := &fakeDeployer{replicas: []string{"v1", "v1", "v1"}}
	f := &rollingDeploy{Release: "v2"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, f.Apply(ctx, d), context.Canceled)
	assert.Equal(t, []string{"v2", "v1", "v1"}, d.replicas, "one replica moved before the load ended")
	require.NoError(t, f.Heal(context.Background(), d))
	assert.Equal(t, []string{"v1", "v1", "v1"}, d.replicas)
}

// mustTransport returns the harness's loopback-only transport, with the
// default wire settings.
func mustTransport(tb testing.TB) *http.Transport {
	tb.Helper()
	tr, err := newSafeTransport(nil, WireSpec{HTTP: "auto"})
	require.NoError(tb, err)
	tb.Cleanup(tr.CloseIdleConnections)
	return tr
}

func TestRegisterFaultTwicePanics(t *testing.T) {
	assert.PanicsWithValue(t, "harness: fault store-down registered twice", func() {
		registerFault("store-down", "again", func() Fault { return &storeDown{} })
	})
}
