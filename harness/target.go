package harness

import (
	"context"
	"errors"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// Target is a system under test. The harness drives it only through these
// methods and the optional capabilities below, found by type assertion, so
// it never knows which target it drives.
type Target interface {
	// Name identifies the target kind in reports ("embedded", ...).
	Name() string
	// Start brings the system up with pop seeded in it and returns the base
	// URL (scheme://host:port) that the load goes to.
	Start(ctx context.Context, pop *population.Population) (baseURL string, err error)
	// StoredIBAN reads back user i's bank details as the target stores them,
	// for the writes oracle; an error wrapping ErrNoReadBack means the
	// target cannot, and the oracle is skipped with a note.
	StoredIBAN(ctx context.Context, user int) (string, error)
	// Stop tears the system down; it is called once, even after a failed Start.
	Stop(ctx context.Context) error
}

// ErrNoReadBack is wrapped by targets that cannot read accounts back.
var ErrNoReadBack = errors.New("this target cannot read accounts back")

// EdgeReloader is a target whose edge cache rules can be reloaded at run
// time. ReloadEdge returns once responses are proven to be served with the
// new rules, and returns the name of the rules it replaced.
type EdgeReloader interface {
	EdgeVariants() []string
	ReloadEdge(ctx context.Context, rules string) (previous string, err error)
}

// EdgePurger is a target whose edge cache can be emptied.
type EdgePurger interface {
	PurgeEdge(ctx context.Context) error
}

// StoreLink is a target whose replicas reach their session store over a link
// that can be slowed or cut.
type StoreLink interface {
	// StoreLatency delays the store's replies; zero removes the delay.
	StoreLatency(ctx context.Context, latency, jitter time.Duration) error
	// StoreDown makes the store unreachable, dropping open connections.
	StoreDown(ctx context.Context) error
	StoreUp(ctx context.Context) error
}

// Deployer is a target whose replicas can be moved to another release one at
// a time, as a rolling deploy does.
type Deployer interface {
	Releases() []string
	// Deploy moves every replica to release, pausing between replicas, and
	// returns the release they ran before.
	Deploy(ctx context.Context, release string, pause time.Duration) (previous string, err error)
}

// Auditor is a target whose audit log of file accesses can be read back, for
// the audit oracle. For a portal other than the reference one, implement it
// over whatever the portal logs to (a table, a file, a log index).
type Auditor interface {
	Audit(ctx context.Context) (AuditTrail, error)
}

// AuditTrail is a target's audit log: the accesses it recorded and the
// alerts its rules raised.
type AuditTrail struct {
	Entries []AuditEntry
	Alerts  []AuditAlert
}

// AuditEntry is one recorded access of Reader (an adviser's login) to the
// file of beneficiary Subject.
type AuditEntry struct {
	At      time.Time
	Reader  string
	Subject int
	Granted bool
}

// AuditAlert is an alert the target raised about Reader.
type AuditAlert struct {
	At     time.Time
	Reader string
	Reason string
}
