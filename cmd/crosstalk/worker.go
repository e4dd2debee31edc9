package main

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/workers"
)

// newWorkerCmd is one load generator of a run on several: what a pod of the
// Indexed Job runs, and what --workers starts on this machine.
func newWorkerCmd(stderr io.Writer) *cobra.Command {
	var coordinator string
	var shard int
	c := &cobra.Command{
		Use:   "worker",
		Short: "Drive one shard of a run for its coordinator (what --workers starts; a pod of the Kubernetes Job)",
		Long: `Drive one shard of a run on several load generators: fetch the assignment from
the coordinator, wait for its start, drive the shard's users at its part of the
rate, and stream every result and violation back. The shard comes from
$` + workers.EnvIndex + ` (as Kubernetes gives it to a pod of an Indexed Job) or --shard,
the coordinator's URL from $` + workers.EnvCoordinator + ` or --coordinator.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("shard") {
				v, ok := os.LookupEnv(workers.EnvIndex)
				if !ok {
					return harness.BadInput("no shard: set $%s or --shard", workers.EnvIndex)
				}
				var err error
				if shard, err = strconv.Atoi(v); err != nil || shard < 0 {
					return harness.BadInput("$%s=%q: want a shard index, 0 or more", workers.EnvIndex, v)
				}
			}
			if coordinator == "" {
				coordinator = os.Getenv(workers.EnvCoordinator)
			}
			if coordinator == "" {
				return harness.BadInput("no coordinator: set $%s or --coordinator", workers.EnvCoordinator)
			}
			return workers.Work(cmd.Context(), coordinator, shard, func(s string) { fmt.Fprintln(stderr, "crosstalk: "+s) })
		},
	}
	c.Flags().StringVar(&coordinator, "coordinator", "", "the coordinator's URL (default $"+workers.EnvCoordinator+")")
	c.Flags().IntVar(&shard, "shard", 0, "the shard to drive, from 0 (default $"+workers.EnvIndex+")")
	return c
}
