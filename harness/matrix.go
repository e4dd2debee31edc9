package harness

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
)

// The detection matrix is crosstalk's self-test: every defect of the
// reference portal is run under every fault, and so is the portal with no
// defect. Each defect must be caught, and the correct portal must never be
// flagged: a harness that says "no leak" is only worth something if it is
// known to catch leaks.

// NoDefect and NoFault name the matrix's control row and column.
const (
	NoDefect = "none"
	NoFault  = "none"
)

// MatrixRow is a defect and the fault that reveals it.
type MatrixRow struct {
	Defect  string `json:"defect"`
	Trigger string `json:"trigger,omitempty"`
}

// MatrixColumn is a fault schedule every row runs under. Faults builds a
// fresh schedule for each cell: faults keep state between apply and heal,
// and cells run in parallel.
type MatrixColumn struct {
	Fault  string
	Faults func() []FaultSpec
}

// MatrixSpec says which cells to run and how.
type MatrixSpec struct {
	// Base is the load every cell runs; its own faults and defects are
	// replaced by the cell's.
	Base    *Scenario
	Rows    []MatrixRow
	Columns []MatrixColumn
	// Quick runs each defect only under its trigger (and under no fault,
	// the control), and the correct portal under every fault.
	Quick bool
	// NewTarget returns a fresh target with the defect switched on (none
	// for NoDefect).
	NewTarget func(defect string) (Target, error)
	// Parallel is how many cells run at once (0: 1).
	Parallel int
	// Out receives one directory of run output per cell.
	Out string
	// Progress, if set, is called after each cell.
	Progress func(done, total int, c MatrixCell)
}

// MatrixCell is one run of a defect under a fault.
type MatrixCell struct {
	Defect                      string   `json:"defect"`
	Fault                       string   `json:"fault"`
	Detected                    bool     `json:"detected"`
	Violations                  uint64   `json:"violations"`
	FirstViolationAfterRequests *uint64  `json:"first_violation_after_requests"`
	FirstViolationAfterS        *float64 `json:"first_violation_after_s"`
	Victims                     int      `json:"victims"`
	Requests                    uint64   `json:"requests"`
	Verdict                     string   `json:"verdict"`
	Error                       string   `json:"error,omitempty"`
}

// Matrix is the outcome of a detection matrix.
type Matrix struct {
	Pass           bool         `json:"pass"`
	Rows           []MatrixRow  `json:"rows"`
	Columns        []string     `json:"columns"`
	Cells          []MatrixCell `json:"cells"`
	Missed         []string     `json:"missed"`          // defects detected under no fault
	FalsePositives []string     `json:"false_positives"` // faults under which the correct portal was flagged
	Errors         []string     `json:"errors"`          // cells that could not run
}

// Cell returns the cell of defect under fault, if it ran.
func (m *Matrix) Cell(defect, fault string) (MatrixCell, bool) {
	for _, c := range m.Cells {
		if c.Defect == defect && c.Fault == fault {
			return c, true
		}
	}
	return MatrixCell{}, false
}

// RunMatrix runs the matrix's cells, each a full run with its own target.
func RunMatrix(ctx context.Context, spec MatrixSpec) (*Matrix, error) {
	type job struct {
		row MatrixRow
		col MatrixColumn
	}
	var jobs []job
	for _, r := range spec.Rows {
		for _, c := range spec.Columns {
			if spec.Quick && r.Defect != NoDefect && c.Fault != r.Trigger && c.Fault != NoFault {
				continue
			}
			jobs = append(jobs, job{r, c})
		}
	}
	m := &Matrix{Rows: spec.Rows, Missed: []string{}, FalsePositives: []string{}, Errors: []string{}}
	for _, c := range spec.Columns {
		m.Columns = append(m.Columns, c.Fault)
	}
	par := max(spec.Parallel, 1)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		sem  = make(chan struct{}, par)
		done int
	)
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(j job) {
			defer wg.Done()
			defer func() { <-sem }()
			cell := runCell(ctx, spec, j.row, j.col)
			mu.Lock()
			m.Cells = append(m.Cells, cell)
			done++
			if spec.Progress != nil {
				spec.Progress(done, len(jobs), cell)
			}
			mu.Unlock()
		}(j)
	}
	wg.Wait()
	order := map[string]int{}
	for i, c := range m.Columns {
		order[c] = i
	}
	rowOrder := map[string]int{}
	for i, r := range spec.Rows {
		rowOrder[r.Defect] = i
	}
	sort.Slice(m.Cells, func(a, b int) bool {
		ca, cb := m.Cells[a], m.Cells[b]
		if ca.Defect != cb.Defect {
			return rowOrder[ca.Defect] < rowOrder[cb.Defect]
		}
		return order[ca.Fault] < order[cb.Fault]
	})
	// A defect counts as caught only under its trigger: a detection in
	// another cell is a different mechanism, or the trigger's leftovers,
	// and would hide a trigger that no longer reveals the defect.
	trigger := map[string]string{}
	for _, r := range spec.Rows {
		trigger[r.Defect] = r.Trigger
	}
	detected := map[string]bool{}
	for _, c := range m.Cells {
		if c.Error != "" {
			m.Errors = append(m.Errors, fmt.Sprintf("%s under %s: %s", c.Defect, c.Fault, c.Error))
		}
		if c.Detected {
			if t := trigger[c.Defect]; t == "" || t == c.Fault {
				detected[c.Defect] = true
			}
			if c.Defect == NoDefect {
				m.FalsePositives = append(m.FalsePositives, c.Fault)
			}
		}
	}
	for _, r := range spec.Rows {
		if r.Defect != NoDefect && !detected[r.Defect] {
			m.Missed = append(m.Missed, r.Defect)
		}
	}
	m.Pass = len(m.Missed) == 0 && len(m.FalsePositives) == 0 && len(m.Errors) == 0
	if err := ctx.Err(); err != nil {
		m.Pass = false
		return m, TargetFailure(fmt.Errorf("matrix interrupted: %w", err))
	}
	return m, nil
}

func runCell(ctx context.Context, spec MatrixSpec, row MatrixRow, col MatrixColumn) MatrixCell {
	cell := MatrixCell{Defect: row.Defect, Fault: col.Fault, Verdict: VerdictError}
	sc := *spec.Base
	sc.Name = spec.Base.Name + "/" + row.Defect + "/" + col.Fault
	sc.Faults = col.Faults()
	sc.Defects = nil
	if row.Defect != NoDefect {
		sc.Defects = []string{row.Defect}
	}
	t, err := spec.NewTarget(row.Defect)
	if err != nil {
		cell.Error = err.Error()
		return cell
	}
	rec, err := Run(ctx, &sc, t, Options{Out: filepath.Join(spec.Out, row.Defect, col.Fault), Defects: sc.Defects})
	if rec != nil {
		cell.Violations, cell.Victims, cell.Requests, cell.Verdict = rec.Violations, rec.Victims, rec.Requests, rec.Verdict
		cell.FirstViolationAfterRequests, cell.FirstViolationAfterS = rec.FirstViolationAfterRequests, rec.FirstViolationAfterS
		cell.Detected = rec.Violations > 0
	}
	if err != nil {
		cell.Error = err.Error()
	}
	return cell
}
