package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/reports"
	"github.com/crosstalk-dev/crosstalk/scenarios"
	"github.com/crosstalk-dev/crosstalk/targets/embedded"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
	"github.com/crosstalk-dev/crosstalk/targets/reference"
)

type matrixFlags struct {
	target   string
	out      string
	duration time.Duration
	parallel int
	quick    bool
	defects  []string
	faults   []string
}

func newMatrixCmd(stdout, stderr io.Writer) *cobra.Command {
	var f matrixFlags
	c := &cobra.Command{
		Use:   "matrix",
		Short: "Run every reference-portal defect under every fault: the harness's self-test",
		Long: `Run the detection matrix: every defect of the reference portal under every
fault (and under none), and the portal with no defect under every fault. Each
cell is a full run of the matrix scenario. The gate passes when every defect is
caught and the correct portal is never flagged; the table and D/matrix.json say
for each cell whether it was caught, after how many requests and seconds, and
how many victims it made.

Exit status: 0 all caught and no false positive, 1 a defect missed or a false
positive, 2 bad input, 3 a cell could not run.`,
		Example: `  crosstalk matrix --out D
  crosstalk matrix --quick --out D                          # each defect under its trigger only
  crosstalk matrix --quick --target containers --out D      # the same on nginx, Redis, PostgreSQL (about 11 minutes)
  crosstalk matrix --defect request-state-reuse --fault none --out D   # no trigger: not detected, exit 1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMatrix(cmd, f, stdout, stderr) },
	}
	fl := c.Flags()
	fl.StringVar(&f.target, "target", "embedded", "system under test, a stack per cell: "+targetNames(true, true))
	fl.StringVarP(&f.out, "out", "o", "crosstalk-out/matrix", "directory for matrix.json and each cell's run")
	fl.DurationVar(&f.duration, "duration", 0, "length of each cell's run (default: the matrix scenario's; 12s on containers)")
	fl.IntVar(&f.parallel, "parallel", 0, "cells run at once (default: 2 embedded, 1 containers)")
	fl.BoolVar(&f.quick, "quick", false, "each defect only under its trigger and under no fault; the correct portal under every fault")
	fl.StringArrayVar(&f.defects, "defect", nil, "only this defect's row (repeatable); the correct portal's row always runs")
	fl.StringArrayVar(&f.faults, "fault", nil, `only this fault's column (repeatable; "none" for no fault)`)
	return c
}

func runMatrix(cmd *cobra.Command, f matrixFlags, stdout, stderr io.Writer) error {
	k, err := lookupTarget(f.target, true)
	if err != nil {
		return err
	}
	if f.parallel == 0 {
		f.parallel = k.matrixParallel
	}
	if f.duration == 0 {
		f.duration = k.matrixDuration
	}
	newStack := func(set portal.DefectSet) (harness.Target, error) {
		return k.build(targetSpec{defects: set, replicas: embedded.DefaultReplicas, progress: func(string) {}})
	}
	if f.parallel < 1 || f.parallel > 16 {
		return harness.BadInput("--parallel %d: want between 1 and 16", f.parallel)
	}
	base, err := scenarios.Load("matrix")
	if err != nil {
		return err
	}
	if f.duration > 0 {
		base.Duration = f.duration
	}
	reference.Complete(base)
	rows := []harness.MatrixRow{{Defect: harness.NoDefect}}
	for _, d := range matrixDefects() {
		if len(f.defects) == 0 || slices.Contains(f.defects, d.Name) {
			rows = append(rows, harness.MatrixRow{Defect: d.Name, Trigger: strings.Fields(d.Trigger)[0]})
		}
	}
	for _, d := range f.defects {
		if _, err := portal.NewDefectSet(d); err != nil {
			return harness.BadInput("--defect: %v", err)
		}
	}
	probe, err := newStack(portal.DefectSet{})
	if err != nil {
		return err
	}
	cols, err := matrixColumns(f.faults, probe)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return harness.BadInput("--out: %v", err)
	}
	spec := harness.MatrixSpec{
		Base: base, Rows: rows, Columns: cols, Quick: f.quick, Parallel: f.parallel, Out: f.out,
		NewTarget: func(defect string) (harness.Target, error) {
			var names []string
			if defect != harness.NoDefect {
				names = []string{defect}
			}
			set, err := portal.NewDefectSet(names...)
			if err != nil {
				return nil, err
			}
			return newStack(set)
		},
		Progress: func(done, total int, c harness.MatrixCell) {
			state := "clean"
			if c.Detected {
				state = "caught"
			}
			if c.Error != "" {
				state = "error: " + c.Error
			}
			fmt.Fprintf(stderr, "crosstalk: matrix %d/%d  %s under %s: %s\n", done, total, c.Defect, c.Fault, state)
		},
	}
	fmt.Fprintf(stderr, "crosstalk: matrix of %d defects (and none) under %d fault schedules, %s a cell\n", len(rows)-1, len(cols), base.Duration)
	m, runErr := harness.RunMatrix(cmd.Context(), spec)
	if m != nil {
		if err := reports.WriteAtomic(filepath.Join(f.out, "matrix.json"), func(w io.Writer) error { return reports.MatrixJSON(w, m) }); err != nil {
			return harness.TargetFailure(err)
		}
		if err := reports.MatrixTable(stdout, m); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "matrix      %s\n", filepath.Join(f.out, "matrix.json"))
	}
	switch {
	case runErr != nil:
		return runErr
	case len(m.Errors) > 0:
		return harness.TargetFailure(fmt.Errorf("%d cells could not run", len(m.Errors)))
	case !m.Pass:
		return errGateFailed
	}
	return nil
}

// matrixDefects returns the defects a fault reveals. The France Travail
// defects are revealed by journeys (a taken-over account, credential
// stuffing), not by a fault: france-travail-2024 and its tests judge them.
func matrixDefects() []portal.Defect {
	var out []portal.Defect
	for _, d := range portal.AllDefects() {
		if slices.Contains(harness.FaultTypes(), strings.Fields(d.Trigger)[0]) {
			out = append(out, d)
		}
	}
	return out
}

// matrixColumns returns a column per fault type (with its defaults, applied
// from 30% to 80% of the run) and the no-fault column, or only the named ones.
// Without names, the columns are the faults that probe, a target not
// started, can apply with their defaults (service-exec needs a command; the
// embedded stack cannot freeze a process).
func matrixColumns(only []string, probe harness.Target) ([]harness.MatrixColumn, error) {
	names := append([]string{harness.NoFault}, harness.FaultTypes()...)
	for _, n := range only {
		if !slices.Contains(names, n) {
			return nil, harness.BadInput("--fault %q: unknown fault (known: %s)", n, strings.Join(names, ", "))
		}
	}
	var cols []harness.MatrixColumn
	for _, n := range names {
		if len(only) > 0 && !slices.Contains(only, n) {
			continue
		}
		if n != harness.NoFault && len(only) == 0 {
			f, _ := harness.NewFault(n)
			if v, ok := f.(interface{ Validate() error }); ok && v.Validate() != nil {
				continue
			}
			if f.Check(probe) != nil {
				continue
			}
		}
		cols = append(cols, harness.MatrixColumn{Fault: n, Faults: faultColumn(n)})
	}
	return cols, nil
}

func faultColumn(name string) func() []harness.FaultSpec {
	return func() []harness.FaultSpec {
		if name == harness.NoFault {
			return nil
		}
		f, _ := harness.NewFault(name) // the name comes from the registry
		// The fault starts after a warm-up in which users have logged in and
		// read pages: a defect such as store-down-shared-session leaks only a
		// session a replica has already read, and on a loaded CI machine the
		// first 20% of a 4 s cell could pass before any page was served.
		return []harness.FaultSpec{{
			Type: name, Fault: f, Path: "matrix." + name,
			At: harness.When{Frac: 0.3, Set: true}, For: harness.When{Frac: 0.5, Set: true},
		}}
	}
}
