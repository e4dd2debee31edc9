package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/reports"
)

func newCompareCmd(stdout io.Writer) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "compare BASE_DIR NEW_DIR",
		Short: "Set a run beside a baseline run and gate on regressions",
		Long: `Compare two runs' reports (their --out directories): throughput, error rate,
login success, latency p50 and p99 overall and by step, and violations by
oracle, each with its change. The new run's scenario may declare how much worse
it may be (thresholds.regression: {p99: 20%, error_rate: 0.01}); a violation
the baseline did not have is always a regression.

Exit status: 0 no regression, 1 a regression, 2 the runs cannot be compared
(another scenario or seed, unless --force) or a report is missing.`,
		Example: `  crosstalk compare out/release-41 out/release-42
  crosstalk run caf-2021 --out out/new --baseline out/release-41   # the same, at the end of a run`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			base, err := readRecord(args[0])
			if err != nil {
				return err
			}
			next, err := readRecord(args[1])
			if err != nil {
				return err
			}
			if why := reports.SameRun(base, next); why != "" && !force {
				return harness.BadInput("%s and %s: %s (--force compares them anyway)", args[0], args[1], why)
			}
			cmp := reports.Compare(base, next, nil)
			if err := reports.CompareText(stdout, cmp); err != nil {
				return err
			}
			if cmp.Regressed() {
				return errGateFailed
			}
			return nil
		},
	}
	c.Flags().BoolVar(&force, "force", false, "compare runs of different scenarios or seeds")
	return c
}

// readRecord reads the report.json of a run's output directory.
func readRecord(dir string) (*harness.Record, error) {
	path := filepath.Join(dir, "report.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, harness.BadInput("%s: no report here (crosstalk report %s rebuilds one from what a killed run left)", path, dir)
	}
	if err != nil {
		return nil, harness.BadInput("%v", err)
	}
	var r harness.Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, harness.BadInput("%s: not a crosstalk report: %v", path, err)
	}
	if r.Scenario == "" {
		return nil, harness.BadInput("%s: not a crosstalk report (no scenario)", path)
	}
	return &r, nil
}

// judgeBaseline sets rec beside the baseline run base: each figure with a
// tolerance becomes a limit of the gate (a JUnit case), and a regression
// fails it. It returns the comparison, to print after the summary.
func judgeBaseline(base *harness.Record, dir string, rec *harness.Record) (*reports.RunDiff, error) {
	if why := reports.SameRun(base, rec); why != "" {
		return nil, harness.BadInput("--baseline %s: %s", dir, why)
	}
	cmp := reports.Compare(base, rec, nil)
	for _, r := range cmp.Rows {
		if r.Limit != "" && r.Unit != "" { // violations are the oracles' own cases
			rec.Thresholds = append(rec.Thresholds, harness.ThresholdResult{Name: "regression " + r.Name, Limit: r.Tol, Value: r.Delta(), Pass: !r.Regressed})
		}
	}
	if cmp.Regressed() && rec.Verdict == harness.VerdictPass {
		rec.Verdict, rec.Reason = harness.VerdictFail, fmt.Sprintf("regressed against the baseline %s: %d of %d figures", dir, len(cmp.Breaches), len(cmp.Rows))
	}
	return cmp, nil
}
