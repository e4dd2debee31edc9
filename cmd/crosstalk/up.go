package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/scenarios"
	"github.com/crosstalk-dev/crosstalk/targets/embedded"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
)

// newUpCmd starts the container stack for manual exploration.
func newUpCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		users, replicas int
		seed, defects   string
		images          []string
		detach          bool
		target          string
	)
	c := &cobra.Command{
		Use:   "up",
		Short: "Start the reference stack and print its endpoints",
		Long: `Start the reference stack in containers (nginx edge, portal replicas, Redis,
PostgreSQL, Toxiproxy) seeded with a synthetic population, print every
service's address on 127.0.0.1, and keep it up until Ctrl-C, which removes it.
With --detach the stack stays up; crosstalk down removes it. --target embedded
starts the same portal in this process instead, with no Docker.`,
		Example: `  crosstalk up --users 1000
  crosstalk up caf-2021 --detach     # the scenario's population and defects
  crosstalk run caf-2021 --target url --base-url http://127.0.0.1:PORT   # load it by hand
  crosstalk down`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mix, defectList := population.DefaultMix, splitList(defects)
			if len(args) == 1 {
				sc, err := scenarios.Load(args[0])
				if err != nil {
					return err
				}
				if !cmd.Flags().Changed("seed") {
					seed = strconv.FormatUint(sc.Seed, 10)
				}
				if !cmd.Flags().Changed("users") {
					users = sc.Users
				}
				if sc.Population != (population.Mix{}) {
					mix = sc.Population
				}
				if !cmd.Flags().Changed("defects") {
					defectList = sc.Defects
				}
			}
			s, err := population.ParseSeed(seed)
			if err != nil {
				return harness.BadInput("--seed: %v", err)
			}
			pop, err := population.New(s, users, mix)
			if err != nil {
				return harness.BadInput("--users: %v", err)
			}
			set, err := portal.NewDefectSet(defectList...)
			if err != nil {
				return harness.BadInput("--defects: %v", err)
			}
			k, err := lookupTarget(target, true)
			if err != nil {
				return err
			}
			if detach && k.name != "containers" {
				return harness.BadInput("--detach goes with --target containers: the %s stack lives in this process", k.name)
			}
			stack, err := k.build(targetSpec{flags: runFlags{images: images, listen: "127.0.0.1:0"}, defects: set,
				replicas: replicas, keep: detach, progress: func(m string) { fmt.Fprintln(stderr, "  "+m) }})
			if err != nil {
				return err
			}
			t0 := time.Now()
			base, err := stack.Start(cmd.Context(), pop)
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_ = stack.Stop(ctx)
			}()
			if err != nil {
				return harness.TargetFailure(err)
			}
			run := stack.Name()
			if r, ok := stack.(interface{ RunID() string }); ok {
				run = r.RunID()
			}
			fmt.Fprintf(stdout, "stack %s up in %.1fs, %d users, seed %d, defects: %s\n", run, time.Since(t0).Seconds(), users, s, orNone(set.Names()))
			var eps map[string]string
			if e, ok := stack.(interface{ Endpoints() map[string]string }); ok {
				eps = e.Endpoints()
			}
			names := make([]string, 0, len(eps))
			for n := range eps {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(stdout, "  %-10s %s\n", n, eps[n])
			}
			fmt.Fprintf(stdout, "portal      %s/login  (try: crosstalk population export --users 5 --seed %d)\n", base, s)
			if detach {
				fmt.Fprintf(stdout, "left running: crosstalk down --run %s\n", run)
				return nil
			}
			fmt.Fprintln(stdout, "Ctrl-C stops and removes the stack")
			<-cmd.Context().Done()
			return nil
		},
	}
	fl := c.Flags()
	fl.IntVar(&users, "users", 10000, "synthetic users to seed")
	fl.StringVar(&seed, "seed", "1", "population seed")
	fl.IntVar(&replicas, "replicas", embedded.DefaultReplicas, "portal replicas")
	fl.StringVar(&defects, "defects", "", "reference-portal defects to switch on, comma-separated")
	fl.StringArrayVar(&images, "image", nil, "use another image: NAME=REF, NAME one of crosstalk, redis, postgres, nginx (repeatable)")
	fl.BoolVar(&detach, "detach", false, "leave the stack running and return (containers)")
	fl.StringVar(&target, "target", "containers", "the stack to start: "+targetNames(true, true))
	return c
}
