package harness

import (
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// Flows describe any portal's login and session journeys as data, so that
// the engine knows no route of any portal, the reference one included. A
// flow is a list of HTTP steps taken by one kind of actor; request fields
// are Go templates over the actor ({{.User.NIR}}, {{.User.Password}},
// {{.Adviser.Login}}, {{.Subject.CAF}}...) and the values earlier steps
// extracted ({{.Vars.token}}). Each actor keeps its own cookie jar per host.

// Flow is one declared journey.
type Flow struct {
	Name string `yaml:"name" json:"name"`
	// Actor is who takes the flow: beneficiary (the default), or one of
	// the adviser roles of the scenario's advisers plan: adviser (working
	// its caseload), takeover (an account in an attacker's hands),
	// stuffing (an account under credential stuffing).
	Actor string `yaml:"actor,omitempty" json:"actor,omitempty"`
	// Weight is the flow's share among the flows an actor can take
	// (default 1).
	Weight int `yaml:"weight,omitempty" json:"weight,omitempty"`
	// States restricts a beneficiary flow to accounts in these states
	// (legacy, migration-pending, migrated); empty: every account.
	States []string `yaml:"states,omitempty" json:"states,omitempty"`
	// Think is the mean pause between two steps of this flow (± 50%),
	// replacing the scenario's journeys.think: "0s" for a bot, such as
	// credential stuffing, that does not pause.
	Think *time.Duration `yaml:"think,omitempty" json:"think,omitempty"`
	Steps []Step         `yaml:"steps" json:"steps"`
}

// Actors that can take a flow.
const (
	ActorBeneficiary = "beneficiary"
	ActorAdviser     = "adviser"
	ActorTakeover    = "takeover"
	ActorStuffing    = "stuffing"
)

var actorNames = []string{ActorBeneficiary, ActorAdviser, ActorTakeover, ActorStuffing}

// Step is one HTTP request of a flow.
type Step struct {
	Name   string `yaml:"name" json:"name"`
	Method string `yaml:"method" json:"method"`
	Path   string `yaml:"path" json:"path"`
	// Host names a host of portal.hosts the step goes to (an identity
	// provider); empty: the target.
	Host    string            `yaml:"host,omitempty" json:"host,omitempty"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Form    map[string]string `yaml:"form,omitempty" json:"form,omitempty"`
	JSON    map[string]string `yaml:"json,omitempty" json:"json,omitempty"`
	// Expect lists the statuses that let the flow go on (default: 200-399).
	Expect []int `yaml:"expect,omitempty" json:"expect,omitempty"`
	// ExpectLocation is where a success redirects: any other Location is
	// a failure (a lost session answers a write with a redirect to the
	// login page, and the write never happened).
	ExpectLocation string `yaml:"expect_location,omitempty" json:"expect_location,omitempty"`
	// Follow follows the redirect the step answers with, to any declared
	// host, as a browser does, until a page that is not a redirect. The
	// step's extract then reads that page (a query, the last redirect's
	// Location).
	Follow bool `yaml:"follow,omitempty" json:"follow,omitempty"`
	// Extract names values to take from the response for later steps.
	Extract map[string]Extract `yaml:"extract,omitempty" json:"extract,omitempty"`
	// Login counts the step as a login attempt (for login_success).
	Login bool `yaml:"login,omitempty" json:"login,omitempty"`
	// ExpectOwn is the least share of this step's 2xx responses that must
	// show the viewer's own canaries, or the gate fails: the oracle could
	// not read the page (masked values, a format it does not know). It is
	// DefaultExpectOwn for a beneficiary's GET after a login, and 0 (not
	// checked) otherwise; set 0 for a page that shows no personal data.
	ExpectOwn *float64 `yaml:"expect_own,omitempty" json:"expect_own,omitempty"`
	// Logout ends the session: its tokens are forgotten by the session
	// oracle, as the portal forgets them.
	Logout bool `yaml:"logout,omitempty" json:"logout,omitempty"`
	// Migrates marks the step that moves the account to its own password:
	// after it, {{.User.Password}} is the new one. If its outcome is
	// unknown (a timeout, a 5xx), either password may hold: the next
	// login tries the other one when the first is refused.
	Migrates bool `yaml:"migrates,omitempty" json:"migrates,omitempty"`
	// Writes names the datum the step writes: "iban", to {{.User.NextIBAN}}.
	// The writes oracle reads every written account back after the run;
	// an unknown outcome accepts either value.
	Writes string `yaml:"writes,omitempty" json:"writes,omitempty"`
	// Chance is the probability that the step runs in a journey: a number,
	// or the name of a journeys knob (bank_change, documents). A skipped
	// step is passed over.
	Chance *Chance `yaml:"chance,omitempty" json:"chance,omitempty"`
	// After makes the step run only if the named earlier step ran in the
	// same journey.
	After string `yaml:"after,omitempty" json:"after,omitempty"`
	// IfLocation makes the step run only if the previous response
	// redirected there (a second-factor prompt, say).
	IfLocation string `yaml:"if_location,omitempty" json:"if_location,omitempty"`
	// Repeat runs the step this many times (default once); -1 repeats it
	// until its status is not expected.
	Repeat int `yaml:"repeat,omitempty" json:"repeat,omitempty"`
	// Reads marks an adviser's read of {{.Subject}}'s file, for the audit
	// oracle; each repetition reads the next subject.
	Reads bool `yaml:"reads,omitempty" json:"reads,omitempty"`
	// Guess marks a credential-stuffing guess, {{.Guess}}, the real
	// password last: the auth oracle judges each answer.
	Guess *GuessOutcomes `yaml:"guess,omitempty" json:"guess,omitempty"`
}

// GuessOutcomes tells the auth oracle what answers to a guessed password
// mean on this portal.
type GuessOutcomes struct {
	// Locked: the account is locked (the control working).
	Locked []int `yaml:"locked" json:"locked"`
	// Denied: a wrong password, counted towards the lockout.
	Denied []int `yaml:"denied" json:"denied"`
	// Accepted: the password was accepted...
	Accepted []int `yaml:"accepted" json:"accepted"`
	// ... and, unless the answer redirects here, the account is taken over.
	Challenge string `yaml:"challenge_location,omitempty" json:"challenge_location,omitempty"`
}

// Chance is a step's probability: a number, or a journeys knob by name.
type Chance struct {
	P    float64
	Knob string
}

// UnmarshalText reads 0.3 or bank_change.
func (c *Chance) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if p, err := strconv.ParseFloat(s, 64); err == nil {
		*c = Chance{P: p}
		return nil
	}
	*c = Chance{Knob: s}
	return nil
}

// MarshalText writes the form UnmarshalText reads.
func (c Chance) MarshalText() ([]byte, error) {
	if c.Knob != "" {
		return []byte(c.Knob), nil
	}
	return []byte(strconv.FormatFloat(c.P, 'g', -1, 64)), nil
}

// knobs are the journeys knobs a Chance may name.
var knobs = map[string]func(JourneyMix) float64{
	"bank_change": func(j JourneyMix) float64 { return j.BankChange },
	"documents":   func(j JourneyMix) float64 { return j.Documents },
}

// resolve returns the probability of c under the scenario's knobs.
func (c *Chance) resolve(j JourneyMix) float64 {
	if c == nil {
		return 1
	}
	if f, ok := knobs[c.Knob]; ok {
		return f(j)
	}
	return c.P
}

// Extract says where a value is in a response; exactly one field is set.
type Extract struct {
	Cookie    string `yaml:"cookie,omitempty" json:"cookie,omitempty"`
	Header    string `yaml:"header,omitempty" json:"header,omitempty"`
	JSON      string `yaml:"json,omitempty" json:"json,omitempty"`             // a JSON pointer, "/token"
	Regex     string `yaml:"regex,omitempty" json:"regex,omitempty"`           // the first group, on the body
	FormField string `yaml:"form_field,omitempty" json:"form_field,omitempty"` // a hidden input's value, by name
	// Query is a query parameter of the redirect's Location (code, state).
	Query string `yaml:"query,omitempty" json:"query,omitempty"`
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
	// Hosts are other hosts flows may go to by name (an identity
	// provider), each subject to the loopback rule like the target: a
	// base URL, or "target" for a host the target's stack runs (the
	// reference identity provider on the embedded and container stacks).
	Hosts map[string]string `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	// ReadBack reads a user's stored IBAN back after the run for the
	// writes oracle, where the target's driver cannot: a request per
	// written account (an admin API), with the IBAN extracted.
	ReadBack *ReadBack `yaml:"read_back,omitempty" json:"read_back,omitempty"`
}

// ReadBack is a request that reads one user's stored data back.
type ReadBack struct {
	Request Step    `yaml:"request" json:"request"`
	IBAN    Extract `yaml:"iban" json:"iban"`
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
	if p.HTTP != "" && !containsString(httpVersions, p.HTTP) {
		errs = append(errs, fieldErr("portal.http", "%q: want auto, 1.1 or 2", p.HTTP))
	}
	for k := range p.Headers {
		if err := checkHeaderName("portal.headers."+k, k); err != nil {
			errs = append(errs, err)
		}
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
	for name, u := range p.Hosts {
		if name == "" || strings.ContainsAny(name, " /:") {
			errs = append(errs, fieldErr("portal.hosts", "%q: name a host with a word, such as idp", name))
		}
		if u == HostFromTarget {
			continue
		}
		if err := checkURLShape(u); err != nil {
			errs = append(errs, fieldErr("portal.hosts."+name, "%v, or %q for a host the target's stack runs", err, HostFromTarget))
		}
	}
	if r := p.ReadBack; r != nil {
		_, serrs := compileStep("portal.read_back.request", r.Request, nil)
		errs = append(errs, serrs...)
		if err := r.IBAN.check(); err != nil {
			errs = append(errs, fieldErr("portal.read_back.iban", "%v", err))
		}
	}
	return errs
}

// check reports whether exactly one source is named.
func (x Extract) check() error {
	set := 0
	for _, v := range []string{x.Cookie, x.Header, x.JSON, x.Regex, x.FormField, x.Query} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("want exactly one of cookie, header, json, regex, form_field, query")
	}
	if x.JSON != "" && !strings.HasPrefix(x.JSON, "/") {
		return fmt.Errorf("json %q: want a JSON pointer such as /token", x.JSON)
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validateFlows checks the flows against the rest of the scenario.
func validateFlows(flows []Flow, p *PortalSpec, advisers *AdviserPlan) []error {
	var hosts map[string]string
	if p != nil {
		hosts = p.Hosts
	}
	_, errs := compileFlows(flows, hosts)
	for fi, f := range flows {
		switch f.Actor {
		case "", ActorBeneficiary:
		case ActorAdviser, ActorTakeover, ActorStuffing:
			if advisers == nil {
				errs = append(errs, fieldErr(fmt.Sprintf("flows[%d].actor", fi), "%s flows need an advisers plan (advisers: count, shares)", f.Actor))
			}
		}
	}
	return errs
}

func checkChance(path string, c *Chance) error {
	if c == nil {
		return nil
	}
	if c.Knob != "" {
		if _, ok := knobs[c.Knob]; !ok {
			return fieldErr(path, "%q: want a probability or a journeys knob (bank_change, documents)", c.Knob)
		}
		return nil
	}
	if c.P < 0 || c.P > 1 || math.IsNaN(c.P) {
		return fieldErr(path, "%v: want a probability between 0 and 1", c.P)
	}
	return nil
}

// reservedHeaderPrefix names the headers crosstalk uses internally (the
// attribution of each request to its actor): a scenario that set one
// would attribute responses to the wrong user, so they are refused.
const reservedHeaderPrefix = "X-Crosstalk-"

func checkHeaderName(path, name string) error {
	if strings.HasPrefix(http.CanonicalHeaderKey(name), reservedHeaderPrefix) {
		return fieldErr(path, "%s: headers named %s* are crosstalk's own (the attribution of each request); choose another name",
			name, reservedHeaderPrefix)
	}
	return nil
}
