package harness

import (
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/canary"
	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

// Verdicts.
const (
	VerdictPass  = "pass"
	VerdictFail  = "fail"
	VerdictError = "error"
)

// Record is everything one run established: the input to every report.
// Its JSON form is report.json, whose fields the CLI contract fixes.
type Record struct {
	Verdict     string    `json:"verdict"`
	Reason      string    `json:"reason,omitempty"`
	Scenario    string    `json:"scenario"`
	Description string    `json:"description,omitempty"`
	Incident    string    `json:"incident,omitempty"`
	Seed        uint64    `json:"seed"`
	Target      string    `json:"target"`
	Defects     []string  `json:"defects"`
	Users       int       `json:"users"`
	StartedAt   time.Time `json:"started_at"`
	Interrupted bool      `json:"interrupted,omitempty"`
	// Memory samples the harness's heap and resident set every 10 s.
	Memory []MemorySample `json:"memory,omitempty"`
	// Panic is the first panic the harness recovered from, with its stack.
	Panic *PanicRecord `json:"panic,omitempty"`
	// SharedCache counts the authenticated pages answered from a shared
	// cache (X-Cache: HIT, Age), when any was.
	SharedCache *SharedCache `json:"shared_cache,omitempty"`
	// Incomplete says why the run stopped before its schedule ended
	// (max_requests), when it did.
	Incomplete string `json:"incomplete,omitempty"`
	// TargetStartS is how long the target took to start, seeding included.
	TargetStartS float64 `json:"target_start_s"`
	// Notes say what the run could not check, and why.
	Notes []string `json:"notes,omitempty"`
	// Replay is the command line that reproduces the run.
	Replay string `json:"replay,omitempty"`
	// Workers is how many load generators drove the load: 1, this
	// process, unless the run was sharded (--workers); Generators is what
	// each of those did, and StartSpreadMS the spread of their starts.
	Workers       int               `json:"workers"`
	Generators    []GeneratorRecord `json:"generators,omitempty"`
	StartSpreadMS *float64          `json:"start_spread_ms,omitempty"`

	Requests      uint64  `json:"requests"`
	DurationS     float64 `json:"duration_s"`
	ThroughputRPS float64 `json:"throughput_rps"`
	LatencyMS     Latency `json:"latency_ms"`
	Errors        uint64  `json:"errors"`
	Logins        Logins  `json:"logins"`

	Violations                  uint64              `json:"violations"`
	ViolationsByOracle          map[string]uint64   `json:"violations_by_oracle"`
	Victims                     int                 `json:"victims"`
	Viewers                     int                 `json:"viewers"`
	FirstViolationAfterRequests *uint64             `json:"first_violation_after_requests"`
	FirstViolationAfterS        *float64            `json:"first_violation_after_s"`
	FirstViolation              *evidence.Violation `json:"first_violation,omitempty"`
	// ViolationsBy counts violations by replica, cache status (X-Cache),
	// step and field; "none" where the response did not say.
	ViolationsBy map[string]map[string]uint64 `json:"violations_by,omitempty"`
	// ViewerOwner is who saw whose data, most violations first (up to
	// maxPairsReported pairs).
	ViewerOwner     []ViewerOwner        `json:"viewer_owner,omitempty"`
	Examples        []evidence.Violation `json:"examples,omitempty"`
	AccountsAudited int                  `json:"accounts_audited"`
	// Canaries is the strength of each canary field at this run's
	// population size, and the false violations it makes likely.
	Canaries []canary.FieldBound `json:"canary_bounds"`
	Advisers *AdviserReport      `json:"advisers,omitempty"`

	Faults     []FaultEvent      `json:"faults"`
	Thresholds []ThresholdResult `json:"thresholds"`
	// Regression is the scenario's tolerance against a baseline, for
	// crosstalk compare.
	Regression *Regression     `json:"regression,omitempty"`
	Steps      []StepStats     `json:"steps"`
	Timeline   []TimelinePoint `json:"timeline"`
}

// ViewerOwner counts the violations in which Viewer received Owner's data
// (Viewer -1: anonymous requests).
type ViewerOwner struct {
	Viewer     int    `json:"viewer"`
	Owner      int    `json:"owner"`
	Violations uint64 `json:"violations"`
}

// maxPairsReported bounds the viewer → owner table of the record.
const maxPairsReported = 50

// Logins counts login attempts and successes.
type Logins struct {
	Attempted uint64 `json:"attempted"`
	Succeeded uint64 `json:"succeeded"`
}

// ThresholdResult is one gate limit checked against the run.
type ThresholdResult struct {
	Name  string  `json:"name"`
	Limit float64 `json:"limit"`
	Value float64 `json:"value"`
	Pass  bool    `json:"pass"`
	// Min is set for a lower bound (value ≥ limit), such as min_requests.
	Min bool `json:"min,omitempty"`
}

// TimelinePoint is one second of the run.
type TimelinePoint struct {
	T        int    `json:"t"`
	Requests uint64 `json:"requests"`
	Errors   uint64 `json:"errors"`
	// Latency percentiles of the responses that came in this second, in
	// milliseconds.
	P50 float32 `json:"p50_ms,omitempty"`
	P90 float32 `json:"p90_ms,omitempty"`
	P99 float32 `json:"p99_ms,omitempty"`
	// Violations found in this second, by oracle.
	Violations map[string]uint64 `json:"violations,omitempty"`
}

// Passed reports whether the gate passed.
func (r *Record) Passed() bool { return r.Verdict == VerdictPass }

// AdviserReport counts the three France Travail failures separately.
type AdviserReport struct {
	// FilesOutsideCaseloads is how many responses gave an adviser the file
	// of a beneficiary it does not follow (the breadth oracle).
	FilesOutsideCaseloads uint64 `json:"files_read_outside_caseloads"`
	// AttemptsBeforeTakeover is the fewest guesses that took a stuffed
	// account over; nil when none was.
	AttemptsBeforeTakeover *int `json:"attempts_before_takeover"`
	// AccountsLocked is how many stuffed accounts were locked, and after
	// how many failures at most.
	AccountsLocked        int `json:"accounts_locked"`
	FailuresBeforeLockout int `json:"failures_before_lockout"`
	// SecondFactorsPassed is how many adviser logins went through a
	// one-time code (a step sending {{totp .Adviser}}) that the portal
	// accepted.
	SecondFactorsPassed int `json:"second_factors_passed"`
	// AccessesAudited file reads the harness was served; of them,
	// AccessesMissingFromLog were not in the target's audit log under the
	// right reader.
	AccessesAudited        int `json:"accesses_audited"`
	AccessesMissingFromLog int `json:"accesses_missing_from_log"`
	// MassReads is how many taken-over accounts read outside their
	// caseload; AlertAfterS is the slowest alert about them, nil when one
	// never came.
	MassReads int `json:"mass_reads"`
	// MassReadsUnjudged began too late in the run for their deadline.
	MassReadsUnjudged int      `json:"mass_reads_unjudged"`
	MassReadsAlerted  int      `json:"mass_reads_alerted"`
	AlertAfterS       *float64 `json:"alert_after_s"`
	AlertWithinS      float64  `json:"alert_within_s"`
}

// SharedCache is what the run saw of private pages served from a cache.
type SharedCache struct {
	Pages    uint64 `json:"pages"`
	FirstSeq uint64 `json:"first_seq"`
	First    string `json:"first"`
}
