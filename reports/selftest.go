package reports

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// OracleTable writes the oracle's self-test as a table, one row per thing a
// page does to a value and one column per canary field, like the detection
// matrix's, and its verdict.
func OracleTable(w io.Writer, t *harness.OracleTable) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprint(tw, "page \\ field")
	for _, f := range t.Fields {
		fmt.Fprintf(tw, "\t%s", f)
	}
	fmt.Fprintln(tw)
	for _, tr := range t.Transforms {
		fmt.Fprint(tw, tr)
		for _, f := range t.Fields {
			fmt.Fprintf(tw, "\t%s", t.Cell(f, tr).State)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	caught, reach, bad := 0, 0, 0
	for _, c := range t.Cells {
		switch c.State {
		case harness.CellCaught:
			caught++
		case harness.CellOutOfReach:
			reach++
		case harness.CellMissed, harness.CellFlagged:
			bad++
		}
	}
	verdict := "PASS"
	if !t.Pass {
		verdict = "FAIL"
	}
	_, err := fmt.Fprintf(w, "%s: %d cells caught, %d missed or flagged, %d out of reach (masked values: documented), %d users\n",
		verdict, caught, bad, reach, t.Users)
	return err
}
