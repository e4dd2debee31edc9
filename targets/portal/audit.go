package portal

import (
	"context"
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
	massReadReason = "mass read: more than 10 files outside the caseload within a minute"
)

// AuditSink is where replicas record file accesses: the in-memory AuditLog,
// or PGAudit shared by the replicas of the container stack. Each applies the
// mass-read rule. Implementations are safe for concurrent use.
type AuditSink interface {
	// Append records one access; an error means it was not recorded, and
	// the correct portal then refuses the access it could not audit.
	Append(ctx context.Context, e AuditEntry) error
}

// AuditLog is the portal's shared access log with its alerting rule, in
// memory. Its one reader (the harness) reads it by position with Read, and
// what it has read is dropped, so the log stays as small as what is unread
// over a soak of hours. It is safe for concurrent use.
type AuditLog struct {
	mu      sync.Mutex
	entries []AuditEntry
	read    int64 // entries dropped after a Read: the position of entries[0]
	alerts  []AuditAlert
	outside map[string][]time.Time // recent out-of-caseload accesses by reader
	alerted map[string]bool
}

var _ AuditSink = (*AuditLog)(nil)

// NewAuditLog returns an empty log.
func NewAuditLog() *AuditLog {
	return &AuditLog{outside: map[string][]time.Time{}, alerted: map[string]bool{}}
}

// Append implements AuditSink.
func (l *AuditLog) Append(_ context.Context, e AuditEntry) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
	if e.Reader == "" || !e.Outside {
		return nil
	}
	recent := l.outside[e.Reader]
	for len(recent) > 0 && e.At.Sub(recent[0]) > massReadWindow {
		recent = recent[1:]
	}
	recent = append(recent, e.At)
	l.outside[e.Reader] = recent
	if len(recent) > massReadLimit && !l.alerted[e.Reader] {
		l.alerted[e.Reader] = true
		l.alerts = append(l.alerts, AuditAlert{At: e.At, Reader: e.Reader, Reason: massReadReason})
	}
	return nil
}

// Read returns the entries after position after (0: from the first), the
// position of the next read, and every alert so far. Entries up to after
// are dropped: the reader has them.
func (l *AuditLog) Read(after int64) (entries []AuditEntry, alerts []AuditAlert, next int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if drop := min(max(after-l.read, 0), int64(len(l.entries))); drop > 0 {
		l.entries = append(l.entries[:0:0], l.entries[drop:]...)
		l.read += drop
	}
	from := min(max(after-l.read, 0), int64(len(l.entries)))
	entries = append([]AuditEntry(nil), l.entries[from:]...)
	return entries, append([]AuditAlert(nil), l.alerts...), l.read + int64(len(l.entries))
}
