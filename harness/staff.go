package harness

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/evidence"
	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// Advisers (conseillers) are a second kind of actor beside beneficiaries:
// normal advisers work their caseload; taken-over adviser accounts (the
// France Travail breach) enumerate files outside their caseload; other
// adviser accounts are under credential stuffing. Adviser a's requests carry
// "a<index>" in the attribution header.

// AdviserPlan is the scenario's adviser population and journeys.
type AdviserPlan struct {
	// Count advisers share the population; each follows users/count
	// beneficiaries.
	Count int `yaml:"count" json:"count"`
	// Share of the requests is made by advisers working their caseload.
	Share float64 `yaml:"share" json:"share"`
	// Takeovers adviser accounts are in an attacker's hands (password and
	// second factor, by social engineering); they enumerate files outside
	// their caseload with TakeoverShare of the requests.
	Takeovers     int     `yaml:"takeovers" json:"takeovers"`
	TakeoverShare float64 `yaml:"takeover_share" json:"takeover_share"`
	// Stuffing adviser accounts are under credential stuffing: each gets
	// StuffingAttempts guesses, the real password last, with StuffingShare
	// of the requests.
	Stuffing         int     `yaml:"stuffing" json:"stuffing"`
	StuffingAttempts int     `yaml:"stuffing_attempts" json:"stuffing_attempts"`
	StuffingShare    float64 `yaml:"stuffing_share" json:"stuffing_share"`
	// MaxFailures failed logins must lock an account (default 5).
	MaxFailures int `yaml:"max_failures" json:"max_failures"`
	// AlertWithin is how soon a mass read must raise an alert (default 1m).
	AlertWithin time.Duration `yaml:"alert_within" json:"alert_within"`
}

const (
	defaultMaxFailures = 5
	defaultAlertWithin = time.Minute
	filesPerVisit      = 5
)

func (p *AdviserPlan) validate() []error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, fieldErr("advisers."+path, format, args...))
	}
	if p.Count < 1 || p.Count > population.MaxAdvisers {
		add("count", "%d: want between 1 and %d advisers", p.Count, population.MaxAdvisers)
	}
	if p.Takeovers < 0 || p.Stuffing < 0 || p.Takeovers+p.Stuffing >= p.Count {
		add("takeovers", "takeovers (%d) and stuffing (%d) accounts must leave at least one adviser working normally out of %d", p.Takeovers, p.Stuffing, p.Count)
	}
	for name, v := range map[string]float64{"share": p.Share, "takeover_share": p.TakeoverShare, "stuffing_share": p.StuffingShare} {
		if v < 0 || v > 0.5 {
			add(name, "%v: want a fraction between 0 and 0.5", v)
		}
	}
	if p.Stuffing > 0 && p.StuffingAttempts < 1 {
		add("stuffing_attempts", "want at least one guess per account")
	}
	if p.MaxFailures < 0 || p.AlertWithin < 0 {
		add("max_failures", "max_failures and alert_within must not be negative")
	}
	return errs
}

// staffRole is what an adviser account does in the run.
type staffRole uint8

const (
	roleAdviser staffRole = iota
	roleTakeover
	roleStuffed
)

// staffer is the harness's view of one adviser account.
type staffer struct {
	role     staffRole
	token    string
	step     uint8 // 0 login, 1 second factor, 2 caseload, 3 files, 4 logout
	files    int   // files read this visit, or the enumeration cursor
	guesses  int   // credential stuffing: guesses made
	failures int   // credential stuffing: failed logins answered as such
	done     bool  // stuffing over: locked, taken over, or out of guesses
	cycle    uint32
}

// staffEngine drives the advisers of one run.
type staffEngine struct {
	size   int // users in the population
	plan   AdviserPlan
	staff  *population.Advisers
	actors []staffer
	ready  [3]chan int32 // by role

	mu       sync.Mutex
	accesses []fileAccess // files the harness was served, for the audit oracle
	// per taken-over account: when it first asked for a file outside its caseload
	firstOutside map[int]time.Time
	takeoverAt   map[int]int // stuffed account -> guesses that took it over
	lockedAt     map[int]int // stuffed account -> failures before the lockout
}

type fileAccess struct {
	adviser int
	subject int
	at      time.Time
}

func newStaffEngine(plan AdviserPlan, pop *population.Population) *staffEngine {
	staff := pop.Staff()
	s := &staffEngine{size: pop.Size(), plan: plan, staff: staff, actors: make([]staffer, staff.Count()),
		firstOutside: map[int]time.Time{}, takeoverAt: map[int]int{}, lockedAt: map[int]int{}}
	for r := range s.ready {
		s.ready[r] = make(chan int32, staff.Count())
	}
	n := staff.Count()
	for a := range s.actors {
		role := roleAdviser
		switch {
		case a >= n-plan.Stuffing:
			role = roleStuffed
		case a >= n-plan.Stuffing-plan.Takeovers:
			role = roleTakeover
		}
		s.actors[a].role = role
		s.ready[role] <- int32(a)
	}
	if s.plan.MaxFailures == 0 {
		s.plan.MaxFailures = defaultMaxFailures
	}
	if s.plan.AlertWithin == 0 {
		s.plan.AlertWithin = defaultAlertWithin
	}
	return s
}

// pickStaff returns an adviser ready to act for the request numbered n, or false
// when this request belongs to the beneficiaries.
func (e *engine) pickStaff(n uint64) (int, bool) {
	s := e.staff
	if s == nil {
		return 0, false
	}
	x := float64(mixHash(e.seed^n^0x57aff)>>11) / (1 << 53)
	role := roleAdviser
	switch {
	case x < s.plan.StuffingShare:
		role = roleStuffed
	case x < s.plan.StuffingShare+s.plan.TakeoverShare:
		role = roleTakeover
	case x < s.plan.StuffingShare+s.plan.TakeoverShare+s.plan.Share:
	default:
		return 0, false
	}
	select {
	case a := <-s.ready[role]:
		return int(a), true
	default:
		return 0, false
	}
}

// staffKind says what adviser a's next request does.
func (s *staffEngine) kind(a int) kind {
	st := &s.actors[a]
	switch {
	case st.role == roleStuffed:
		return kindStuffing
	case st.step == 0:
		return kindAdviserLogin
	case st.step == 1:
		return kindAdviserMFA
	case st.step == 2:
		return kindCaseload
	case st.step == 3 && st.role == roleTakeover:
		return kindTakeoverFile
	case st.step == 3:
		return kindAdviserFile
	}
	return kindAdviserLogout
}

// staffRequest fills t with adviser a's next request.
func (e *engine) staffRequest(t *vegetaTarget, a int) {
	s := e.staff
	st := &s.actors[a]
	t.Header = make(http.Header, 3)
	t.Header[attrHeader] = []string{"a" + strconv.Itoa(a)}
	if st.token != "" {
		t.Header["Cookie"] = []string{e.cookie + "=" + st.token}
	}
	switch s.kind(a) {
	case kindStuffing:
		guess := "Spring2024!" + strconv.Itoa(st.guesses)
		if st.guesses == s.plan.StuffingAttempts-1 {
			guess = s.staff.Password(a) // the list finally holds the real one
		}
		e.post(t, "/adviser/login", url.Values{"login": {s.staff.Login(a)}, "password": {guess}})
	case kindAdviserLogin:
		e.post(t, "/adviser/login", url.Values{"login": {s.staff.Login(a)}, "password": {s.staff.Password(a)}})
	case kindAdviserMFA:
		e.post(t, "/adviser/mfa", url.Values{"code": {s.staff.MFACode(a)}})
	case kindCaseload:
		e.get(t, "/adviser/caseload")
	case kindAdviserFile, kindTakeoverFile:
		caf, number := e.pop.Beneficiary(s.fileFor(a))
		e.get(t, "/adviser/files/"+caf+"/"+number)
	default:
		e.post(t, "/adviser/logout", nil)
	}
}

// fileFor returns the beneficiary whose file adviser a asks for next: one of
// its caseload for a normal adviser; for a taken-over account enumerating
// files, the next user of the population from an offset of its own.
func (s *staffEngine) fileFor(a int) int {
	st := &s.actors[a]
	if st.role == roleTakeover {
		return (a*100_003 + st.files) % s.size
	}
	return s.staff.CaseloadAt(a, (int(st.cycle)*filesPerVisit+st.files)%s.staff.CaseloadSize(a))
}

// staffAdvance moves adviser a on after its response (nil when the request
// failed).
func (e *engine) staffAdvance(a int, k kind, resp *http.Response, token string, seq uint64, at time.Duration) {
	s := e.staff
	st := &s.actors[a]
	subject := s.fileFor(a)
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	loc := ""
	if resp != nil {
		loc = resp.Header.Get("Location")
	}
	switch k {
	case kindStuffing:
		e.stuffingOutcome(a, status, loc, token, seq, at)
		if !st.done {
			s.ready[roleStuffed] <- int32(a)
		}
		return
	case kindAdviserLogin:
		if status == http.StatusSeeOther && token != "" {
			st.token = token
			st.step = 2
			if loc == "/adviser/mfa" {
				st.step = 1
			}
		} else {
			st.token, st.step = "", 0
		}
	case kindAdviserMFA:
		if status == http.StatusSeeOther {
			st.step = 2
		} else {
			st.token, st.step = "", 0
		}
	case kindCaseload:
		st.step = 3
		if status != http.StatusOK {
			st.token, st.step = "", 0
		}
	case kindAdviserFile, kindTakeoverFile:
		if status == http.StatusOK {
			s.mu.Lock()
			s.accesses = append(s.accesses, fileAccess{adviser: a, subject: subject, at: time.Now()})
			s.mu.Unlock()
		}
		if k == kindTakeoverFile && s.staff.Of(subject) != a {
			s.mu.Lock()
			if _, seen := s.firstOutside[a]; !seen {
				s.firstOutside[a] = time.Now()
			}
			s.mu.Unlock()
		}
		st.files++
		if status == http.StatusUnauthorized || resp == nil {
			st.token, st.step = "", 0
		} else if k == kindAdviserFile && st.files >= filesPerVisit {
			st.step = 4
		}
	default: // logout
		st.token, st.step, st.files = "", 0, 0
		st.cycle++
	}
	e.readyStaff(a)
}

func (e *engine) readyStaff(a int) {
	s := e.staff
	role := s.actors[a].role
	if e.think <= 0 {
		s.ready[role] <- int32(a)
		return
	}
	h := mixHash(e.seed ^ uint64(a)<<20 ^ uint64(s.actors[a].files)<<4 ^ 0xadf)
	d := e.think/2 + time.Duration(h%uint64(e.think))
	time.AfterFunc(d, func() { s.ready[role] <- int32(a) })
}

// stuffingOutcome judges one guess of the credential stuffing against
// adviser a: the auth oracle.
func (e *engine) stuffingOutcome(a, status int, loc, token string, seq uint64, at time.Duration) {
	s := e.staff
	st := &s.actors[a]
	st.guesses++
	login := s.staff.Login(a)
	auth := func(detail string) {
		e.rec.Add(evidence.Violation{Oracle: OracleAuth, Seq: seq, AtS: at.Seconds(), Viewer: evidence.Anonymous, Owner: evidence.Anonymous,
			Field: "adviser", Value: login, Where: "POST /adviser/login", Request: "POST /adviser/login", Status: status,
			Faults: e.faults(), Seed: e.seed, Detail: detail})
	}
	switch {
	case status == http.StatusLocked:
		s.mu.Lock()
		s.lockedAt[a] = st.failures
		s.mu.Unlock()
		st.done = true
	case status == http.StatusUnauthorized:
		st.failures++
		if st.failures == s.plan.MaxFailures+1 {
			auth(fmt.Sprintf("adviser %s: %d failed logins and still no lockout", login, st.failures))
		}
	case status == http.StatusSeeOther && token != "" && loc != "/adviser/mfa":
		s.mu.Lock()
		s.takeoverAt[a] = st.guesses
		s.mu.Unlock()
		auth(fmt.Sprintf("adviser %s taken over: a guessed password was accepted after %d attempts, with no second factor", login, st.guesses))
		st.done = true
	case status == http.StatusSeeOther:
		st.done = true // the password was guessed, but the second factor stops the attacker
	}
	if st.guesses >= s.plan.StuffingAttempts {
		st.done = true
	}
}
