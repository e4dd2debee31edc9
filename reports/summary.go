package reports

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

var fieldNames = map[string]string{
	"nir": "NIR", "iban": "IBAN (bank details)", "email": "e-mail address", "phone": "phone number",
	"session-token": "session token",
}

func fieldName(f string) string {
	if n, ok := fieldNames[f]; ok {
		return n
	}
	return f
}

func who(id int) string {
	if id == evidence.Anonymous {
		return "an anonymous visitor"
	}
	return fmt.Sprintf("user #%d", id)
}

// Sentence says in plain words what one violation is.
func Sentence(v evidence.Violation) string {
	switch v.Oracle {
	case harness.OracleWrites, harness.OracleAuth, harness.OracleAudit:
		return v.Detail
	case harness.OracleBreadth:
		s := strings.SplitN(v.Detail, "; ", 2)[0] + " (" + v.Request + ")"
		if v.Replica != "" {
			s += ", served by replica " + v.Replica
		}
		return s
	case harness.OracleSession:
		return fmt.Sprintf("%s asked %s and was handed the session token of user #%d", who(v.Viewer), v.Request, v.Owner)
	}
	s := fmt.Sprintf("%s asked %s and received the %s of user #%d", who(v.Viewer), v.Request, fieldName(v.Field), v.Owner)
	if v.Where != "body" {
		s += " in " + v.Where
	}
	if v.Replica != "" {
		s += ", served by replica " + v.Replica
	}
	if v.Cache == "HIT" {
		s += " from the edge cache"
	}
	return s
}

// Summary writes the terminal summary: the verdict, then in plain words
// what leaked, to how many, after how many requests and under which fault.
func Summary(w io.Writer, r *harness.Record) error {
	p := &printer{w: w}
	p.f("crosstalk · %s · target %s · seed %d · defects: %s\n", r.Scenario, r.Target, r.Seed, listOr(r.Defects, "none"))
	switch {
	case r.Verdict == harness.VerdictError:
		p.f("ERROR: %s\n", r.Reason)
	case r.Violations > 0:
		var broke []string
		for _, o := range harness.Oracles {
			if n := r.ViolationsByOracle[o]; n > 0 {
				broke = append(broke, fmt.Sprintf("%s %s", count(n), o))
			}
		}
		p.f("FAIL: %s violations (%s).\n", count(r.Violations), strings.Join(broke, ", "))
	case r.Verdict == harness.VerdictFail:
		p.f("FAIL: no user received another user's data, but %s.\n", r.Reason)
	default:
		p.f("PASS: no user received another user's data in %s responses.\n", count(r.Requests))
	}
	if r.Violations > 0 {
		if r.Victims > 0 {
			p.f("  %s: users whose data reached someone else\n", plural(r.Victims, "victim"))
		}
		if r.Viewers > 0 {
			p.f("  %s: users who received another user's data\n", plural(r.Viewers, "viewer"))
		}
		if f := r.FirstViolation; f != nil {
			after := f.Seq
			if r.FirstViolationAfterRequests != nil {
				after = *r.FirstViolationAfterRequests // a sharded run's, over all its generators
			}
			p.f("  first after %s requests (%.1f s into the run)%s\n", count(after), f.AtS, during(f.Faults))
			p.f("  for example: %s", Sentence(*f))
			if f.Value != "" && (f.Oracle == harness.OracleIsolation || f.Oracle == harness.OracleFailClosed || f.Oracle == harness.OracleBreadth) {
				p.f(": %q", f.Value)
			}
			p.f("\n")
		}
	}
	if a := r.Advisers; a != nil {
		adviserLines(p, a)
	}
	if r.Incident != "" {
		if c := Comparison(r); c != "" {
			p.f("  %s\n", c)
		}
	}
	errPct := 0.0
	if r.Requests > 0 {
		errPct = 100 * float64(r.Errors) / float64(r.Requests)
	}
	if r.TargetStartS > 0 {
		p.f("target      %s started in %.1f s, seeding included\n", r.Target, r.TargetStartS)
	}
	p.f("load        %s requests in %.1f s (%s req/s), errors %s (%.2f%%), logins %s of %s\n",
		count(r.Requests), r.DurationS, count(uint64(r.ThroughputRPS)), count(r.Errors), errPct,
		count(r.Logins.Succeeded), count(r.Logins.Attempted))
	if len(r.Generators) > 0 {
		workersLine(p, r)
	}
	p.f("latency     p50 %s · p90 %s · p99 %s · max %s\n", ms(r.LatencyMS.P50), ms(r.LatencyMS.P90), ms(r.LatencyMS.P99), ms(r.LatencyMS.Max))
	if len(r.Canaries) > 0 {
		p.f("canaries   %s\n", canaryLine(r))
	}
	if from, to, g, ok := harness.MemoryGrowth(r.Memory); ok {
		slope, _ := harness.MemorySlope(r.Memory)
		p.f("memory      rss %.0f MB at %s, %.0f MB at %s (%+.1f%%, slope %+.1f MB/h); live heap %.0f → %.0f MB, goroutines %d → %d\n",
			from.RSSMB, time.Duration(from.T*float64(time.Second)).Round(time.Second), to.RSSMB,
			time.Duration(to.T*float64(time.Second)).Round(time.Second), 100*g, slope, from.LiveMB, to.LiveMB, from.Goroutines, to.Goroutines)
	}
	if line := coverageLine(r); line != "" {
		p.f("coverage    %s\n", line)
	}
	for _, f := range r.Faults {
		p.f("fault       %s from %.1f s to %.1f s", f.Name, f.StartS, f.EndS)
		if f.Error != "" {
			p.f(" (%s)", f.Error)
		}
		p.f("\n")
	}
	for _, t := range r.Thresholds {
		verdict := "ok"
		if !t.Pass {
			verdict = "BREACHED"
		}
		op := "≤"
		if t.Name == "login_success" || t.Min {
			op = "≥"
		}
		p.f("threshold   %s %.4g %s %.4g %s\n", t.Name, t.Value, op, t.Limit, verdict)
	}
	for _, n := range r.Notes {
		p.f("note        %s\n", n)
	}
	if r.Violations > 0 {
		p.f("replay      %s\n", replay(r))
	}
	if r.Interrupted {
		p.f("interrupted before the end: the figures cover the part that ran\n")
	}
	return p.err
}

// incidents holds what production saw, for the comparison line.
var incidents = map[string]string{
	"caf-2021":            "in production ~7,000 files over ~11 hours",
	"steam-2015":          "in production ~34,000 users' pages over ~90 minutes",
	"klarna-2021":         "in production up to ~9,500 users over 31 minutes",
	"railway-2026":        "in production ~0.05% of domains over 52 minutes",
	"github-2021":         "in production very few sessions, and every user was logged out",
	"chatgpt-2023":        "in production 1.2% of active paying users over 9 hours",
	"cachetur-2022":       "in production 33 users over ~2 hours",
	"fujitsu-2023":        "in production 13 cases, and the service was suspended in ~200 towns",
	"france-travail-2024": "in production the records of 36.8 M people, ~20 years of them",
}

// adviserLines says how the three France Travail controls held.
func adviserLines(p *printer, a *harness.AdviserReport) {
	p.f("  advisers: breadth %s read outside caseloads\n", plural(int(a.FilesOutsideCaseloads), "file"))
	switch {
	case a.AttemptsBeforeTakeover != nil:
		p.f("  advisers: auth    an account was taken over after %d guessed passwords (no lockout, no second factor)\n", *a.AttemptsBeforeTakeover)
	case a.AccountsLocked > 0:
		p.f("  advisers: auth    %s locked after at most %d failures; no guessed password accepted\n", plural(a.AccountsLocked, "account"), a.FailuresBeforeLockout)
	default:
		p.f("  advisers: auth    no guessed password accepted\n")
	}
	if a.SecondFactorsPassed > 0 {
		p.f("  advisers: auth    %s through a TOTP second factor\n", plural(a.SecondFactorsPassed, "adviser login"))
	}
	alert := "never"
	if a.AlertAfterS != nil {
		alert = fmt.Sprintf("after %.1f s", *a.AlertAfterS)
	}
	switch {
	case a.MassReads == 0 && a.MassReadsUnjudged > 0:
		alert = "not judged, the load ended before the deadline"
	case a.MassReads == 0:
		alert = "no mass read"
	}
	p.f("  advisers: audit   %d of %s missing from the audit log; mass read alerted: %s (limit %.0f s)\n",
		a.AccessesMissingFromLog, plural(a.AccessesAudited, "access"), alert, a.AlertWithinS)
}

// Comparison compares the run with the incident it reproduces.
func Comparison(r *harness.Record) string {
	prod, ok := incidents[r.Incident]
	if !ok {
		return ""
	}
	if r.Violations == 0 || r.FirstViolationAfterRequests == nil {
		return fmt.Sprintf("incident %s: %s; here nothing leaked in %s requests", r.Incident, prod, count(r.Requests))
	}
	return fmt.Sprintf("incident %s: %s; here caught after %s requests (%.1f s), %s by the end",
		r.Incident, prod, count(*r.FirstViolationAfterRequests), *r.FirstViolationAfterS, plural(r.Victims, "victim"))
}

func during(faults []string) string {
	if len(faults) == 0 {
		return ", with no fault active"
	}
	return ", while " + strings.Join(faults, " and ") + " was active"
}

func evidenceText(w io.Writer, r *harness.Record, v evidence.Violation) error {
	p := &printer{w: w}
	p.f("oracle      %s\n", v.Oracle)
	p.f("what        %s\n", Sentence(v))
	p.f("scenario    %s (seed %d, target %s, defects: %s)\n", r.Scenario, v.Seed, r.Target, listOr(r.Defects, "none"))
	p.f("when        response #%d, %.3f s into the run\n", v.Seq, v.AtS)
	p.f("faults      %s\n", listOr(v.Faults, "none"))
	p.f("viewer      %s\nowner       user #%d\n", who(v.Viewer), v.Owner)
	p.f("request     %s\nstatus      %d\nreplica     %s\ncache       %s\n", v.Request, v.Status, orDash(v.Replica), orDash(v.Cache))
	p.f("field       %s\nvalue       %s\nwhere       %s\n", fieldName(v.Field), v.Value, v.Where)
	if v.Excerpt != "" {
		p.f("excerpt     (the foreign value between » and «)\n  %s\n", v.Excerpt)
	}
	p.f("replay      %s\n", replay(r))
	return p.err
}

// canaryLine says how strong each canary field was at this run's size: the
// chance that a value of nobody decodes to a user, how the field was
// judged, and the false violations the run's foreign values make likely.
func canaryLine(r *harness.Record) string {
	var parts []string
	total := 0.0
	for _, b := range r.Canaries {
		s := fmt.Sprintf(" %s %s (p %.1e)", b.Field, b.Mode, b.FalseMatch)
		if b.Uncorroborated > 0 {
			s += fmt.Sprintf(", %s not judged", count(b.Uncorroborated))
		}
		parts = append(parts, s)
		total += b.ExpectedFalse
	}
	return strings.Join(parts, " ·") + fmt.Sprintf(" · expected false violations %.1e", total)
}

// replay returns the command line that reproduces the run.
func replay(r *harness.Record) string {
	if r.Replay != "" {
		return r.Replay
	}
	return fmt.Sprintf("crosstalk run %s --seed %d --defects %s", r.Scenario, r.Seed, listOr(r.Defects, "none"))
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func listOr(l []string, none string) string {
	if len(l) == 0 {
		return none
	}
	return strings.Join(l, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// count formats n with thousands separators.
func count(n uint64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// plural writes n with its noun, "1 victim", "19 victims".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	if strings.HasSuffix(noun, "s") {
		return count(uint64(n)) + " " + noun + "es"
	}
	return count(uint64(n)) + " " + noun + "s"
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// coverageLine sums the coverage of the steps whose pages must show the
// viewer's own values, and names the lowest.
func coverageLine(r *harness.Record) string {
	var pages, own uint64
	low, lowShare := "", 2.0
	for _, s := range r.Steps {
		if s.OwnPages == 0 {
			continue
		}
		pages, own = pages+s.OwnPages, own+s.WithOwn
		if s.OwnShare < lowShare {
			low, lowShare = s.Step, s.OwnShare
		}
	}
	if pages == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d private pages showed the viewer's own values (%.0f%%); lowest: %s %.0f%%",
		own, pages, 100*float64(own)/float64(pages), low, 100*lowShare)
}

// workersLine describes the generators of a sharded run: how many, how
// close their starts were, and any that failed.
func workersLine(p *printer, r *harness.Record) {
	spread := "unknown"
	if r.StartSpreadMS != nil {
		spread = fmt.Sprintf("%.1f ms", *r.StartSpreadMS)
	}
	p.f("workers     %d load generators, one merged verdict; their starts spread over %s\n", r.Workers, spread)
	for _, g := range r.Generators {
		if g.Error != "" {
			p.f("worker %-4d users %s to %s: %s requests, then %s\n", g.Shard, count(uint64(g.Users[0])), count(uint64(g.Users[1]-1)), count(g.Requests), g.Error)
		}
	}
}
