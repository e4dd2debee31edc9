package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/scenarios"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
)

func newListCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the shipped scenarios, the faults and the reference portal's defects",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCENARIOS\t")
			for _, n := range scenarios.Names() {
				sc, err := scenarios.Load(n)
				if err != nil {
					return err
				}
				fmt.Fprintf(tw, "  %s\t%s\n", n, sc.Description)
			}
			fmt.Fprintln(tw, "FAULTS\t")
			for _, n := range harness.FaultTypes() {
				fmt.Fprintf(tw, "  %s\t%s\n", n, harness.FaultDoc(n))
			}
			fmt.Fprintln(tw, "DEFECTS (reference portal)\t")
			for _, d := range portal.AllDefects() {
				fmt.Fprintf(tw, "  %s\t%s (%s)\n", d.Name, d.Mechanism, d.Incident)
			}
			fmt.Fprintln(tw, "EDGE RULES (for edge-reload)\t")
			for _, n := range portal.EdgeVariants() {
				fmt.Fprintf(tw, "  %s\t\n", n)
			}
			return tw.Flush()
		},
	}
}
