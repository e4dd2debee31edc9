package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/reports"
)

func newReportCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "report DIR",
		Short: "Rebuild the reports of a run that died before writing them",
		Long: `Rebuild report.json, junit.xml, summary.txt and report.html in DIR from what
a run left there when it was killed (SIGKILL, the OOM killer, a CI timeout):
the start record run.json, results.jsonl (flushed every second) and
evidence/violations.jsonl (flushed as each violation is found). The report says
"interrupted": true and names the faults that were active when the run died
and may not have been healed; crosstalk down removes a dead run's containers.
A run that wrote its report.json has its reports rendered again from it.

Exit status as for run: 0 a run that passed, 1 one with violations, 3 a killed
run with none (it has no verdict), 2 when DIR is not a run's output directory.`,
		Example: `  crosstalk report crosstalk-out/caf-2021`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A run that wrote its report is rendered again from it (a newer
			// crosstalk's HTML); one that died is rebuilt.
			rec, err := readRecord(args[0])
			if err != nil {
				if rec, err = harness.Rebuild(args[0]); err != nil {
					return err
				}
			}
			if err := reports.WriteAll(args[0], rec); err != nil {
				return harness.TargetFailure(fmt.Errorf("writing the reports to %s: %w", args[0], err))
			}
			if err := reports.Summary(stdout, rec); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "reports     %s\n", strings.Join(reports.Paths(args[0]), " "))
			switch rec.Verdict {
			case harness.VerdictPass:
				return nil
			case harness.VerdictFail:
				return errGateFailed
			}
			return harness.TargetFailure(fmt.Errorf("%s", rec.Reason))
		},
	}
}
