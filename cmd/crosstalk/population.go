package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/reports"
)

func newPopulationCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "population",
		Short: "Work with the synthetic population",
	}
	var (
		users, advisers int
		seed, format    string
		out             string
	)
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the synthetic users, to seed your own stack with them",
		Long: `Write every synthetic user of a population (the same seed and size as your
scenario's) with its identifying data, account state and initial password:
the temporary one for accounts pending migration, its own otherwise. Import it
into the stack under test; then crosstalk recognises these users' data in any
response. Formats: csv (with a header), json (an array of objects), sql
(CREATE TABLE crosstalk_users and batched INSERTs).`,
		Example: `  crosstalk population export --users 20000 --seed 20211010 --format csv > users.csv
  crosstalk population export --users 100000 --seed 7 --format sql --out users.sql`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if !slices.Contains(population.ExportFormats, format) {
				return harness.BadInput("--format %q: want one of %s", format, strings.Join(population.ExportFormats, ", "))
			}
			s, err := population.ParseSeed(seed)
			if err != nil {
				return harness.BadInput("--seed: %v", err)
			}
			var opts []population.Option
			if advisers > 0 {
				opts = append(opts, population.WithAdvisers(advisers))
			}
			pop, err := population.New(s, users, population.DefaultMix, opts...)
			if err != nil {
				return harness.BadInput("%v", err)
			}
			if out != "" {
				return reports.WriteAtomic(out, func(w io.Writer) error { return exportWithProgress(pop, w, format, stderr) })
			}
			return exportWithProgress(pop, stdout, format, stderr)
		},
	}
	fl := export.Flags()
	fl.IntVar(&users, "users", 1000, "population size")
	fl.StringVar(&seed, "seed", "1", "seed, decimal or 0x-hex: the scenario's")
	fl.StringVar(&format, "format", "csv", "csv, json or sql")
	fl.IntVar(&advisers, "advisers", 0, "number of advisers, to export each user's adviser (0: none)")
	fl.StringVarP(&out, "out", "o", "", "file to write (default: standard output)")
	c.AddCommand(export)
	return c
}

func exportWithProgress(pop *population.Population, w io.Writer, format string, stderr io.Writer) error {
	err := pop.Export(w, format, func(done int) {
		fmt.Fprintf(stderr, "\rcrosstalk: exported %d of %d users", done, pop.Size())
	})
	if pop.Size() >= 100_000 {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return harness.TargetFailure(fmt.Errorf("export: %w", err))
	}
	return nil
}
