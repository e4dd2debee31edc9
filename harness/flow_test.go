package harness

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// step drives e by one request, as vegeta does: the targeter fills a
// target, the transport sends it, judges the response and moves its actor.
func step(t *testing.T, e *engine) (vegeta.Target, int) {
	t.Helper()
	var vt vegeta.Target
	require.NoError(t, e.target(&vt))
	req, err := http.NewRequest(vt.Method, vt.URL, bytes.NewReader(vt.Body))
	require.NoError(t, err)
	req.Header = vt.Header.Clone()
	resp, err := e.RoundTrip(req)
	if err != nil {
		return vt, 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return vt, resp.StatusCode
}

// flowEngine is an engine of flows against base, every field sensitive.
func flowEngine(t *testing.T, pop *population.Population, base string, flows ...Flow) *engine {
	t.Helper()
	plans, errs := compileFlows(flows, nil)
	require.Empty(t, errs)
	return newEngine(engineConfig{pop: pop, seed: 9, base: base, next: mustTransport(t), flows: plans, sessionVar: "token"})
}

// jsonPortal is a token API written for this test: POST /api/login with a
// JSON body answers a bearer token in JSON; GET /api/me answers the token
// owner's NIR. With leak set, /api/me answers the previous caller's.
type jsonPortal struct {
	pop  *population.Population
	leak bool

	mu     sync.Mutex
	tokens map[string]int
	last   int
	logins int
}

func (p *jsonPortal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.URL.Path {
	case "/api/login":
		var in struct{ NIR, Password string }
		if json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		for i := 0; i < p.pop.Size(); i++ {
			if p.pop.NIR(i) == in.NIR && (in.Password == p.pop.Password(i, 0) || in.Password == p.pop.Password(i, 1)) {
				p.logins++
				tok := "t" + in.NIR
				p.tokens[tok] = i
				_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
				return
			}
		}
		http.Error(w, "no", http.StatusUnauthorized)
	case "/api/me":
		i, ok := p.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		if !ok {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		shown := i
		if p.leak && p.last >= 0 && p.last != i {
			shown = p.last
		}
		p.last = i
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"nir": p.pop.NIR(shown)})
	default:
		http.NotFound(w, r)
	}
}

func apiFlow() Flow {
	return Flow{Name: "api", Steps: []Step{
		{Name: "login", Method: "POST", Path: "/api/login", JSON: map[string]string{"NIR": "{{.User.NIR}}", "Password": "{{.User.Password}}"},
			Expect: []int{200}, Login: true, Extract: map[string]Extract{"token": {JSON: "/token"}}},
		{Name: "me", Method: "GET", Path: "/api/me", Headers: map[string]string{"Authorization": "Bearer {{.Vars.token}}"}, Expect: []int{200}},
	}}
}

// TestFlowDrivesAJSONAPI: a declared flow logs users in through a JSON API,
// carries the extracted token, and the oracle judges its pages: nothing on
// the correct API, the leak on the leaky one, in seconds and without a load.
func TestFlowDrivesAJSONAPI(t *testing.T) {
	pop, err := population.New(3, 20, population.DefaultMix)
	require.NoError(t, err)
	for _, leak := range []bool{false, true} {
		p := &jsonPortal{pop: pop, leak: leak, tokens: map[string]int{}, last: -1}
		srv := httptest.NewServer(p)
		e := flowEngine(t, pop, srv.URL, apiFlow())
		e.journeys.Probes = 0
		statuses := map[int]int{}
		for range 60 {
			_, code := step(t, e)
			statuses[code]++
		}
		srv.Close()
		assert.Equal(t, uint64(p.logins), e.loginOK.Load(), "every login the portal granted is counted")
		assert.Greater(t, p.logins, 10)
		assert.Zero(t, statuses[http.StatusUnauthorized], "the token was carried: %v", statuses)
		if leak {
			assert.Greater(t, e.rec.Total(), uint64(0), "the leaky API is caught")
		} else {
			assert.Zero(t, e.rec.Total(), "the correct API is never flagged")
		}
	}
}

// TestFlowCompileErrorsNameTheStep: a flow error names the flow and step.
func TestFlowCompileErrorsNameTheStep(t *testing.T) {
	for _, tc := range []struct {
		step Step
		want string
	}{
		{Step{Name: "a", Method: "GET", Path: "/{{.User.Nope}}"}, "flows[0].steps[0]"},
		{Step{Name: "a", Method: "GET", Path: "/x", Host: "elsewhere"}, "elsewhere"},
		{Step{Name: "a", Method: "GET", Path: "/x", After: "missing"}, "missing"},
		{Step{Name: "a", Method: "GET", Path: "/x", Headers: map[string]string{"Authorization": "Bearer {{.Vars.tokn}}"}}, `no step of this flow extracts for key "tokn"`},
		{Step{Name: "a", Method: "GET", Path: "/x", Extract: map[string]Extract{"v": {Regex: "("}}}, "regex"},
	} {
		_, errs := compileFlows([]Flow{{Name: "f", Steps: []Step{tc.step}}}, nil)
		require.NotEmpty(t, errs, "%+v", tc.step)
		assert.Contains(t, errs[0].Error(), tc.want)
	}
}

// TestFlowFollowsRedirectsOnDeclaredHostsOnly: a step with follow goes
// through the redirect chain; a redirect to an undeclared host ends the
// journey as a flow failure, and no request goes there.
func TestFlowFollowsRedirectsOnDeclaredHostsOnly(t *testing.T) {
	pop, err := population.New(3, 5, population.DefaultMix)
	require.NoError(t, err)
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Store(r.URL.Path, true)
		switch r.URL.Path {
		case "/start":
			http.Redirect(w, r, "/middle", http.StatusFound)
		case "/middle":
			http.Redirect(w, r, "/end", http.StatusFound)
		case "/away":
			http.Redirect(w, r, "http://192.0.2.1/steal", http.StatusFound)
		default:
			_, _ = io.WriteString(w, "ok")
		}
	}))
	defer srv.Close()
	e := flowEngine(t, pop, srv.URL,
		Flow{Name: "f", Steps: []Step{{Name: "go", Method: "GET", Path: "/start", Follow: true}, {Name: "away", Method: "GET", Path: "/away", Follow: true}}})
	e.journeys.Probes = 0
	for range 12 {
		step(t, e)
	}
	for _, p := range []string{"/start", "/middle", "/end", "/away"} {
		_, ok := hits.Load(p)
		assert.True(t, ok, "%s was requested", p)
	}
	assert.Greater(t, e.flowFailures.Load(), uint64(0))
	assert.Contains(t, e.firstFlowFailure.Load().why, "does not declare")
}

// TestThinkIsPerFlow: a flow's own think replaces the scenario's, so a bot
// (credential stuffing) does not pause while users do.
func TestThinkIsPerFlow(t *testing.T) {
	none := time.Duration(0)
	e := testEngine(t, 5, Flow{Name: "bot", Think: &none, Steps: []Step{{Name: "a", Method: "GET", Path: "/a", Repeat: -1}}})
	e.journeys.Think = time.Hour
	a := e.actor(1)
	a.begin(0)
	e.readyAgain(1)
	id, ok := e.ready.pop()
	require.True(t, ok, "the bot is ready at once")
	assert.Equal(t, int32(1), id)
	e.flows[0].think = nil
	e.readyAgain(1)
	_, ok = e.ready.pop()
	assert.False(t, ok, "with the scenario's hour of think time, the actor waits")
}

// TestSeedingSendsOneRequestPerUser: a seeding request runs once per user,
// its templates filled with that user's values; a refusal names the user.
func TestSeedingSendsOneRequestPerUser(t *testing.T) {
	pop, err := population.New(4, 50, population.DefaultMix)
	require.NoError(t, err)
	var mu sync.Mutex
	seen := map[string]bool{}
	refuse := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		nir := r.PostFormValue("nir")
		if nir == refuse {
			http.Error(w, "duplicate", http.StatusConflict)
			return
		}
		seen[nir] = true
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	e := flowEngine(t, pop, srv.URL, apiFlow())
	s := &Seeding{Request: &Step{Name: "seed", Method: "POST", Path: "/admin/users",
		Form: map[string]string{"nir": "{{.User.NIR}}"}, Expect: []int{201}}, Concurrency: 4}
	require.Empty(t, s.validate())
	require.NoError(t, e.seedPopulation(t.Context(), s, mustTransport(t), srv.URL, t.TempDir(), func(string) {}))
	assert.Len(t, seen, 50)
	for i := range 50 {
		assert.True(t, seen[pop.NIR(i)], "user #%d seeded", i)
	}
	refuse = pop.NIR(7)
	err = e.seedPopulation(t.Context(), s, mustTransport(t), srv.URL, t.TempDir(), func(string) {})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "user #7")
	assert.Contains(t, err.Error(), "answered 409, expected [201]: duplicate")
}

// advisersPortal is an adviser login written for this test: a password,
// then a TOTP second factor; with weak set, no second factor and no lockout.
type advisersPortal struct {
	staff *population.Advisers
	weak  bool

	mu    sync.Mutex
	fails map[string]int
}

func (p *advisersPortal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	login := r.PostFormValue("login")
	adv := -1
	for a := range p.staff.Count() {
		if p.staff.Login(a) == login {
			adv = a
		}
	}
	switch {
	case adv < 0:
		http.Error(w, "no", http.StatusUnauthorized)
	case !p.weak && p.fails[login] >= 5:
		http.Error(w, "locked", http.StatusLocked)
	case r.PostFormValue("password") != p.staff.Password(adv):
		p.fails[login]++
		http.Error(w, "no", http.StatusUnauthorized)
	case p.weak:
		http.Redirect(w, r, "/home", http.StatusSeeOther)
	default:
		http.Redirect(w, r, "/mfa", http.StatusSeeOther)
	}
}

// TestCredentialStuffingJudgedByTheFlow: the stuffing flow's guesses are
// judged by the auth oracle: a lockout passes, a guessed password accepted
// without a second factor is a take-over, and failures past the limit
// without a lockout are a violation.
func TestCredentialStuffingJudgedByTheFlow(t *testing.T) {
	pop, err := population.New(4, 1000, population.DefaultMix, population.WithAdvisers(4))
	require.NoError(t, err)
	none := time.Duration(0)
	stuffing := Flow{Name: "stuffing", Actor: ActorStuffing, Think: &none, Steps: []Step{{
		Name: "guess", Method: "POST", Path: "/login", Form: map[string]string{"login": "{{.Adviser.Login}}", "password": "{{.Guess}}"},
		Expect: []int{401}, Repeat: -1,
		Guess: &GuessOutcomes{Locked: []int{423}, Denied: []int{401}, Accepted: []int{303}, Challenge: "/mfa"}}}}
	for _, weak := range []bool{false, true} {
		srv := httptest.NewServer(&advisersPortal{staff: pop.Staff(), weak: weak, fails: map[string]int{}})
		plans, errs := compileFlows([]Flow{stuffing}, nil)
		require.Empty(t, errs)
		e := newEngine(engineConfig{pop: pop, seed: 9, base: srv.URL, next: mustTransport(t), flows: plans,
			advisers: &AdviserPlan{Count: 4, Stuffing: 1, StuffingAttempts: 10, StuffingShare: 1, MaxFailures: 5}})
		for range 40 {
			step(t, e)
		}
		srv.Close()
		if weak {
			assert.Equal(t, uint64(2), e.rec.Total(), "no lockout after 6 failures, and a take-over at the 10th guess")
			assert.Equal(t, map[int]int{3: 10}, e.staff.takeoverAt, "the last adviser is the stuffed one")
		} else {
			assert.Zero(t, e.rec.Total(), "locked out: nothing to report")
			assert.Len(t, e.staff.lockedAt, 1)
		}
	}
}

// TestFollowedStepExtractsAtTheEndOfItsRedirects: a login behind an
// identity provider: the portal redirects to the provider's host, whose
// login page holds a hidden challenge; the followed step reads it there,
// and the next step posts it to the provider with the cookie the provider
// set (each host its own jar), whose redirect back carries a code read from
// the last Location.
func TestFollowedStepExtractsAtTheEndOfItsRedirects(t *testing.T) {
	pop, err := population.New(3, 5, population.DefaultMix)
	require.NoError(t, err)
	var posted sync.Map
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/authorize":
			http.SetCookie(w, &http.Cookie{Name: "idp", Value: "browser-1"})
			_, _ = io.WriteString(w, `<form><input type="hidden" name="challenge" value="ch-42"></form>`)
		case "/login":
			c, _ := r.Cookie("idp")
			posted.Store(r.PostFormValue("challenge")+"/"+c.String(), true)
			http.Redirect(w, r, "http://"+r.Header.Get("X-Back")+"/cb?code=c-7", http.StatusSeeOther)
		}
	}))
	defer idp.Close()
	var codes sync.Map
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/start":
			http.Redirect(w, r, idp.URL+"/authorize", http.StatusFound)
		case "/cb":
			codes.Store(r.URL.Query().Get("code"), true)
			_, _ = io.WriteString(w, "welcome")
		case "/done":
			_, _ = io.WriteString(w, "ok")
		}
	}))
	defer app.Close()
	appHost := strings.TrimPrefix(app.URL, "http://")
	flows := []Flow{{Name: "oidc", Steps: []Step{
		{Name: "start", Method: "GET", Path: "/start", Follow: true, Extract: map[string]Extract{"challenge": {FormField: "challenge"}}},
		{Name: "login", Host: "idp", Method: "POST", Path: "/login", Follow: true, Expect: []int{303},
			Headers: map[string]string{"X-Back": appHost}, Form: map[string]string{"challenge": "{{.Vars.challenge}}"},
			Extract: map[string]Extract{"code": {Query: "code"}}},
		{Name: "done", Method: "GET", Path: "/done?code={{.Vars.code}}", Expect: []int{200}},
	}}}
	hosts := map[string]string{"idp": idp.URL}
	plans, errs := compileFlows(flows, hosts)
	require.Empty(t, errs)
	e := newEngine(engineConfig{pop: pop, seed: 9, base: app.URL, hosts: hosts, next: mustTransport(t), flows: plans})
	e.journeys.Probes = 0
	var last []string
	for range 12 {
		vt, _ := step(t, e)
		last = append(last, vt.URL)
	}
	_, ok := posted.Load("ch-42/idp=browser-1")
	assert.True(t, ok, "the challenge from the provider's page, with the provider's cookie: %v", last)
	_, ok = codes.Load("c-7")
	assert.True(t, ok, "the redirect back was followed to the application")
	assert.Contains(t, last, app.URL+"/done?code=c-7", "the code read from the last redirect's Location")
	assert.Zero(t, e.flowFailures.Load())
}
