package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/internal/docker"
)

// newDownCmd removes stacks left running.
func newDownCmd(stdout io.Writer) *cobra.Command {
	var run string
	c := &cobra.Command{
		Use:   "down",
		Short: "Remove every container, network and volume crosstalk started",
		Long: `Remove every container, network and volume labelled crosstalk.run (those of
one run with --run ID), whatever started them: crosstalk up --detach, or a run
killed before it could clean up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cli, err := docker.NewClient(cmd.Context())
			if err != nil {
				return harness.TargetFailure(fmt.Errorf("no Docker engine: %w", err))
			}
			defer cli.Close()
			n, err := docker.Down(cmd.Context(), cli, run)
			if err != nil {
				return harness.TargetFailure(err)
			}
			fmt.Fprintf(stdout, "removed %d containers, networks and volumes labelled %s\n", n, docker.Label)
			return nil
		},
	}
	c.Flags().StringVar(&run, "run", "", "remove only this run's stack (default: every crosstalk stack)")
	return c
}
