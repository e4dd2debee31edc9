package harness

// failClosedOracle: under any fault, a degraded or anonymous response
// carries no user's datum (cachetur.no, Cloudbleed).
type failClosedOracle struct{}

func (failClosedOracle) id() string { return OracleFailClosed }

// applies to anonymous responses and to beneficiaries' error pages.
func (failClosedOracle) applies(x *exchange) bool {
	return x.who.adv < 0 && (x.who.uid < 0 || x.status() >= 400)
}

func (failClosedOracle) lawful(*engine, *exchange, int) (bool, string) { return false, "" }

func (o failClosedOracle) check(e *engine, x *exchange) {
	if o.applies(x) {
		e.judgeCanaries(x, o)
	}
}
