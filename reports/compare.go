package reports

import (
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// RunDiff is a run set beside a baseline run: every figure with its
// change, and the regressions that break the tolerance.
type RunDiff struct {
	Base, New *harness.Record
	Rows      []CompareRow
	// Breaches are the rows that regressed beyond the tolerance, as gate
	// limits (a JUnit case each).
	Breaches []harness.ThresholdResult
}

// CompareRow is one figure of both runs.
type CompareRow struct {
	Name      string
	Base, New float64
	Unit      string // "ms", "%", "rps" or "" (a count)
	Change    string
	Regressed bool
	Limit     string  // the tolerance, when one applies, in words
	Tol       float64 // the tolerance: relative for ms and rps, absolute for %
}

// Delta is the change the tolerance is judged on: relative for latency and
// throughput, absolute for rates.
func (r CompareRow) Delta() float64 {
	switch r.Unit {
	case "ms", "rps":
		if r.Base == 0 {
			return 0
		}
		d := (r.New - r.Base) / r.Base
		if r.Unit == "rps" {
			d = -d // a drop
		}
		return d
	case "%":
		if r.Name == "login success" {
			return r.Base - r.New
		}
		return r.New - r.Base
	}
	return r.New - r.Base
}

// SameRun says why two records cannot be compared (another scenario or
// seed: their users and requests differ), or "".
func SameRun(base, next *harness.Record) string {
	switch {
	case base.Scenario != next.Scenario:
		return fmt.Sprintf("the runs are of different scenarios (%s, %s)", base.Scenario, next.Scenario)
	case base.Seed != next.Seed:
		return fmt.Sprintf("the runs have different seeds (%d, %d): their users and requests differ", base.Seed, next.Seed)
	}
	return ""
}

// Compare sets next beside base under tol (nil: next's own, or base's):
// throughput, error rate, login success, latency overall and by step, and
// violations by oracle. A violation base did not have is always a
// regression.
func Compare(base, next *harness.Record, tol *harness.Regression) *RunDiff {
	if tol == nil {
		tol = next.Regression
	}
	if tol == nil {
		tol = base.Regression
	}
	if tol == nil {
		tol = &harness.Regression{}
	}
	floor := harness.DefaultRegressionMinMs
	if tol.MinMs != nil {
		floor = *tol.MinMs
	}
	c := &RunDiff{Base: base, New: next}
	add := func(r CompareRow) { c.Rows = append(c.Rows, r) }
	breach := func(r *CompareRow, limit float64) {
		r.Regressed = true
		c.Breaches = append(c.Breaches, harness.ThresholdResult{Name: "regression " + r.Name, Limit: limit, Value: r.Delta()})
	}

	tp := CompareRow{Name: "throughput", Base: base.ThroughputRPS, New: next.ThroughputRPS, Unit: "rps", Change: relative(base.ThroughputRPS, next.ThroughputRPS)}
	if t := tol.Throughput; t != nil {
		tp.Limit, tp.Tol = fmt.Sprintf("drop ≤ %.4g%%", float64(*t)*100), float64(*t)
		if next.ThroughputRPS < base.ThroughputRPS*(1-float64(*t)) {
			breach(&tp, float64(*t))
		}
	}
	add(tp)
	er := CompareRow{Name: "error rate", Base: rate(base.Errors, base.Requests), New: rate(next.Errors, next.Requests), Unit: "%"}
	er.Change = points(er.Base, er.New)
	if t := tol.ErrorRate; t != nil {
		er.Limit, er.Tol = fmt.Sprintf("rise ≤ %.4g pt", *t*100), *t
		if er.New-er.Base > *t {
			breach(&er, *t)
		}
	}
	add(er)
	ls := CompareRow{Name: "login success", Base: rate(base.Logins.Succeeded, base.Logins.Attempted), New: rate(next.Logins.Succeeded, next.Logins.Attempted), Unit: "%"}
	ls.Change = points(ls.Base, ls.New)
	if t := tol.LoginSuccess; t != nil {
		ls.Limit, ls.Tol = fmt.Sprintf("drop ≤ %.4g pt", *t*100), *t
		if ls.Base-ls.New > *t {
			breach(&ls, *t)
		}
	}
	add(ls)

	latency := func(name string, b, n float64, t *harness.Fraction) {
		r := CompareRow{Name: name, Base: b, New: n, Unit: "ms", Change: relative(b, n)}
		if t != nil {
			r.Limit, r.Tol = fmt.Sprintf("rise ≤ %.4g%% (or < %.4g ms)", float64(*t)*100, floor), float64(*t)
			if n > b*(1+float64(*t)) && n-b >= floor {
				breach(&r, float64(*t))
			}
		}
		add(r)
	}
	latency("p50", base.LatencyMS.P50, next.LatencyMS.P50, tol.P50)
	latency("p99", base.LatencyMS.P99, next.LatencyMS.P99, tol.P99)
	for _, s := range next.Steps {
		for _, b := range base.Steps {
			if b.Step == s.Step {
				latency(s.Step+" p50", b.LatencyMS.P50, s.LatencyMS.P50, tol.P50)
				latency(s.Step+" p99", b.LatencyMS.P99, s.LatencyMS.P99, tol.P99)
			}
		}
	}
	for _, o := range harness.Oracles {
		b, n := base.ViolationsByOracle[o], next.ViolationsByOracle[o]
		r := CompareRow{Name: "violations " + o, Base: float64(b), New: float64(n), Limit: "none new"}
		switch {
		case n > 0 && b == 0:
			r.Change = "new"
			breach(&r, 0)
		case n > b:
			r.Change = fmt.Sprintf("+%d", n-b)
		case n < b:
			r.Change = fmt.Sprintf("-%d", b-n)
		}
		add(r)
	}
	return c
}

// Regressed reports whether any figure broke the tolerance.
func (c *RunDiff) Regressed() bool { return len(c.Breaches) > 0 }

func rate(n, of uint64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func relative(b, n float64) string {
	if b == 0 {
		if n == 0 {
			return "="
		}
		return "new"
	}
	d := (n - b) / b * 100
	if math.Abs(d) < 0.05 {
		return "="
	}
	return fmt.Sprintf("%+.1f%%", d)
}

func points(b, n float64) string {
	d := (n - b) * 100
	if math.Abs(d) < 0.005 {
		return "="
	}
	return fmt.Sprintf("%+.2f pt", d)
}

func (r CompareRow) value(v float64) string {
	switch r.Unit {
	case "%":
		return fmt.Sprintf("%.2f%%", v*100)
	case "ms":
		return fmt.Sprintf("%.2f ms", v)
	case "rps":
		return fmt.Sprintf("%.1f/s", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// CompareText writes the comparison side by side, then its verdict.
func CompareText(w io.Writer, c *RunDiff) error {
	fmt.Fprintf(w, "compare     %s · seed %d · base %s (%s, %s) → new %s (%s, %s)\n", c.New.Scenario, c.New.Seed,
		c.Base.StartedAt.Format("2006-01-02 15:04"), c.Base.Target, orNone(c.Base.Defects),
		c.New.StartedAt.Format("2006-01-02 15:04"), c.New.Target, orNone(c.New.Defects))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\tbase\tnew\tchange\ttolerance\t")
	for _, r := range c.Rows {
		mark := ""
		if r.Regressed {
			mark = "REGRESSION"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.value(r.Base), r.value(r.New), r.Change, r.Limit, mark)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var err error
	if c.Regressed() {
		_, err = fmt.Fprintf(w, "REGRESSED: %d of %d figures are worse than the baseline allows\n", len(c.Breaches), len(c.Rows))
	} else {
		_, err = fmt.Fprintln(w, "no regression against the baseline")
	}
	return err
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "defects: none"
	}
	return "defects: " + fmt.Sprint(l)
}
