package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/internal/docker"
)

// newDownCmd removes stacks left running.
func newDownCmd(stdout io.Writer) *cobra.Command {
	var run, engine string
	var all bool
	var kf kubeFlags
	c := &cobra.Command{
		Use:   "down",
		Short: "Remove the containers, networks and volumes that dead crosstalk runs left",
		Long: `Remove what crosstalk runs left behind: by default the stacks of runs whose
process is gone (killed before it could clean up); with --run ID that run's
stack, whoever started it (crosstalk up --detach prints its id); with --all
every crosstalk stack on the machine, another user's live run and detached
stacks included.`,
		Example: `  crosstalk down                         # what dead runs left
  crosstalk down --run 20261124-101500-a1b2c3   # one stack, detached or not
  crosstalk down --all                   # everything labelled crosstalk.run
  crosstalk down --engine kubernetes --namespace load   # what runs on the cluster left`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch engine {
			case "kubernetes":
				return kubeDown(cmd.Context(), &kf, run, stdout)
			case "docker":
			default:
				return harness.BadInput("--engine %q: want docker or kubernetes", engine)
			}
			cli, err := docker.NewClient(cmd.Context())
			if err != nil {
				return harness.TargetFailure(fmt.Errorf("no Docker engine: %w", err))
			}
			defer cli.Close()
			if run != "" {
				n, err := docker.Down(cmd.Context(), cli, run)
				if err != nil {
					return harness.TargetFailure(err)
				}
				fmt.Fprintf(stdout, "removed %d containers, networks and volumes of run %s\n", n, run)
				return nil
			}
			runs, n, err := docker.Sweep(cmd.Context(), cli, all)
			if err != nil {
				return harness.TargetFailure(err)
			}
			fmt.Fprintf(stdout, "removed %d containers, networks and volumes of %d runs %v\n", n, len(runs), runs)
			return nil
		},
	}
	c.Flags().StringVar(&run, "run", "", "remove this run's stack, detached or live")
	c.Flags().BoolVar(&all, "all", false, "remove every crosstalk stack, live runs' and detached ones included")
	c.Flags().StringVar(&engine, "engine", "docker", "docker (stacks of containers) or kubernetes (the Jobs, Services and ConfigMaps of runs with --engine kubernetes, in --namespace; --run ID for one)")
	kf.registerCluster(c.Flags())
	return c
}

// warnDeadRuns says, as a run on Docker starts, which dead runs left
// containers or networks behind, and how to remove them: they take memory
// and ports from the run that starts.
func warnDeadRuns(ctx context.Context, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cli, err := docker.NewClient(ctx)
	if err != nil {
		return // the run says so itself
	}
	defer cli.Close()
	runs, err := docker.DeadRuns(ctx, cli)
	if err != nil || len(runs) == 0 {
		return
	}
	fmt.Fprintf(stderr, "crosstalk: %d dead run(s) left containers behind (%s): crosstalk down removes them\n", len(runs), strings.Join(runs, ", "))
}
