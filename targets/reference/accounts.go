package reference

import (
	"strconv"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
)

// AccountOf returns user i of pop as the portal stores it: legacy and
// migrated accounts with their own password (generation 1), pending ones
// with the temporary password (generation 0).
func AccountOf(pop *population.Population, i int) portal.Account {
	u := pop.User(i)
	state, gen := portal.StateLegacy, 1
	switch u.State {
	case population.MigrationPending:
		state, gen = portal.StatePending, 0
	case population.Migrated:
		state = portal.StateMigrated
	}
	salt := strconv.FormatUint(pop.Seed()^uint64(i)*0x9e3779b97f4a7c15, 36)
	adviser := -1
	if staff := pop.Staff(); staff != nil {
		adviser = staff.Of(i)
	}
	return portal.Account{
		Adviser: adviser,
		ID:      i, NIR: u.NIR, CAF: u.CAF, Number: u.Number, First: u.First, Last: u.Last,
		Email: u.Email, Phone: u.Phone, Street: u.Street, PostalCode: u.PostalCode, City: u.City,
		Salary: u.Salary, Family: u.Family, IBAN: u.IBAN, State: state,
		Salt: salt, PassHash: portal.HashPassword(salt, pop.Password(i, gen)),
	}
}

// AdvisersOf returns pop's advisers as the portal stores them, ID a at
// position a (none if the population has no staff).
func AdvisersOf(pop *population.Population) []portal.Adviser {
	staff := pop.Staff()
	var list []portal.Adviser
	for a := 0; staff != nil && a < staff.Count(); a++ {
		first, last := staff.Name(a)
		salt := "adv" + strconv.Itoa(a)
		list = append(list, portal.Adviser{ID: a, Login: staff.Login(a), First: first, Last: last, Salt: salt,
			PassHash: portal.HashPassword(salt, staff.Password(a)), TOTPSecret: staff.TOTPSecret(a)})
	}
	return list
}

// AuditTrailOf returns the reference portal's audit entries and alerts as
// the harness reads them.
func AuditTrailOf(entries []portal.AuditEntry, alerts []portal.AuditAlert, next int64, complete time.Time) harness.AuditTrail {
	t := harness.AuditTrail{Next: next, Complete: complete}
	for _, e := range entries {
		t.Entries = append(t.Entries, harness.AuditEntry{At: e.At, Reader: e.Reader, Subject: e.Subject, Granted: e.Granted})
	}
	for _, a := range alerts {
		t.Alerts = append(t.Alerts, harness.AuditAlert{At: a.At, Reader: a.Reader, Reason: a.Reason})
	}
	return t
}
