package harness

import (
	"sync"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// Advisers (conseillers) are a second kind of actor beside beneficiaries:
// advisers working their caseload, adviser accounts taken over by an
// attacker that enumerate files outside their caseload (the France Travail
// breach), and adviser accounts under credential stuffing. What they do is
// declared in flows whose actor names their role; the scenario's advisers
// plan says how many there are and what share of the load each role makes.

// AdviserPlan is the scenario's adviser population and the shares of the
// load its roles make.
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

// roles, in the order of their ready queues.
var staffRoles = []string{ActorAdviser, ActorTakeover, ActorStuffing}

// staffEngine holds the advisers of one run: their state, their ready
// queues by role, and what they did, for the auth and audit oracles.
type staffEngine struct {
	size   int // users in the population
	plan   AdviserPlan
	staff  *population.Advisers
	actors []actor
	role   []int // index in staffRoles, by adviser
	ready  [3]queue

	mu       sync.Mutex
	served   int          // files the harness was served
	audited  bool         // the target's audit log is read back
	accesses []fileAccess // files served, until the audit oracle reads them
	ledger   auditLedger
	// per adviser: when it first asked for a file outside its caseload
	firstOutside map[int]time.Time
	takeoverAt   map[int]int // stuffed account -> guesses that took it over
	lockedAt     map[int]int // stuffed account -> failures before the lockout
	otpPassed    int         // adviser steps that sent a one-time code and went on
}

// secondFactor counts an adviser's one-time code the portal accepted.
func (s *staffEngine) secondFactor() {
	s.mu.Lock()
	s.otpPassed++
	s.mu.Unlock()
}

type fileAccess struct {
	adviser int
	subject int
	at      time.Time
}

func newStaffEngine(plan AdviserPlan, pop *population.Population) *staffEngine {
	staff := pop.Staff()
	n := staff.Count()
	s := &staffEngine{size: pop.Size(), plan: plan, staff: staff, actors: make([]actor, n), role: make([]int, n),
		firstOutside: map[int]time.Time{}, takeoverAt: map[int]int{}, lockedAt: map[int]int{}}
	for a := range s.actors {
		s.actors[a].flow = -1
		r := 0
		switch {
		case a >= n-plan.Stuffing:
			r = 2
		case a >= n-plan.Stuffing-plan.Takeovers:
			r = 1
		}
		s.role[a] = r
		s.ready[r].push(int32(a))
	}
	if s.plan.MaxFailures == 0 {
		s.plan.MaxFailures = defaultMaxFailures
	}
	if s.plan.AlertWithin == 0 {
		s.plan.AlertWithin = defaultAlertWithin
	}
	return s
}

// pick returns an adviser ready to act for the request numbered n, or
// false when this request belongs to the beneficiaries.
func (s *staffEngine) pick(seed, n uint64) (int, bool) {
	x := float64(mixHash(seed^n^0x57aff)>>11) / (1 << 53)
	r := 0
	switch {
	case x < s.plan.StuffingShare:
		r = 2
	case x < s.plan.StuffingShare+s.plan.TakeoverShare:
		r = 1
	case x < s.plan.StuffingShare+s.plan.TakeoverShare+s.plan.Share:
	default:
		return 0, false
	}
	a, ok := s.ready[r].pop()
	return int(a), ok
}

// subject returns the beneficiary whose file adviser a reads next: the next
// of its caseload for an adviser at work; for a taken-over account, the
// next user of the population from an offset of its own, whoever follows
// them.
func (s *staffEngine) subject(a int) int {
	reads := int(s.actors[a].reads)
	if staffRoles[s.role[a]] == ActorTakeover {
		return (a*100_003 + reads) % s.size
	}
	return s.staff.CaseloadAt(a, reads%s.staff.CaseloadSize(a))
}

// read records that adviser a was served status for subject's file.
func (s *staffEngine) read(a, subject, status int) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 200 {
		s.served++
	}
	if status == 200 && s.audited {
		s.accesses = append(s.accesses, fileAccess{adviser: a, subject: subject, at: now})
	}
	if s.staff.Of(subject) != a {
		if _, seen := s.firstOutside[a]; !seen {
			s.firstOutside[a] = now
		}
	}
}

// guess returns what adviser a types as its password on its next guess:
// a list of common passwords, the real one last.
func (s *staffEngine) guess(a int) string {
	st := &s.actors[a]
	if int(st.guesses) >= s.plan.StuffingAttempts-1 {
		return s.staff.Password(a)
	}
	return "Spring2024!" + itoa(int(st.guesses))
}
