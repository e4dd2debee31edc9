package harness

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// flowPlan is a flow compiled for one run.
type flowPlan struct {
	name   string
	actor  string
	weight int
	think  *time.Duration // nil: the scenario's
	states []population.State
	steps  []stepPlan
}

// stepPlan is a step compiled for one run: its templates parsed, its kind
// (the row of the run's per-step statistics) assigned.
type stepPlan struct {
	Step
	kind       kind
	afterLogin bool    // a beneficiary's step after its login: its responses are authenticated
	expectOwn  float64 // the coverage floor of its 2xx responses (0: not checked)
	after      int     // index of the step that must have run, -1 for none
	user       bool    // some template reads .User: only then is the user's record built
	otp        bool    // some template sends a one-time code ({{totp ...}}): a second factor
	path       *template.Template
	headers    map[string]*template.Template
	form       map[string]*template.Template
	json       map[string]*template.Template
	regex      map[string]*regexp.Regexp
}

var stateNames = map[string]population.State{
	"legacy": population.Legacy, "migration-pending": population.MigrationPending, "migrated": population.Migrated,
}

// DefaultExpectOwn is the coverage floor of a beneficiary's GET after its
// login: half its pages must show the viewer's own values.
const DefaultExpectOwn = 0.5

// maxFlowSteps bounds a flow's steps: which ran in a journey is a bitset.
const maxFlowSteps = 64

// compileFlows checks and compiles the flows; errors name the field. Kinds
// are numbered from firstFlowKind in the order of the flows and steps.
func compileFlows(flows []Flow, hosts map[string]string) ([]flowPlan, []error) {
	var errs []error
	add := func(path, format string, args ...any) { errs = append(errs, fieldErr(path, format, args...)) }
	var plans []flowPlan
	next := firstFlowKind
	names := map[string]bool{}
	for fi, f := range flows {
		fp := fmt.Sprintf("flows[%d]", fi)
		p := flowPlan{name: f.Name, actor: f.Actor, weight: max(f.Weight, 1), think: f.Think}
		if p.actor == "" {
			p.actor = ActorBeneficiary
		}
		if f.Name == "" {
			add(fp+".name", "missing: name the flow")
		} else if names[f.Name] {
			add(fp+".name", "%q: another flow has this name", f.Name)
		}
		names[f.Name] = true
		if !containsString(actorNames, p.actor) {
			add(fp+".actor", "unknown actor %q (known: %s)", f.Actor, strings.Join(actorNames, ", "))
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
		if len(f.States) > 0 && p.actor != ActorBeneficiary {
			add(fp+".states", "account states restrict beneficiary flows only")
		}
		if len(f.Steps) == 0 {
			add(fp+".steps", "missing: a flow needs at least one step")
		}
		if len(f.Steps) > maxFlowSteps {
			add(fp+".steps", "%d steps: at most %d", len(f.Steps), maxFlowSteps)
		}
		seen := map[string]int{}
		loggedIn := false
		vars := map[string]string{} // what the flow extracts, for the dry run of its templates
		for _, s := range f.Steps {
			for name := range s.Extract {
				vars[name] = "x"
			}
		}
		for si, s := range f.Steps {
			sp := fmt.Sprintf("%s.steps[%d]", fp, si)
			plan, serrs := compileStep(sp, s, hosts)
			errs = append(errs, serrs...)
			errs = append(errs, plan.dryRun(sp, vars)...)
			plan.after = -1
			if s.After != "" {
				j, ok := seen[s.After]
				if !ok {
					add(sp+".after", "%q: no earlier step of this flow has that name", s.After)
				}
				plan.after = j
			}
			if _, dup := seen[s.Name]; dup && s.Name != "" {
				add(sp+".name", "%q: another step of this flow has this name", s.Name)
			}
			seen[s.Name] = si
			plan.afterLogin = loggedIn && p.actor == ActorBeneficiary
			if s.ExpectOwn != nil {
				plan.expectOwn = *s.ExpectOwn
				if plan.expectOwn < 0 || plan.expectOwn > 1 {
					add(sp+".expect_own", "%v: want a share between 0 and 1", plan.expectOwn)
				}
			} else if plan.afterLogin && s.Method == http.MethodGet {
				plan.expectOwn = DefaultExpectOwn
			}
			loggedIn = loggedIn || s.Login
			plan.kind = next
			next++
			p.steps = append(p.steps, plan)
		}
		plans = append(plans, p)
	}
	return plans, errs
}

// compileStep checks and compiles one step, its errors naming path.
func compileStep(sp string, s Step, hosts map[string]string) (stepPlan, []error) {
	var errs []error
	add := func(path, format string, args ...any) { errs = append(errs, fieldErr(path, format, args...)) }
	tmpl := func(path, text string) *template.Template {
		t, err := template.New(path).Option("missingkey=error").Funcs(templateFuncs).Parse(text)
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
	if s.Host != "" {
		if _, ok := hosts[s.Host]; !ok {
			add(sp+".host", "%q: not a host of portal.hosts", s.Host)
		}
	}
	if len(s.Form) > 0 && len(s.JSON) > 0 {
		add(sp, "a step sends form or json, not both")
	}
	if s.Writes != "" && s.Writes != "iban" {
		add(sp+".writes", "%q: the writes oracle follows iban", s.Writes)
	}
	if s.Repeat < -1 {
		add(sp+".repeat", "%d: want a count, or -1 for until a status is not expected", s.Repeat)
	}
	if err := checkChance(sp+".chance", s.Chance); err != nil {
		errs = append(errs, err)
	}
	if g := s.Guess; g != nil && len(g.Accepted) == 0 {
		add(sp+".guess.accepted", "missing: the statuses that accept a password")
	}
	plan.path = tmpl(sp+".path", s.Path)
	for k, v := range s.Headers {
		if err := checkHeaderName(sp+".headers."+k, k); err != nil {
			errs = append(errs, err)
		}
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
		if err := x.check(); err != nil {
			add(xp, "%v", err)
		}
		if r, err := compileExtract(x); err != nil {
			add(xp+".regex", "%v", err)
		} else if r != nil {
			plan.regex[name] = r
		}
	}
	plan.user = usesUser(s)
	plan.otp = usesTOTP(s)
	return plan, errs
}

// dryRun renders the step's templates once with sample data, so that a
// misspelt field ({{.User.Nir}}) or a variable no step of the flow extracts
// ({{.Vars.tokn}}) is an error of the scenario file, not of every request.
func (s *stepPlan) dryRun(sp string, vars map[string]string) []error {
	data := flowData{User: flowUser{TOTPSecret: sampleTOTPSecret}, Adviser: adviserData{TOTPSecret: sampleTOTPSecret},
		Guess: "guess", Vars: vars}
	var errs []error
	try := func(path string, t *template.Template) {
		if t == nil {
			return
		}
		if err := t.Execute(io.Discard, data); err != nil {
			msg := err.Error()
			if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "map has no entry") {
				msg = "no step of this flow extracts" + msg[strings.LastIndex(msg, " for key"):]
			}
			errs = append(errs, fieldErr(path, "%s", msg))
		}
	}
	try(sp+".path", s.path)
	for k, t := range s.headers {
		try(sp+".headers."+k, t)
	}
	for k, t := range s.form {
		try(sp+".form."+k, t)
	}
	for k, t := range s.json {
		try(sp+".json."+k, t)
	}
	return errs
}

// sampleTOTPSecret is a well-formed secret for the dry run of {{totp ...}}.
const sampleTOTPSecret = "JBSWY3DPEHPK3PXP"

// compileExtract compiles the regular expression of a regex or form_field
// extraction (nil for the others).
func compileExtract(x Extract) (*regexp.Regexp, error) {
	re := x.Regex
	if x.FormField != "" {
		re = `name="` + regexp.QuoteMeta(x.FormField) + `"[^>]*value="([^"]*)"`
	}
	if re == "" {
		return nil, nil
	}
	r, err := regexp.Compile(re)
	switch {
	case err != nil:
		return nil, err
	case r.NumSubexp() < 1:
		return nil, fmt.Errorf("want a group around the value")
	}
	return r, nil
}

// templateFuncs are the helpers flow templates may call, for the
// protocols logins speak: PKCE's S256 (sha256, then base64url), a value in
// a query string (urlquery, built in), a one-time password (totp).
var templateFuncs = template.FuncMap{
	"sha256": func(s string) string {
		h := sha256.Sum256([]byte(s))
		return string(h[:])
	},
	"base64url": func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) },
	"totp":      totpNow,
}

// usesUser reports whether any of the step's templates reads .User.
func usesUser(s Step) bool {
	return slices.ContainsFunc(stepTexts(s), func(t string) bool { return strings.Contains(t, ".User") || strings.Contains(t, "totp") })
}

// usesTOTP reports whether any of the step's templates sends a one-time
// password.
func usesTOTP(s Step) bool {
	return slices.ContainsFunc(stepTexts(s), func(t string) bool { return strings.Contains(t, "totp") })
}

// stepTexts are the step's templates.
func stepTexts(s Step) []string {
	texts := []string{s.Path}
	for _, m := range []map[string]string{s.Headers, s.Form, s.JSON} {
		for _, v := range m {
			texts = append(texts, v)
		}
	}
	return texts
}

// checkURLShape reports whether u is an http(s) base URL.
func checkURLShape(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || (p.Scheme != "http" && p.Scheme != "https") {
		return fmt.Errorf("%q: want http://host:port", u)
	}
	return nil
}

// pageFlow is the flow of one GET of path, again and again: the trivial
// load the benchmarks compare with raw vegeta, and the oracle's self-test.
func pageFlow(path string) []flowPlan {
	plans, _ := compileFlows([]Flow{{Name: "page", Steps: []Step{{Name: "get", Method: http.MethodGet, Path: path}}}}, nil)
	return plans
}

// allFields marks every canary field sensitive.
func allFields() (s [8]bool) {
	for _, f := range population.Fields {
		s[f] = true
	}
	return s
}
