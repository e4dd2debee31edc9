package harness

// breadthOracle: an adviser account reads only the files of the
// beneficiaries it follows (France Travail).
type breadthOracle struct{}

func (breadthOracle) id() string { return OracleBreadth }

func (breadthOracle) applies(x *exchange) bool { return x.who.adv >= 0 }

// lawful: a beneficiary the adviser follows.
func (breadthOracle) lawful(e *engine, x *exchange, owner int) (bool, string) {
	if e.staff.staff.Of(owner) == x.who.adv {
		return true, ""
	}
	return false, e.adviserDetail(x.who.adv, owner)
}

func (o breadthOracle) check(e *engine, x *exchange) {
	if o.applies(x) {
		e.judgeCanaries(x, o)
	}
}
