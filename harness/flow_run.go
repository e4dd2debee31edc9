package harness

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/template"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// flowUser is what a flow's templates see as .User.
type flowUser struct {
	population.User
	Password    string // the password the account holds now
	NewPassword string // the one a migration step sets
	NextIBAN    string // a new IBAN for a bank-detail change
	TOTPSecret  string // for {{totp .User}}
}

// adviserData is what a flow's templates see as .Adviser.
type adviserData struct {
	Index      int
	Login      string
	Password   string
	MFA        string // the static second factor the reference portal asks for
	TOTPSecret string // for {{totp .Adviser}}
}

// flowData is the data of a step's templates.
type flowData struct {
	User    flowUser
	Adviser adviserData
	Subject population.User // the file an adviser reads next
	Guess   string          // a credential-stuffing guess
	Vars    map[string]string

	seed  uint64
	actor actorID
	cycle uint32
}

// Random returns a value that is random to the portal and fixed for one
// actor's journey: {{.Random "state"}} twice in a journey is one value, as
// a PKCE verifier must be from the authorize request to the token one.
func (d flowData) Random(name string) string {
	h := mixHash(d.seed ^ uint64(uint32(d.actor))<<32 ^ uint64(d.cycle))
	for _, c := range []byte(name) {
		h = mixHash(h ^ uint64(c))
	}
	var b [32]byte // 43 characters: the length RFC 7636 asks of a PKCE verifier
	for i := 0; i < len(b); i += 8 {
		h = mixHash(h + 0x9e3779b97f4a7c15)
		for k := 0; k < 8; k++ {
			b[i+k] = byte(h >> (8 * k))
		}
	}
	return templateFuncs["base64url"].(func(string) string)(string(b[:]))
}

// request fills t with id's next request and reports whether it did: an
// actor whose journey has no step left to take (skipped, or no flow for it)
// is handed back and another is asked for.
func (e *engine) request(t *vegeta.Target, id actorID) bool {
	a := e.actor(id)
	if a.flow < 0 {
		f := e.choose(id, a)
		if f < 0 {
			e.idleAgain(id)
			return false
		}
		a.begin(f)
	}
	if a.follow == "" && !e.skip(id, a) {
		a.end()
		e.idleAgain(id)
		return false
	}
	s := &e.flows[a.flow].steps[a.step]
	t.Header = make(http.Header, 6)
	t.Header[attrHeader] = []string{strconv.Itoa(int(id))}
	if a.follow != "" {
		host := e.hostName[hostOf(a.follow)]
		if c := jarHeader(a.jar, host); c != "" {
			t.Header["Cookie"] = []string{c}
		}
		t.Method, t.URL, t.Body = http.MethodGet, a.follow, nil
		return true
	}
	if c := jarHeader(a.jar, s.Host); c != "" {
		t.Header["Cookie"] = []string{c}
	}
	s.fill(t, e.baseOf(s.Host), e.data(id, a, s))
	return true
}

// skip passes over the steps of a's journey that do not run this time
// (their chance, an earlier step that did not run, a redirect that did not
// come) and reports whether a step is left to take.
func (e *engine) skip(id actorID, a *actor) bool {
	steps := e.flows[a.flow].steps
	for int(a.step) < len(steps) {
		s := &steps[a.step]
		run := true
		switch {
		case s.after >= 0 && a.ran&(1<<s.after) == 0:
			run = false
		case s.IfLocation != "" && pathOf(a.lastLocation) != s.IfLocation:
			run = false
		case s.Chance != nil:
			p := s.Chance.resolve(e.journeys)
			h := mixHash(e.seed ^ uint64(uint32(id))<<32 ^ uint64(a.cycle) ^ uint64(a.step)<<56)
			run = float64(h>>11)/(1<<53) < p
		}
		if run {
			return true
		}
		a.step++
	}
	return false
}

// choose picks id's flow for its next journey, by weight among the flows
// its actor and account state allow, reproducibly from the seed.
func (e *engine) choose(id actorID, a *actor) int {
	role := ActorBeneficiary
	if id < 0 {
		if a.done {
			return -1
		}
		role = staffRoles[e.staff.role[-2-id]]
	}
	total := 0
	for _, fi := range e.byActor[role] {
		if p := &e.flows[fi]; len(p.states) == 0 || containsState(p.states, a.state) {
			total += p.weight
		}
	}
	if total == 0 {
		return -1
	}
	x := int(mixHash(e.seed^uint64(uint32(id))<<20^uint64(a.cycle)^0xf10) % uint64(total))
	for _, fi := range e.byActor[role] {
		if p := &e.flows[fi]; len(p.states) == 0 || containsState(p.states, a.state) {
			if x < p.weight {
				return fi
			}
			x -= p.weight
		}
	}
	return -1
}

func containsState(list []population.State, s population.State) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// data returns the template data of id's step s.
func (e *engine) data(id actorID, a *actor, s *stepPlan) flowData {
	d := flowData{Vars: a.vars, seed: e.seed, actor: id, cycle: a.cycle}
	if id >= 0 {
		if s.user {
			d.User = e.flowUser(int(id), a)
		}
		return d
	}
	adv := int(-2 - id)
	staff := e.staff.staff
	d.Adviser = adviserData{Index: adv, Login: staff.Login(adv), Password: staff.Password(adv), MFA: staff.MFACode(adv),
		TOTPSecret: staff.TOTPSecret(adv)}
	if s.Reads {
		d.Subject = e.pop.User(e.staff.subject(adv))
	}
	if s.Guess != nil {
		d.Guess = e.staff.guess(adv)
	}
	return d
}

func (e *engine) flowUser(i int, a *actor) flowUser {
	return flowUser{User: e.pop.User(i), Password: e.pop.Password(i, int(a.pwGen)),
		NewPassword: e.pop.Password(i, int(a.pwGen)+1), NextIBAN: e.pop.IBAN(i, int(max(a.ibanGen, a.ibanAlt))+1),
		TOTPSecret: e.pop.TOTPSecret(i)}
}

// baseOf returns the base URL of a declared host ("" for the target).
func (e *engine) baseOf(host string) string {
	if host == "" {
		return e.base
	}
	return e.hosts[host]
}

// fill sets t's method, URL, headers and body from the step's templates
// over data; t.Header must be allocated.
func (s *stepPlan) fill(t *vegeta.Target, base string, data flowData) {
	exec := func(tm *template.Template) string {
		var b strings.Builder
		if err := tm.Execute(&b, data); err != nil {
			// A variable an earlier step failed to extract: send the
			// request anyway; its status will break the flow, visibly.
			return ""
		}
		return b.String()
	}
	t.Method, t.URL, t.Body = s.Method, base+exec(s.path), nil
	for k, tm := range s.headers {
		t.Header[k] = []string{exec(tm)}
	}
	switch {
	case len(s.form) > 0:
		v := url.Values{}
		for k, tm := range s.form {
			v.Set(k, exec(tm))
		}
		t.Body = []byte(v.Encode())
		t.Header["Content-Type"] = []string{"application/x-www-form-urlencoded"}
	case len(s.json) > 0:
		m := make(map[string]string, len(s.json))
		for k, tm := range s.json {
			m[k] = exec(tm)
		}
		t.Body, _ = json.Marshal(m)
		t.Header["Content-Type"] = []string{"application/json"}
	}
}

// expects reports whether status (and location) lets the step go on: one
// of Expect, or 200-399 when none is given, redirecting to ExpectLocation
// if one is given.
func (s *stepPlan) expects(status int, location string) bool {
	ok := status >= 200 && status < 400
	if len(s.Expect) > 0 {
		ok = containsInt(s.Expect, status)
	}
	if ok && s.ExpectLocation != "" {
		ok = pathOf(location) == s.ExpectLocation
	}
	return ok
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// pathOf returns the path of a Location (absolute or not).
func pathOf(loc string) string {
	if strings.HasPrefix(loc, "/") {
		if i := strings.IndexAny(loc, "?#"); i >= 0 {
			return loc[:i]
		}
		return loc
	}
	if u, err := url.Parse(loc); err == nil {
		return u.Path
	}
	return loc
}

// hostOf returns the host:port of a URL.
func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	return p.Host
}

// probe is a GET of a flow whose path renders without any extracted value:
// anonymous requests replay it.
type probe struct {
	step *stepPlan
}

// probeSteps returns the flows' GET steps on the target that a probe can
// replay, and the site's root.
func (e *engine) probeSteps() []probe {
	var out []probe
	seen := map[string]bool{}
	for fi := range e.flows {
		for si := range e.flows[fi].steps {
			s := &e.flows[fi].steps[si]
			if s.Method != http.MethodGet || s.Host != "" || seen[s.Path] || strings.Contains(s.Path, ".Vars") {
				continue
			}
			seen[s.Path] = true
			out = append(out, probe{step: s})
		}
	}
	root, _ := template.New("root").Parse("/")
	return append(out, probe{step: &stepPlan{Step: Step{Method: http.MethodGet, Path: "/"}, path: root}})
}

// probe fills t with an anonymous request: one of the flows' own GET
// paths, rendered for some user, sent with no session at all.
//
// Every other probe borrows a recent user's session instead (the Autorize
// check): see probe_borrowed.go.
func (e *engine) probe(t *vegeta.Target, n uint64) {
	p := e.probes[n%uint64(len(e.probes))]
	i := int(mixHash(e.seed^n) % uint64(e.pop.Size()))
	if (n/uint64(len(e.probes)))%2 == 1 && p.step.Path != "/" {
		if b, ok := e.borrow(e.seed ^ n); ok {
			e.borrowedProbe(t, p, i, b)
			return
		}
	}
	t.Header = http.Header{attrHeader: {"-"}}
	var d flowData
	if p.step.user {
		d.User = flowUser{User: e.pop.User(i)}
	}
	var b strings.Builder
	_ = p.step.path.Execute(&b, d)
	t.Method, t.URL, t.Body = http.MethodGet, e.base+b.String(), nil
}

// advance moves x's actor on after its response (x.resp nil when the
// request failed) and hands it to a queue.
func (e *engine) advance(x *exchange) {
	id, a := x.id, e.actor(x.id)
	if a.flow < 0 {
		e.idleAgain(id)
		return
	}
	plan := &e.flows[a.flow]
	s := &plan.steps[a.step]
	following := a.follow != ""
	a.follow = ""
	resp := x.resp
	if x.err != nil {
		resp = nil
	}
	fail := func(why string) {
		e.flowFailed(id, plan.name+"/"+s.Name, why)
		e.endJourney(id, a)
	}
	if resp == nil {
		if s.Login && !following {
			e.loginAttempts.Add(1)
			x.login = -1
			if e.observer != nil {
				e.observer.Login(false)
			}
		}
		if !following {
			e.unknownOutcome(a, s)
		}
		fail("the request failed")
		return
	}
	e.keepCookies(a, x)
	loc := resp.Header.Get("Location")
	if following {
		// The page a redirect of the step led to: its own outcome was
		// judged on the redirect; any page will do, and redirects on.
		if next, ok := e.followable(x.req.URL, loc); ok && resp.StatusCode >= 300 && resp.StatusCode < 400 && a.hops < maxRedirects {
			a.follow, a.hops, a.lastLocation = next, a.hops+1, loc
			e.readyAgain(id)
			return
		}
		a.hops = 0
		if resp.StatusCode >= 400 {
			fail(fmt.Sprintf("status %d at the end of its redirects", resp.StatusCode))
			return
		}
		// A followed step's values are on the page its redirects end at
		// (a login form's hidden field), or in the last Location.
		if missing := e.extractAll(x, a, s, a.lastLocation); missing != "" {
			fail("could not extract " + missing + " from the page its redirects end at")
			return
		}
		e.stepDone(id, a, plan, s)
		return
	}
	ok := s.expects(resp.StatusCode, loc)
	if s.Login {
		e.countLogin(a, ok, resp.StatusCode)
		x.login = -1
		if ok {
			x.login = 1
		}
	}
	if s.Guess != nil && id < 0 {
		if done := e.judgeGuess(x, a, s); done {
			e.endJourney(id, a)
			return
		}
	}
	if s.Writes != "" {
		a.touched = true // audited whatever the answer: a refused write must have left the account as it was
	}
	if !ok {
		if resp.StatusCode >= 500 {
			e.unknownOutcome(a, s)
		}
		fail(fmt.Sprintf("status %d, expected %s", resp.StatusCode, expectedText(s)))
		return
	}
	redirect := resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != ""
	if !(s.Follow && redirect) {
		if missing := e.extractAll(x, a, s, loc); missing != "" {
			fail("could not extract " + missing)
			return
		}
	}
	if s.afterLogin && !s.Logout {
		e.lend(id, a)
	}
	e.stepEffects(id, a, s, resp.StatusCode)
	a.lastLocation = loc
	if s.Follow && redirect {
		if next, ok := e.followable(x.req.URL, loc); ok {
			a.follow, a.hops = next, 1
			e.readyAgain(id)
			return
		}
		fail("redirect to a host the scenario does not declare: " + loc)
		return
	}
	e.stepDone(id, a, plan, s)
}

// countLogin counts a login attempt and its success. A failed login after
// a password change that timed out means the other generation holds: the
// next journey logs in with it.
func (e *engine) countLogin(a *actor, ok bool, status int) {
	e.loginAttempts.Add(1)
	if e.observer != nil {
		e.observer.Login(ok)
	}
	if ok {
		e.loginOK.Add(1)
		return
	}
	if a.pwUnsure && status < 500 {
		a.pwGen ^= 1
		a.state = population.MigrationPending
		if a.pwGen == 1 {
			a.state = population.Migrated
		}
	}
}

// extractAll keeps the values step s extracts from x in a's variables, and
// returns the name of one it could not find. A session value the session
// oracle refused (another user's) is never adopted.
func (e *engine) extractAll(x *exchange, a *actor, s *stepPlan, location string) (missing string) {
	for name, xt := range s.Extract {
		v, found := extract(xt, s.regex[name], x.resp, x.body, location)
		if !found {
			return name
		}
		if name == e.sessionVar && !e.claimToken(x, v, "extracted "+name) {
			continue
		}
		if a.vars == nil {
			a.vars = map[string]string{}
		}
		a.vars[name] = v
	}
	return ""
}

// stepEffects records what a step that succeeded changed: the password
// generation, the bank details, an adviser's read, the session.
func (e *engine) stepEffects(id actorID, a *actor, s *stepPlan, status int) {
	if s.Migrates {
		a.pwGen, a.state, a.pwUnsure = 1, population.Migrated, false
	}
	if s.Writes != "" {
		gen := max(a.ibanGen, a.ibanAlt) + 1
		a.touched, a.ibanGen, a.ibanAlt, a.ibanUnsure = true, gen, 0, false
	}
	if s.otp && id < 0 {
		e.staff.secondFactor()
	}
	if s.Reads && id < 0 {
		adv := int(-2 - id)
		e.staff.read(adv, e.staff.subject(adv), status)
		a.reads++
	}
	if s.Logout {
		e.forgetSession(a)
		e.unlend(id)
	}
}

// stepDone moves a past step s: again if it repeats, to the next step, or
// to the end of its journey.
func (e *engine) stepDone(id actorID, a *actor, plan *flowPlan, s *stepPlan) {
	a.ran |= 1 << a.step
	a.rep++
	if s.Repeat == -1 || int(a.rep) < s.Repeat {
		e.readyAgain(id) // the same step again
		return
	}
	a.step, a.rep = a.step+1, 0
	if int(a.step) >= len(plan.steps) {
		e.endJourney(id, a)
		return
	}
	e.readyAgain(id)
}

// maxRedirects bounds a redirect chain a step follows.
const maxRedirects = 10

// endJourney closes id's journey and hands it back between journeys.
func (e *engine) endJourney(id actorID, a *actor) {
	e.forgetSession(a)
	e.unlend(id)
	a.end()
	e.idleAgain(id)
}

// unknownOutcome records that a write or a password change may or may not
// have happened: the request failed or the portal answered 5xx.
func (e *engine) unknownOutcome(a *actor, s *stepPlan) {
	if s.Migrates {
		a.pwUnsure = true
	}
	if s.Writes != "" {
		gen := max(a.ibanGen, a.ibanAlt) + 1
		a.touched = true
		if !a.ibanUnsure {
			a.ibanAlt = gen
		} else {
			a.ibanAlt = max(a.ibanAlt, gen)
		}
		a.ibanUnsure = true
	}
}

func expectedText(s *stepPlan) string {
	want := "200-399"
	if len(s.Expect) > 0 {
		want = fmt.Sprint(s.Expect)
	}
	if s.ExpectLocation != "" {
		want += " to " + s.ExpectLocation
	}
	return want
}

// followable resolves a redirect's Location against the request's URL and
// reports whether it stays on the target or a declared host.
func (e *engine) followable(from *url.URL, loc string) (string, bool) {
	u, err := from.Parse(loc)
	if err != nil {
		return "", false
	}
	if _, ok := e.hostName[u.Host]; !ok {
		return "", false
	}
	return u.String(), true
}
