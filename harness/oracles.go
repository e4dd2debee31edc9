package harness

// The oracles' ids, as reports name them.
const (
	OracleIsolation  = "isolation"   // a response to A carried a datum of B
	OracleSession    = "session"     // a session token of B was delivered to A
	OracleWrites     = "writes"      // an account does not hold what its user last wrote
	OracleFailClosed = "fail-closed" // an anonymous or error response carried a datum
	OracleBreadth    = "breadth"     // an adviser received the file of a beneficiary it does not follow
	OracleAuth       = "auth"        // a guessed adviser password was accepted, or failures went on without lockout
	OracleAudit      = "audit"       // an access is missing from the audit log, or a mass read raised no alert in time
)

// Oracles lists the oracle ids in report order.
var Oracles = []string{OracleIsolation, OracleSession, OracleWrites, OracleFailClosed, OracleBreadth, OracleAuth, OracleAudit}
