package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// Scenario is one run's plan: who logs in, at what rate, which faults hit
// when, and what the gate demands. The scenarios package loads it from YAML.
type Scenario struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Incident names the INCIDENTS.md row the scenario reproduces.
	Incident string `yaml:"incident,omitempty" json:"incident,omitempty"`
	Seed     uint64 `yaml:"seed" json:"seed"`
	// Duration bounds the load; fault times given as a fraction of the run
	// scale with it.
	Duration time.Duration `yaml:"duration" json:"duration"`
	// MaxRequests bounds the load in count (0: DefaultMaxRequests).
	MaxRequests uint64 `yaml:"max_requests,omitempty" json:"max_requests,omitempty"`
	// Timeout bounds each request (0: DefaultTimeout).
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Users is the population size.
	Users      int            `yaml:"users" json:"users"`
	Population population.Mix `yaml:"population,omitempty" json:"population,omitempty"`
	Journeys   JourneyMix     `yaml:"journeys,omitempty" json:"journeys,omitempty"`
	// Portal describes a portal other than the reference one; Flows are its
	// journeys. Without flows, users follow the reference portal's journeys.
	Portal *PortalSpec `yaml:"portal,omitempty" json:"portal,omitempty"`
	Flows  []Flow      `yaml:"flows,omitempty" json:"flows,omitempty"`
	// Advisers adds advisers, taken-over adviser accounts and credential
	// stuffing to the run (the France Travail breach).
	Advisers *AdviserPlan `yaml:"advisers,omitempty" json:"advisers,omitempty"`
	Rate     RateProfile  `yaml:"rate" json:"rate"`
	Faults   []FaultSpec  `yaml:"-" json:"faults,omitempty"`
	// Defects are the reference-portal defects switched on by default.
	Defects    []string   `yaml:"defects,omitempty" json:"defects,omitempty"`
	Thresholds Thresholds `yaml:"thresholds,omitempty" json:"thresholds,omitempty"`
	Target     TargetSpec `yaml:"target,omitempty" json:"target,omitempty"`

	// Path is the file the scenario was loaded from, for messages.
	Path string `yaml:"-" json:"-"`
}

// Defaults for the bounds of a run.
const (
	DefaultMaxRequests = 5_000_000
	DefaultTimeout     = 10 * time.Second
	DefaultReplicas    = 3
	MaxDuration        = 72 * time.Hour
)

// JourneyMix tunes the synthetic users' journeys.
type JourneyMix struct {
	// BankChange is the probability that a logged-in user changes its
	// bank details (IBAN) before logging out.
	BankChange float64 `yaml:"bank_change" json:"bank_change"`
	// Documents is the probability that a logged-in user fetches its
	// payment certificate.
	Documents float64 `yaml:"documents" json:"documents"`
	// Think is the mean pause of a user between two steps of a journey
	// (± 50%): with it, many sessions are alive at once, as in production.
	Think time.Duration `yaml:"think" json:"think"`
	// Probes is the fraction of requests sent without any session to
	// private and public pages: an anonymous response must carry no datum.
	Probes float64 `yaml:"probes" json:"probes"`
}

// RateProfile is the request rate over the run, in requests per second.
// constant: Rate. ramp: From to To. spike: Base, then Peak from At for For.
type RateProfile struct {
	Profile string  `yaml:"profile" json:"profile"`
	Rate    float64 `yaml:"rate,omitempty" json:"rate,omitempty"`
	From    float64 `yaml:"from,omitempty" json:"from,omitempty"`
	To      float64 `yaml:"to,omitempty" json:"to,omitempty"`
	Base    float64 `yaml:"base,omitempty" json:"base,omitempty"`
	Peak    float64 `yaml:"peak,omitempty" json:"peak,omitempty"`
	At      When    `yaml:"at,omitempty" json:"at,omitempty"`
	For     When    `yaml:"for,omitempty" json:"for,omitempty"`
}

// Thresholds are the gate's service-level limits; a nil field is not checked.
//
// Limits can differ by target: thresholds.containers: {p99_ms: 2500} on the
// container stack replaces that limit there, so that the embedded stack's
// stay strict.
type Thresholds struct {
	P99Ms        *float64 `yaml:"p99_ms,omitempty" json:"p99_ms,omitempty"`
	ErrorRate    *float64 `yaml:"error_rate,omitempty" json:"error_rate,omitempty"`
	LoginSuccess *float64 `yaml:"login_success,omitempty" json:"login_success,omitempty"`
	// MinRequests and MinLogins are the least a run must have done for its
	// verdict to mean anything (default: 1 request; 1 successful login
	// when a flow logs in).
	MinRequests *uint64 `yaml:"min_requests,omitempty" json:"min_requests,omitempty"`
	MinLogins   *uint64 `yaml:"min_logins,omitempty" json:"min_logins,omitempty"`
	// AllowIncomplete lets a run cut short by max_requests, before its
	// duration or its fault schedule ended, pass (a soak bounded in count).
	AllowIncomplete bool `yaml:"allow_incomplete,omitempty" json:"allow_incomplete,omitempty"`
	// Regression is how much worse than a baseline run this one may be
	// (crosstalk compare, run --baseline).
	Regression *Regression `yaml:"regression,omitempty" json:"regression,omitempty"`
	// ByTarget holds the limits that differ on a target, by its name.
	ByTarget map[string]Thresholds `yaml:",inline" json:"by_target,omitempty"`
}

// MinDuration and MinTimeout are the shortest run and request timeout
// that mean anything: below them a run measures the harness's start, and
// every request times out.
const (
	MinDuration = 500 * time.Millisecond
	MinTimeout  = 10 * time.Millisecond
)

// DefaultErrorRate bounds the error rate of a scenario that sets none: a
// run that is mostly errors never passes.
const DefaultErrorRate = 0.5

// For returns the limits on target: the scenario's, with those it sets for
// target in their place.
func (t Thresholds) For(target string) Thresholds {
	out := t
	out.ByTarget = nil
	o, ok := t.ByTarget[target]
	if !ok {
		return out
	}
	if o.P99Ms != nil {
		out.P99Ms = o.P99Ms
	}
	if o.ErrorRate != nil {
		out.ErrorRate = o.ErrorRate
	}
	if o.LoginSuccess != nil {
		out.LoginSuccess = o.LoginSuccess
	}
	if o.MinRequests != nil {
		out.MinRequests = o.MinRequests
	}
	if o.MinLogins != nil {
		out.MinLogins = o.MinLogins
	}
	out.AllowIncomplete = out.AllowIncomplete || o.AllowIncomplete
	if o.Regression != nil {
		out.Regression = o.Regression
	}
	return out
}

func (t Thresholds) validate(path string) []error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fieldErr(path+"."+field, format, args...))
	}
	if t.P99Ms != nil && *t.P99Ms <= 0 {
		add("p99_ms", "must be positive")
	}
	if t.ErrorRate != nil && (*t.ErrorRate < 0 || *t.ErrorRate > 1) {
		add("error_rate", "want a fraction between 0 and 1")
	}
	if t.LoginSuccess != nil && (*t.LoginSuccess < 0 || *t.LoginSuccess > 1) {
		add("login_success", "want a fraction between 0 and 1")
	}
	if t.Regression != nil {
		errs = append(errs, t.Regression.validate(path+".regression")...)
	}
	for name, o := range t.ByTarget {
		if len(o.ByTarget) > 0 {
			add(name, "limits by target go one level deep")
		}
		errs = append(errs, o.validate(path+"."+name)...)
	}
	return errs
}

// TargetSpec configures the reference stack.
type TargetSpec struct {
	Replicas int `yaml:"replicas,omitempty" json:"replicas,omitempty"`
}

// FaultSpec schedules one fault: the envelope common to all faults (type,
// start, duration) and the fault itself with its parameters.
type FaultSpec struct {
	Type  string `json:"type"`
	At    When   `json:"at"`
	For   When   `json:"for"`
	Fault Fault  `json:"-"`
	// Path locates the entry for messages, e.g. "faults[0]".
	Path string `json:"-"`
}

// Name describes the scheduled fault, e.g. "edge-reload(rules=cache-dynamic)".
func (f FaultSpec) Name() string { return f.Fault.String() }

// When is a point or span of a run: an absolute duration ("20s") or a
// fraction of the run ("40%"), so that shortening a run with --duration
// shortens its whole fault schedule.
type When struct {
	Frac float64
	Abs  time.Duration
	Set  bool
}

// Resolve returns the absolute duration within a run of length total.
func (w When) Resolve(total time.Duration) time.Duration {
	if w.Abs != 0 || w.Frac == 0 {
		return w.Abs
	}
	return time.Duration(w.Frac * float64(total))
}

// UnmarshalText reads "40%" or a Go duration such as "20s".
func (w *When) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 || f > 100 || math.IsNaN(f) {
			return &WhenError{Value: string(b), Msg: "want a percentage of the run between 0% and 100%"}
		}
		*w = When{Frac: f / 100, Set: true}
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return &WhenError{Value: string(b), Msg: "want a duration such as 20s or a fraction of the run such as 40%"}
	}
	*w = When{Abs: d, Set: true}
	return nil
}

// WhenError is a malformed When; it carries the text so that a loader can
// find the line it stands on.
type WhenError struct {
	Value string
	Msg   string
}

func (e *WhenError) Error() string { return strconv.Quote(e.Value) + ": " + e.Msg }

// MarshalJSON writes null for a When never set, which a duration of zero
// is not (a fault's for: unset lasts until the end of the run): the
// assignment of a generator keeps the difference.
func (w When) MarshalJSON() ([]byte, error) {
	if !w.Set {
		return []byte("null"), nil
	}
	return json.Marshal(w.String())
}

// UnmarshalJSON reads what MarshalJSON writes.
func (w *When) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*w = When{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	return w.UnmarshalText([]byte(s))
}

// MarshalText writes the form UnmarshalText reads.
func (w When) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

func (w When) String() string {
	if w.Abs == 0 && w.Frac != 0 {
		return strconv.FormatFloat(w.Frac*100, 'f', -1, 64) + "%"
	}
	return w.Abs.String()
}

// FieldError is a problem with one field of a scenario; Path names it as in
// the file ("rate.peak", "faults[1].type") so that the loader can add a line.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

func fieldErr(path, format string, args ...any) error {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Validate checks the scenario and returns every problem found, joined.
func (s *Scenario) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) { errs = append(errs, fieldErr(path, format, args...)) }
	if s.Name == "" {
		add("name", "missing: give the scenario a name")
	}
	if s.Duration < MinDuration || s.Duration > MaxDuration {
		add("duration", "%s: want a duration between %s and %s", s.Duration, MinDuration, MaxDuration)
	}
	if s.Timeout < 0 || (s.Timeout > 0 && s.Timeout < MinTimeout) {
		add("timeout", "%s: want at least %s", s.Timeout, MinTimeout)
	}
	if s.Users < 1 || s.Users > population.MaxSize {
		add("users", "%d: want between 1 and %d users", s.Users, population.MaxSize)
	}
	if s.Timeout < 0 {
		add("timeout", "must not be negative")
	}
	if f := s.Journeys.BankChange; f < 0 || f > 1 {
		add("journeys.bank_change", "%v: want a probability between 0 and 1", f)
	}
	if s.Journeys.Think < 0 || s.Journeys.Think > time.Minute {
		add("journeys.think", "%s: want a pause between 0 and 1m", s.Journeys.Think)
	}
	if f := s.Journeys.Documents; f < 0 || f > 1 {
		add("journeys.documents", "%v: want a probability between 0 and 1", f)
	}
	if f := s.Journeys.Probes; f < 0 || f > 0.5 {
		add("journeys.probes", "%v: want a fraction between 0 and 0.5", f)
	}
	if p := s.Population; p != (population.Mix{}) && (p.Legacy < 0 || p.MigrationPending < 0 || p.Migrated < 0 || p.Legacy+p.MigrationPending+p.Migrated <= 0) {
		add("population", "fractions must be non-negative and not all zero")
	}
	errs = append(errs, s.Rate.validate("rate", s.Duration)...)
	if len(s.Flows) > 0 {
		errs = append(errs, validateFlows(s.Flows, s.Portal, s.Advisers)...)
	}
	if s.Portal != nil {
		errs = append(errs, s.Portal.validate()...)
	}
	if s.Advisers != nil {
		errs = append(errs, s.Advisers.validate()...)
		if s.Advisers.Count > s.Users {
			add("advisers.count", "%d advisers for %d users: want at most one per user", s.Advisers.Count, s.Users)
		}
	}
	for i, f := range s.Faults {
		path := f.Path
		if path == "" {
			path = fmt.Sprintf("faults[%d]", i)
		}
		if f.Fault == nil {
			add(path+".type", "missing: name the fault (known: %s)", strings.Join(FaultTypes(), ", "))
			continue
		}
		if !f.At.Set {
			add(path+".at", "missing: when the fault starts, e.g. 30%% or 10s")
		}
		start, span := f.At.Resolve(s.Duration), f.For.Resolve(s.Duration)
		if start >= s.Duration && s.Duration > 0 {
			add(path+".at", "%s: the fault would start after the run ends (%s)", f.At, s.Duration)
		}
		if span < 0 {
			add(path+".for", "must not be negative")
		}
		if v, ok := f.Fault.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				add(path, "%v", err)
			}
		}
	}
	errs = append(errs, checkOverlaps(s.Faults, s.Duration)...)
	errs = append(errs, s.Thresholds.validate("thresholds")...)
	if s.Target.Replicas < 0 || s.Target.Replicas > 64 {
		add("target.replicas", "%d: want between 1 and 64", s.Target.Replicas)
	}
	return errors.Join(errs...)
}

func (r RateProfile) validate(path string, total time.Duration) []error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, fieldErr(path+"."+field, format, args...))
	}
	nonNeg := func(field string, v float64) {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			add(field, "%v: want a rate of at least 0 requests per second", v)
		}
	}
	unused := func(profile string, fields map[string]bool) {
		for name, set := range fields {
			if set {
				add(name, "not used by the %s profile", profile)
			}
		}
	}
	switch r.Profile {
	case "constant":
		nonNeg("rate", r.Rate)
		if r.Rate == 0 {
			add("rate", "missing: requests per second")
		}
		unused("constant", map[string]bool{"from": r.From != 0, "to": r.To != 0, "base": r.Base != 0, "peak": r.Peak != 0, "at": r.At.Set, "for": r.For.Set})
	case "ramp":
		nonNeg("from", r.From)
		nonNeg("to", r.To)
		if r.From == 0 && r.To == 0 {
			add("to", "missing: the rate to ramp to")
		}
		unused("ramp", map[string]bool{"rate": r.Rate != 0, "base": r.Base != 0, "peak": r.Peak != 0, "at": r.At.Set, "for": r.For.Set})
	case "spike":
		nonNeg("base", r.Base)
		nonNeg("peak", r.Peak)
		if r.Peak == 0 {
			add("peak", "missing: the rate of the spike")
		}
		if !r.At.Set || !r.For.Set {
			add("at", "a spike needs at and for (e.g. at: 30%%, for: 40%%)")
		} else if r.At.Resolve(total) >= total {
			add("at", "%s: the spike would start after the run ends", r.At)
		}
		unused("spike", map[string]bool{"rate": r.Rate != 0, "from": r.From != 0, "to": r.To != 0})
	case "":
		add("profile", "missing: constant, ramp or spike")
	default:
		add("profile", "unknown profile %q (known: constant, ramp, spike)", r.Profile)
	}
	return errs
}

// Max returns the highest rate of the profile.
func (r RateProfile) Max() float64 {
	switch r.Profile {
	case "constant":
		return r.Rate
	case "ramp":
		return math.Max(r.From, r.To)
	case "spike":
		return math.Max(r.Base, r.Peak)
	}
	return 0
}

// Scaled returns the profile with every rate multiplied so that its peak is
// peak (the --rate flag).
func (r RateProfile) Scaled(peak float64) RateProfile {
	old := r.Max()
	if old <= 0 {
		return RateProfile{Profile: "constant", Rate: peak}
	}
	k := peak / old
	r.Rate, r.From, r.To, r.Base, r.Peak = r.Rate*k, r.From*k, r.To*k, r.Base*k, r.Peak*k
	return r
}
