package harness

import (
	"context"
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
	// Stop tears the system down; it is called once, even after a failed Start.
	Stop(ctx context.Context) error
}

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

// StoreLink is a target whose replicas reach their stores over links that
// can be slowed or cut (Toxiproxy in both stacks). Stores are named by what
// they hold: "sessions", "accounts".
type StoreLink interface {
	// StoreLinks names the stores whose links can be broken.
	StoreLinks() []string
	// StoreToxic puts a Toxiproxy toxic on every replica's link to store,
	// replacing any; nil removes it.
	StoreToxic(ctx context.Context, store string, t *Toxic) error
	// StoreDown makes store unreachable, dropping open connections.
	StoreDown(ctx context.Context, store string) error
	StoreUp(ctx context.Context, store string) error
}

// Toxic is a Toxiproxy toxic on the replies from a store: its type
// (latency, timeout, reset_peer, ...) and attributes, as Toxiproxy names them.
type Toxic struct {
	Type       string
	Attributes map[string]int
}

// StoreFlusher is a target whose stores can be emptied (FLUSHALL on Redis).
type StoreFlusher interface {
	FlushStore(ctx context.Context, store string) error
}

// ServiceAction is what a service fault does to one service of the stack.
type ServiceAction string

// Service actions, as Docker names them.
const (
	ServicePause   ServiceAction = "pause"
	ServiceUnpause ServiceAction = "unpause"
	ServiceKill    ServiceAction = "kill"
	ServiceStart   ServiceAction = "start"
	ServiceRestart ServiceAction = "restart"
)

// Services is a target made of named services (containers, or in-process
// servers) that faults can freeze, kill and restart by name.
type Services interface {
	// Services names the services, in a stable order.
	Services() []string
	// ServiceActions lists what can be done to the services.
	ServiceActions() []ServiceAction
	// ServiceDo acts on one service and returns once it took effect: a
	// started or restarted service answers again.
	ServiceDo(ctx context.Context, service string, action ServiceAction) error
}

// ServiceExecer is a target that can run a command inside a service, such
// as a configuration reload.
type ServiceExecer interface {
	// ServiceExec runs cmd in service and returns its combined output; a
	// non-zero exit status is an error that carries the output.
	ServiceExec(ctx context.Context, service string, cmd []string) (string, error)
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
// over whatever the portal logs to (a table, a file, a log index). The
// harness reads it during the load, from where its last read ended, so
// that neither side holds a soak's whole log.
type Auditor interface {
	// Audit returns the entries after position after (0: from the
	// first), the position to read from next, and every alert so far.
	Audit(ctx context.Context, after int64) (AuditTrail, error)
}

// AuditTrail is a read of a target's audit log: the accesses recorded since
// the last read and the alerts its rules raised.
type AuditTrail struct {
	Entries []AuditEntry
	Alerts  []AuditAlert
	// Next is the position of the next read.
	Next int64
	// Complete is the instant up to which this read and the earlier ones
	// hold every access the target recorded: an access the harness was
	// served before it and is in none of them was never logged.
	Complete time.Time
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

// HostProvider is a target whose stack runs other services that flows go
// to by name, such as an identity provider. A scenario names them in
// portal.hosts with the value HostFromTarget; their URLs are known once
// Start returned.
type HostProvider interface {
	Hosts() map[string]string
}

// HostFromTarget is the portal.hosts value of a host the target's stack
// runs itself ("idp: target").
const HostFromTarget = "target"
