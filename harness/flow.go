package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// Flows describe any portal's login and session journeys as data, so that
// no Go is needed to test a portal that is not the reference one. A flow is
// a list of HTTP steps; request fields are Go templates over the user
// ({{.User.NIR}}, {{.User.Password}}, ...) and the values earlier steps
// extracted ({{.Vars.token}}). Each synthetic user keeps its own cookie jar.

// Flow is one declared journey.
type Flow struct {
	Name string `yaml:"name" json:"name"`
	// Weight is the flow's share among the flows a user can take (default 1).
	Weight int `yaml:"weight,omitempty" json:"weight,omitempty"`
	// States restricts the flow to accounts in these states (legacy,
	// migration-pending, migrated); empty: every account.
	States []string `yaml:"states,omitempty" json:"states,omitempty"`
	Steps  []Step   `yaml:"steps" json:"steps"`
}

// Step is one HTTP request of a flow.
type Step struct {
	Name    string            `yaml:"name" json:"name"`
	Method  string            `yaml:"method" json:"method"`
	Path    string            `yaml:"path" json:"path"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Form    map[string]string `yaml:"form,omitempty" json:"form,omitempty"`
	JSON    map[string]string `yaml:"json,omitempty" json:"json,omitempty"`
	// Expect lists the statuses that let the flow go on (default: 200-399).
	Expect []int `yaml:"expect,omitempty" json:"expect,omitempty"`
	// Follow follows a redirect the step answers with (GET Location).
	Follow bool `yaml:"follow,omitempty" json:"follow,omitempty"`
	// Extract names values to take from the response for later steps.
	Extract map[string]Extract `yaml:"extract,omitempty" json:"extract,omitempty"`
	// Login counts the step as a login attempt (for login_success).
	Login bool `yaml:"login,omitempty" json:"login,omitempty"`
	// Migrates marks the step that moves the account to its own password:
	// after it, {{.User.Password}} is the new one.
	Migrates bool `yaml:"migrates,omitempty" json:"migrates,omitempty"`
}

// Extract says where a value is in a response; exactly one field is set.
type Extract struct {
	Cookie    string `yaml:"cookie,omitempty" json:"cookie,omitempty"`
	Header    string `yaml:"header,omitempty" json:"header,omitempty"`
	JSON      string `yaml:"json,omitempty" json:"json,omitempty"`             // a JSON pointer, "/token"
	Regex     string `yaml:"regex,omitempty" json:"regex,omitempty"`           // the first group, on the body
	FormField string `yaml:"form_field,omitempty" json:"form_field,omitempty"` // a hidden input's value, by name
}

// PortalSpec says what crosstalk must know of a portal beyond its flows.
type PortalSpec struct {
	// SessionCookie names the session cookie (default sid).
	SessionCookie string `yaml:"session_cookie,omitempty" json:"session_cookie,omitempty"`
	// SessionVar names an extracted value that is the session (a bearer
	// token): the session oracle tracks who it was issued to.
	SessionVar string `yaml:"session_var,omitempty" json:"session_var,omitempty"`
	// Sensitive lists the fields whose presence in another user's response
	// is a leak: nir, iban, email, phone (default: all four).
	Sensitive []string `yaml:"sensitive,omitempty" json:"sensitive,omitempty"`
	// Household lets members of one household see some of each other's
	// data lawfully.
	Household *Household `yaml:"household,omitempty" json:"household,omitempty"`
	// Seed puts the population into the portal before the load.
	Seed *Seeding `yaml:"seed,omitempty" json:"seed,omitempty"`
	// Headers change the headers every request sends (by default a
	// browser's: User-Agent, Accept, Accept-Encoding, Accept-Language); a
	// header set to "" is not sent. A step's own headers override them.
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// TLS is how an https:// portal is trusted (the --ca-file and
	// --insecure flags override it).
	TLS *TLSSpec `yaml:"tls,omitempty" json:"tls,omitempty"`
	// HTTP is the protocol: auto (HTTP/2 when the server offers it, as
	// browsers do), 1.1 or 2 (the --http flag overrides it).
	HTTP string `yaml:"http,omitempty" json:"http,omitempty"`
}

// TLSSpec says how an https:// portal is trusted.
type TLSSpec struct {
	// CAFile is a PEM file of CAs to trust, relative to the scenario file.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// Insecure skips certificate checks: loopback targets only.
	Insecure bool `yaml:"insecure,omitempty" json:"insecure,omitempty"`
}

// Household groups users Size by Size (users 0..Size-1, then Size..2Size-1,
// ...); members may see each other's Shares fields, and nothing more.
type Household struct {
	Size   int      `yaml:"size" json:"size"`
	Shares []string `yaml:"shares" json:"shares"`
}

var fieldsByName = map[string]population.Field{
	"nir": population.FieldNIR, "iban": population.FieldIBAN, "email": population.FieldEmail, "phone": population.FieldPhone,
}

func fieldNames() string {
	var n []string
	for k := range fieldsByName {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

// flowUser is what a flow's templates see as .User.
type flowUser struct {
	population.User
	Password    string // the password the account holds now
	NewPassword string // the one a migration step sets
	NextIBAN    string // a new IBAN for a bank-detail change
}

type flowData struct {
	User flowUser
	Vars map[string]string
}

// compiled forms, built once per run.
type flowPlan struct {
	name   string
	weight int
	states []population.State
	steps  []stepPlan
}

type stepPlan struct {
	Step
	kind    kind
	user    bool // some template reads .User: only then is the user's record built
	path    *template.Template
	headers map[string]*template.Template
	form    map[string]*template.Template
	json    map[string]*template.Template
	regex   map[string]*regexp.Regexp
}

var stateNames = map[string]population.State{
	"legacy": population.Legacy, "migration-pending": population.MigrationPending, "migrated": population.Migrated,
}

// compileFlows checks and compiles the flows; errors name the field.
func compileFlows(flows []Flow) ([]flowPlan, []error) {
	var errs []error
	add := func(path, format string, args ...any) { errs = append(errs, fieldErr(path, format, args...)) }
	var plans []flowPlan
	for fi, f := range flows {
		fp := fmt.Sprintf("flows[%d]", fi)
		p := flowPlan{name: f.Name, weight: max(f.Weight, 1)}
		if f.Name == "" {
			add(fp+".name", "missing: name the flow")
		}
		if f.Weight < 0 {
			add(fp+".weight", "must not be negative")
		}
		for _, s := range f.States {
			st, ok := stateNames[s]
			if !ok {
				add(fp+".states", "unknown state %q (known: legacy, migration-pending, migrated)", s)
			}
			p.states = append(p.states, st)
		}
		if len(f.Steps) == 0 {
			add(fp+".steps", "missing: a flow needs at least one step")
		}
		for si, s := range f.Steps {
			sp := fmt.Sprintf("%s.steps[%d]", fp, si)
			plan, serrs := compileStep(sp, s)
			errs = append(errs, serrs...)
			k, err := flowKind(f.Name + "/" + s.Name)
			if err != nil {
				add(sp, "%v", err)
			}
			plan.kind = k
			p.steps = append(p.steps, plan)
		}
		plans = append(plans, p)
	}
	return plans, errs
}

// compileStep checks and compiles one step, its errors naming path.
func compileStep(sp string, s Step) (stepPlan, []error) {
	var errs []error
	add := func(path, format string, args ...any) { errs = append(errs, fieldErr(path, format, args...)) }
	tmpl := func(path, text string) *template.Template {
		t, err := template.New(path).Option("missingkey=error").Parse(text)
		if err != nil {
			add(path, "%v", err)
		}
		return t
	}
	plan := stepPlan{Step: s, headers: map[string]*template.Template{}, form: map[string]*template.Template{},
		json: map[string]*template.Template{}, regex: map[string]*regexp.Regexp{}}
	if s.Name == "" {
		add(sp+".name", "missing: name the step")
	}
	switch s.Method {
	case "GET", "POST", "PUT", "PATCH", "DELETE":
	default:
		add(sp+".method", "%q: want GET, POST, PUT, PATCH or DELETE", s.Method)
	}
	if !strings.HasPrefix(s.Path, "/") {
		add(sp+".path", "%q: want a path starting with /", s.Path)
	}
	if len(s.Form) > 0 && len(s.JSON) > 0 {
		add(sp, "a step sends form or json, not both")
	}
	plan.path = tmpl(sp+".path", s.Path)
	for k, v := range s.Headers {
		plan.headers[http.CanonicalHeaderKey(k)] = tmpl(sp+".headers."+k, v)
	}
	for k, v := range s.Form {
		plan.form[k] = tmpl(sp+".form."+k, v)
	}
	for k, v := range s.JSON {
		plan.json[k] = tmpl(sp+".json."+k, v)
	}
	for name, x := range s.Extract {
		xp := sp + ".extract." + name
		set := 0
		for _, v := range []string{x.Cookie, x.Header, x.JSON, x.Regex, x.FormField} {
			if v != "" {
				set++
			}
		}
		if set != 1 {
			add(xp, "want exactly one of cookie, header, json, regex, form_field")
		}
		if x.JSON != "" && !strings.HasPrefix(x.JSON, "/") {
			add(xp+".json", "%q: want a JSON pointer such as /token", x.JSON)
		}
		re := x.Regex
		if x.FormField != "" {
			re = `name="` + regexp.QuoteMeta(x.FormField) + `"[^>]*value="([^"]*)"`
		}
		if re != "" {
			r, err := regexp.Compile(re)
			switch {
			case err != nil:
				add(xp+".regex", "%v", err)
			case r.NumSubexp() < 1:
				add(xp+".regex", "want a group around the value")
			default:
				plan.regex[name] = r
			}
		}
	}
	plan.user = usesUser(s)
	return plan, errs
}

func (p *PortalSpec) validate() []error {
	var errs []error
	if p.Seed != nil {
		errs = append(errs, p.Seed.validate()...)
	}
	for _, f := range p.Sensitive {
		if _, ok := fieldsByName[f]; !ok {
			errs = append(errs, fieldErr("portal.sensitive", "unknown field %q (known: %s)", f, fieldNames()))
		}
	}
	if p.HTTP != "" && !slices.Contains(httpVersions, p.HTTP) {
		errs = append(errs, fieldErr("portal.http", "%q: want auto, 1.1 or 2", p.HTTP))
	}
	if h := p.Household; h != nil {
		if h.Size < 2 {
			errs = append(errs, fieldErr("portal.household.size", "%d: a household has at least 2 members", h.Size))
		}
		for _, f := range h.Shares {
			if _, ok := fieldsByName[f]; !ok {
				errs = append(errs, fieldErr("portal.household.shares", "unknown field %q (known: %s)", f, fieldNames()))
			}
		}
	}
	return errs
}

// flowJourney runs declared flows.
type flowJourney struct {
	plans []flowPlan
	// sessionVar is the extracted value the session oracle tracks.
	sessionVar string
}

func (j *flowJourney) kind(u *user) kind {
	if u.flow < 0 {
		return j.plans[0].steps[0].kind // not chosen yet: the request picks
	}
	return j.plans[u.flow].steps[u.step].kind
}

// choose picks user i's flow for its journey, by weight among the flows
// its account state allows, reproducibly from the seed.
func (j *flowJourney) choose(e *engine, i int) int {
	u := &e.users[i]
	total := 0
	for _, p := range j.plans {
		if len(p.states) == 0 || slices.Contains(p.states, u.state) {
			total += p.weight
		}
	}
	if total == 0 {
		return -1
	}
	x := int(mixHash(e.seed^uint64(i)<<20^uint64(u.cycle)^0xf10) % uint64(total))
	for fi, p := range j.plans {
		if len(p.states) == 0 || slices.Contains(p.states, u.state) {
			if x < p.weight {
				return fi
			}
			x -= p.weight
		}
	}
	return -1
}

func (j *flowJourney) request(e *engine, t *vegetaTarget, i int) {
	u := &e.users[i]
	if u.flow < 0 {
		u.flow = int16(j.choose(e, i))
		u.step = 0
		if u.flow < 0 { // no flow for this account's state: probe instead
			e.probe(t, uint64(i))
			return
		}
	}
	s := &j.plans[u.flow].steps[u.step]
	t.Header = make(http.Header, 4)
	t.Header[attrHeader] = []string{strconv.Itoa(i)}
	if len(u.jar) > 0 {
		t.Header["Cookie"] = []string{jarHeader(u.jar)}
	}
	if u.follow != "" {
		e.get(t, u.follow)
		return
	}
	data := flowData{Vars: u.vars}
	if s.user {
		data.User = e.flowUser(i)
	}
	s.fill(t, e.base, data)
}

// fill sets t's method, URL, headers and body from the step's templates
// over data; t.Header must be allocated.
func (s *stepPlan) fill(t *vegetaTarget, base string, data flowData) {
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
		t.Header["Content-Type"] = []string{formType}
	case len(s.json) > 0:
		m := make(map[string]string, len(s.json))
		for k, tm := range s.json {
			m[k] = exec(tm)
		}
		t.Body, _ = json.Marshal(m)
		t.Header["Content-Type"] = []string{"application/json"}
	}
}

// expects reports whether status lets the step go on: one of Expect, or
// 200-399 when none is given.
func (s *stepPlan) expects(status int) bool {
	if len(s.Expect) == 0 {
		return status >= 200 && status < 400
	}
	return slices.Contains(s.Expect, status)
}

// usesUser reports whether any of the step's templates reads .User.
func usesUser(s Step) bool {
	texts := []string{s.Path}
	for _, m := range []map[string]string{s.Headers, s.Form, s.JSON} {
		for _, v := range m {
			texts = append(texts, v)
		}
	}
	for _, t := range texts {
		if strings.Contains(t, ".User") {
			return true
		}
	}
	return false
}

func (e *engine) flowUser(i int) flowUser {
	u := &e.users[i]
	return flowUser{User: e.pop.User(i), Password: e.pop.Password(i, int(u.pwGen)),
		NewPassword: e.pop.Password(i, int(u.pwGen)+1), NextIBAN: e.pop.IBAN(i, int(max(u.ibanGen, u.ibanAlt))+1)}
}

func jarHeader(jar map[string]string) string {
	names := make([]string, 0, len(jar))
	for n := range jar {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(n + "=" + jar[n])
	}
	return b.String()
}

func (j *flowJourney) advance(e *engine, i int, resp *http.Response, body []byte, _ string) {
	u := &e.users[i]
	if u.flow < 0 {
		e.idle <- int32(i)
		return
	}
	s := &j.plans[u.flow].steps[u.step]
	following := u.follow != ""
	u.follow = ""
	fail := func(why string) {
		e.flowFailed(i, j.plans[u.flow].name+"/"+s.Name, why)
		u.flow, u.step, u.vars, u.jar, u.cycle = -1, 0, nil, nil, u.cycle+1
		e.idle <- int32(i)
	}
	if resp == nil {
		if s.Login {
			e.loginAttempts.Add(1)
		}
		fail("the request failed")
		return
	}
	for _, c := range resp.Cookies() {
		if u.jar == nil {
			u.jar = map[string]string{}
		}
		if c.MaxAge < 0 || c.Value == "" {
			delete(u.jar, c.Name)
		} else {
			u.jar[c.Name] = c.Value
		}
	}
	if s.Follow && !following && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if loc := resp.Header.Get("Location"); strings.HasPrefix(loc, "/") {
			u.follow = loc
			e.ready(i)
			return
		}
	}
	ok := s.expects(resp.StatusCode)
	if following { // the page a redirect led to: any success will do
		ok = resp.StatusCode >= 200 && resp.StatusCode < 400
	}
	if s.Login {
		e.loginAttempts.Add(1)
		if ok {
			e.loginOK.Add(1)
		}
	}
	if !ok {
		fail(fmt.Sprintf("status %d, expected %v", resp.StatusCode, s.Expect))
		return
	}
	for name, x := range s.Extract {
		v, found := extract(x, j.plans[u.flow].steps[u.step].regex[name], resp, body)
		if !found {
			fail("could not extract " + name)
			return
		}
		if u.vars == nil {
			u.vars = map[string]string{}
		}
		u.vars[name] = v
		if name == j.sessionVar {
			e.claimToken(e.seq.Load(), time.Since(e.start), viewer{i, -1}, resp, v, "extracted "+name)
		}
	}
	if s.Migrates {
		u.pwGen, u.state = 1, population.Migrated
	}
	u.step++
	if int(u.step) >= len(j.plans[u.flow].steps) {
		u.flow, u.step, u.vars, u.jar, u.cycle = -1, 0, nil, nil, u.cycle+1
		e.idle <- int32(i)
		return
	}
	e.ready(i)
}

func extract(x Extract, re *regexp.Regexp, resp *http.Response, body []byte) (string, bool) {
	switch {
	case x.Cookie != "":
		for _, c := range resp.Cookies() {
			if c.Name == x.Cookie && c.Value != "" {
				return c.Value, true
			}
		}
	case x.Header != "":
		v := resp.Header.Get(x.Header)
		return v, v != ""
	case x.JSON != "":
		var doc any
		if json.NewDecoder(bytes.NewReader(body)).Decode(&doc) != nil {
			return "", false
		}
		for _, part := range strings.Split(x.JSON[1:], "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			switch d := doc.(type) {
			case map[string]any:
				doc = d[part]
			case []any:
				n, err := strconv.Atoi(part)
				if err != nil || n < 0 || n >= len(d) {
					return "", false
				}
				doc = d[n]
			default:
				return "", false
			}
		}
		switch v := doc.(type) {
		case string:
			return v, true
		case float64, bool:
			return fmt.Sprint(v), true
		}
	case re != nil:
		if m := re.FindSubmatch(body); m != nil {
			return string(m[1]), true
		}
	}
	return "", false
}

// flowFailed remembers the first failure of a flow, for the preflight and
// the report.
func (e *engine) flowFailed(i int, step, why string) {
	e.flowFailures.Add(1)
	e.firstFlowFailure.CompareAndSwap(nil, &flowFailure{user: i, step: step, why: why})
}

type flowFailure struct {
	user      int
	step, why string
}
