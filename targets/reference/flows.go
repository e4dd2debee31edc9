// Package reference is what the drivers of the reference portal share
// (the embedded stack and the container stack): its journeys as declared
// flows, its accounts and advisers made from a population, and its audit
// trail as the harness reads it. The engine knows no route of the portal:
// its journeys are data here, in the same flow language as any portal's.
package reference

import (
	"net/http"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// SessionCookie is the reference portal's session cookie.
const SessionCookie = "sid"

// Flows returns the reference portal's beneficiary journeys: legacy login
// (beneficiary number), identifier-migration login (NIR and temporary
// password, then a forced password change), login with the user's own
// password; then the dossier page and API, the payment certificate (with
// the scenario's documents chance), a bank-detail change and the dossier
// read again (with its bank_change chance), and logout.
func Flows() []harness.Flow {
	login := func(name, path string, form map[string]string, next string) harness.Step {
		return harness.Step{Name: name, Method: http.MethodPost, Path: path, Form: form,
			Expect: []int{http.StatusSeeOther}, ExpectLocation: next, Login: true}
	}
	nir := map[string]string{"nir": "{{.User.NIR}}", "password": "{{.User.Password}}"}
	tail := []harness.Step{
		get("dossier", "/dossier"),
		get("dossier-api", "/api/dossier"),
		withChance(get("attestation", "/attestation"), "documents"),
		withChance(harness.Step{Name: "bank-change", Method: http.MethodPost, Path: "/bank",
			Form: map[string]string{"iban": "{{.User.NextIBAN}}"}, Expect: []int{http.StatusSeeOther},
			ExpectLocation: "/dossier", Writes: "iban"}, "bank_change"),
		{Name: "dossier-after-bank", Method: http.MethodGet, Path: "/dossier", Expect: []int{http.StatusOK}, After: "bank-change"},
		{Name: "logout", Method: http.MethodPost, Path: "/logout", Expect: []int{http.StatusSeeOther}, Logout: true},
	}
	flow := func(name, state string, head ...harness.Step) harness.Flow {
		return harness.Flow{Name: name, States: []string{state}, Steps: append(head, tail...)}
	}
	return []harness.Flow{
		flow("legacy", "legacy", login("login-legacy", "/login",
			map[string]string{"caf": "{{.User.CAF}}", "number": "{{.User.Number}}", "password": "{{.User.Password}}"}, "/dossier")),
		flow("first-login", "migration-pending", login("login-nir", "/login/nir", nir, "/password"),
			noOwnData(get("password-form", "/password")),
			harness.Step{Name: "password-change", Method: http.MethodPost, Path: "/password",
				Form: map[string]string{"new_password": "{{.User.NewPassword}}"}, Expect: []int{http.StatusSeeOther},
				ExpectLocation: "/dossier", Migrates: true}),
		flow("migrated", "migrated", login("login-nir", "/login/nir", nir, "/dossier")),
	}
}

// AdviserFlows returns the reference portal's adviser journeys, one per
// role of the advisers plan: an adviser working its caseload (login, second
// factor, caseload, five files, logout); a taken-over account enumerating
// files, whoever follows them, until it is thrown out; an account under
// credential stuffing, its password guessed until the portal locks it or
// lets it in.
func AdviserFlows() []harness.Flow {
	login := harness.Step{Name: "login", Method: http.MethodPost, Path: "/adviser/login",
		Form: map[string]string{"login": "{{.Adviser.Login}}", "password": "{{.Adviser.Password}}"}, Expect: []int{http.StatusSeeOther}}
	mfa := harness.Step{Name: "second-factor", Method: http.MethodPost, Path: "/adviser/mfa",
		Form: map[string]string{"code": "{{totp .Adviser}}"}, Expect: []int{http.StatusSeeOther}, IfLocation: "/adviser/mfa"}
	caseload := get("caseload", "/adviser/caseload")
	file := harness.Step{Name: "file", Method: http.MethodGet, Path: "/adviser/files/{{.Subject.CAF}}/{{.Subject.Number}}",
		Expect: []int{http.StatusOK}, Reads: true, Repeat: 5}
	enumerate := file
	enumerate.Name, enumerate.Expect, enumerate.Repeat = "enumerate", []int{http.StatusOK, http.StatusForbidden, http.StatusNotFound}, -1
	return []harness.Flow{
		{Name: "adviser", Actor: harness.ActorAdviser, Steps: []harness.Step{login, mfa, caseload, file,
			{Name: "logout", Method: http.MethodPost, Path: "/adviser/logout", Expect: []int{http.StatusSeeOther}, Logout: true}}},
		{Name: "takeover", Actor: harness.ActorTakeover, Steps: []harness.Step{login, mfa, caseload, enumerate}},
		{Name: "stuffing", Actor: harness.ActorStuffing, Think: &noThink, Steps: []harness.Step{{
			Name: "guess", Method: http.MethodPost, Path: "/adviser/login",
			Form:   map[string]string{"login": "{{.Adviser.Login}}", "password": "{{.Guess}}"},
			Expect: []int{http.StatusUnauthorized}, Repeat: -1,
			Guess: &harness.GuessOutcomes{Locked: []int{http.StatusLocked}, Denied: []int{http.StatusUnauthorized},
				Accepted: []int{http.StatusSeeOther}, Challenge: "/adviser/mfa"},
		}}},
	}
}

// Complete gives a scenario that declares no flows the reference portal's
// journeys (with the login through the identity provider if the scenario
// declares the host idp), and a scenario with advisers but no adviser flow the reference
// adviser journeys: a scenario written for the reference portal runs on any
// copy of it (embedded, containers, or one at --target url).
func Complete(sc *harness.Scenario) {
	if len(sc.Flows) == 0 {
		sc.Flows = Flows()
		if sc.Portal != nil && sc.Portal.Hosts[IdPHost] != "" {
			// Migrated users log in through the identity provider three
			// times in four, as most French users choose FranceConnect.
			fc := FranceConnectFlow()
			fc.Weight = 3
			sc.Flows = append(sc.Flows, fc)
		}
		if sc.Portal == nil {
			sc.Portal = &harness.PortalSpec{}
		}
		if sc.Portal.SessionCookie == "" {
			sc.Portal.SessionCookie = SessionCookie
		}
	}
	if sc.Advisers == nil {
		return
	}
	for _, f := range sc.Flows {
		if f.Actor != "" && f.Actor != harness.ActorBeneficiary {
			return
		}
	}
	sc.Flows = append(sc.Flows, AdviserFlows()...)
}

// noThink is a bot's pause between requests: none.
var noThink time.Duration

func get(name, path string) harness.Step {
	return harness.Step{Name: name, Method: http.MethodGet, Path: path, Expect: []int{http.StatusOK}}
}

// noOwnData marks a page that shows no personal data: the coverage oracle
// does not expect the viewer's own values on it.
func noOwnData(s harness.Step) harness.Step {
	zero := 0.0
	s.ExpectOwn = &zero
	return s
}

func withChance(s harness.Step, knob string) harness.Step {
	s.Chance = &harness.Chance{Knob: knob}
	return s
}
