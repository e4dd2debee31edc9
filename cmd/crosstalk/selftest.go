package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/reports"
)

func newSelftestCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "selftest",
		Short: "Check that the oracle reads every canary whatever a page does to it",
		Long: `Run the oracle's own table of encodings: for each canary field (NIR, IBAN,
e-mail, phone) and each thing a real page does to a value (separators,
no-break spaces, HTML entities, JSON escapes, case, a Location header, a
cookie, gzip, deflate, br, zstd, chunked transfer, inline tags, a wrapped
line), one foreign value is planted in a realistic page, served over HTTP on
127.0.0.1 and received through crosstalk's own transport: it must be caught,
and the same page with the viewer's own values only must be clean.

Exit status: 0 every cell caught (or documented out of reach), 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := harness.OracleSelfTest(cmd.Context())
			if err != nil {
				return harness.TargetFailure(err)
			}
			if err := reports.OracleTable(stdout, t); err != nil {
				return err
			}
			if !t.Pass {
				return errGateFailed
			}
			return nil
		},
	}
}
