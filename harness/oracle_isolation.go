package harness

// isolationOracle: no response to user A carries a datum of user B, in its
// body, its headers, its cookies or its redirect.
type isolationOracle struct{}

func (isolationOracle) id() string { return OracleIsolation }

// applies to the responses a logged-in beneficiary was served (not errors:
// those are fail-closed's).
func (isolationOracle) applies(x *exchange) bool { return x.who.uid >= 0 && x.status() < 400 }

func (isolationOracle) lawful(*engine, *exchange, int) (bool, string) { return false, "" }

func (o isolationOracle) check(e *engine, x *exchange) {
	if o.applies(x) {
		e.noteCoverage(x, e.judgeCanaries(x, o))
	}
}
