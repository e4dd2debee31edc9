package portal

import (
	"sync"
	"time"
)

// AuditEntry is one access to a beneficiary's file by an adviser.
type AuditEntry struct {
	At      time.Time `json:"at"`
	Reader  string    `json:"reader"`  // the adviser's login
	Subject int       `json:"subject"` // the beneficiary's account id
	Granted bool      `json:"granted"`
	Outside bool      `json:"outside"` // the file is outside the reader's caseload
	Replica string    `json:"replica"`
	From    string    `json:"from"`
}

// AuditAlert is raised when one adviser reads, or tries to read, many files
// outside its caseload.
type AuditAlert struct {
	At     time.Time `json:"at"`
	Reader string    `json:"reader"`
	Reason string    `json:"reason"`
}

// The mass-read rule: more than massReadLimit files outside the reader's
// caseload (read or refused) within massReadWindow raise an alert.
const (
	massReadLimit  = 10
	massReadWindow = time.Minute
)

// AuditLog is the portal's shared, append-only access log with its alerting
// rule. It is safe for concurrent use.
type AuditLog struct {
	mu      sync.Mutex
	entries []AuditEntry
	alerts  []AuditAlert
	outside map[string][]time.Time // recent out-of-caseload accesses by reader
	alerted map[string]bool

	queue chan AuditEntry // see defect_blind_audit_log.go
	once  sync.Once
}

// NewAuditLog returns an empty log.
func NewAuditLog() *AuditLog {
	return &AuditLog{outside: map[string][]time.Time{}, alerted: map[string]bool{}}
}

func (l *AuditLog) append(e AuditEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
	if e.Reader == "" || !e.Outside {
		return
	}
	recent := l.outside[e.Reader]
	for len(recent) > 0 && e.At.Sub(recent[0]) > massReadWindow {
		recent = recent[1:]
	}
	recent = append(recent, e.At)
	l.outside[e.Reader] = recent
	if len(recent) > massReadLimit && !l.alerted[e.Reader] {
		l.alerted[e.Reader] = true
		l.alerts = append(l.alerts, AuditAlert{At: e.At, Reader: e.Reader,
			Reason: "mass read: more than 10 files outside the caseload within a minute"})
	}
}

// Snapshot returns a copy of the entries and alerts so far.
func (l *AuditLog) Snapshot() ([]AuditEntry, []AuditAlert) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]AuditEntry(nil), l.entries...), append([]AuditAlert(nil), l.alerts...)
}
