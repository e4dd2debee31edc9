package reports

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// MatrixJSON writes the detection matrix as matrix.json.
func MatrixJSON(w io.Writer, m *harness.Matrix) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(m)
}

// MatrixTable writes the detection matrix as a table: a row per defect, a
// column per fault; a detected cell shows requests and seconds to the first
// detection and the victims by the end of the run.
func MatrixTable(w io.Writer, m *harness.Matrix) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "defect \\ fault\t%s\t\n", strings.Join(m.Columns, "\t"))
	for _, r := range m.Rows {
		name := r.Defect
		if name == harness.NoDefect {
			name = "none (correct portal)"
		}
		cells := []string{name}
		for _, col := range m.Columns {
			c, ok := m.Cell(r.Defect, col)
			var s string
			switch {
			case !ok:
				s = "."
			case c.Error != "":
				s = "ERROR"
			case c.Detected && r.Defect == harness.NoDefect:
				s = fmt.Sprintf("FALSE POSITIVE (%d)", c.Violations)
			case c.Detected:
				s = fmt.Sprintf("caught %dr %.1fs %dv", *c.FirstViolationAfterRequests, *c.FirstViolationAfterS, c.Victims)
			case r.Defect == harness.NoDefect:
				s = "clean"
			default:
				s = "not detected"
			}
			if ok && col == r.Trigger {
				s += " *"
			}
			cells = append(cells, s)
		}
		fmt.Fprintf(tw, "%s\t\n", strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	p := &printer{w: w}
	p.f("(* the defect's trigger; caught Nr Ts Vv: first detection after N requests and T seconds, V victims by the end; . not run)\n")
	defects := len(m.Rows) - 1
	switch {
	case m.Pass:
		p.f("PASS: %d of %d defects caught, the correct portal never flagged under %d fault schedules\n", defects, defects, len(m.Columns))
	default:
		if len(m.Missed) > 0 {
			p.f("FAIL: missed %s\n", strings.Join(m.Missed, ", "))
		}
		if len(m.FalsePositives) > 0 {
			p.f("FAIL: the correct portal was flagged under %s\n", strings.Join(m.FalsePositives, ", "))
		}
		for _, e := range m.Errors {
			p.f("ERROR: %s\n", e)
		}
	}
	return p.err
}
