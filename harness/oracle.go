package harness

import (
	"context"
	"net/http"
)

// The oracles' ids, as reports name them.
const (
	OracleIsolation   = "isolation"   // a response to A carried a datum of B
	OracleSession     = "session"     // a session token of B was delivered to A
	OracleWrites      = "writes"      // an account does not hold what its user last wrote
	OracleFailClosed  = "fail-closed" // an anonymous or error response carried a datum
	OracleBreadth     = "breadth"     // an adviser received the file of a beneficiary it does not follow
	OracleAuth        = "auth"        // a guessed adviser password was accepted, or failures went on without lockout
	OracleAudit       = "audit"       // an access is missing from the audit log, or a mass read raised no alert in time
	OracleFingerprint = "fingerprint" // a private page without canaries was served whole to another user
)

// Oracles lists the oracle ids in report order.
var Oracles = []string{OracleIsolation, OracleSession, OracleWrites, OracleFailClosed, OracleBreadth, OracleAuth, OracleAudit, OracleFingerprint}

// Each oracle is a small type in its own file (oracle_*.go): the response
// oracles judge every response as it arrives (isolation, fail-closed,
// breadth, session; auth judges the answers to guessed passwords), the
// after-run oracles judge the run once its load has stopped (writes,
// audit), and slo judges the record's figures against the thresholds.

// afterRunOracle judges the run as a whole once the load has stopped.
type afterRunOracle interface {
	judge(ctx context.Context, j *judgement) error
}

// afterRun lists the after-run oracles, in the order they run.
var afterRun = []afterRunOracle{writesOracle{}, auditOracle{}, fingerprintOracle{}}

// judgement is what the after-run oracles judge: the engine that ran the
// load, the target, the scenario, and the record they add to.
type judgement struct {
	e   *engine
	t   Target
	sc  *Scenario
	rec *Record
	// tr sends read-back requests, through the loopback-checked transport.
	tr http.RoundTripper
}

// note records what the run could not check, and why.
func (j *judgement) note(s string) { j.rec.Notes = append(j.rec.Notes, s) }
