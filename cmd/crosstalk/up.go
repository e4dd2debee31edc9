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

// upFlags are the flags of crosstalk up.
type upFlags struct {
	users, replicas int
	seed, defects   string
	images          []string
	detach          bool
	target          string
}

// newUpCmd starts the reference stack for manual exploration.
func newUpCmd(stdout, stderr io.Writer) *cobra.Command {
	var f upFlags
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
		RunE: func(cmd *cobra.Command, args []string) error { return runUp(cmd, args, f, stdout, stderr) },
	}
	fl := c.Flags()
	fl.IntVar(&f.users, "users", 10000, "synthetic users to seed")
	fl.StringVar(&f.seed, "seed", "1", "population seed")
	fl.IntVar(&f.replicas, "replicas", embedded.DefaultReplicas, "portal replicas")
	fl.StringVar(&f.defects, "defects", "", "reference-portal defects to switch on, comma-separated")
	fl.StringArrayVar(&f.images, "image", nil, "use another image: NAME=REF, NAME one of crosstalk, redis, postgres, nginx (repeatable)")
	fl.BoolVar(&f.detach, "detach", false, "leave the stack running and return (containers)")
	fl.StringVar(&f.target, "target", "containers", "the stack to start: "+targetNames(true, true))
	return c
}

// runUp starts the stack, prints its endpoints, and waits for Ctrl-C
// unless detached.
func runUp(cmd *cobra.Command, args []string, f upFlags, stdout, stderr io.Writer) error {
	mix, defectList := population.DefaultMix, splitList(f.defects)
	if len(args) == 1 {
		sc, err := scenarios.Load(args[0])
		if err != nil {
			return err
		}
		if !cmd.Flags().Changed("seed") {
			f.seed = strconv.FormatUint(sc.Seed, 10)
		}
		if !cmd.Flags().Changed("users") {
			f.users = sc.Users
		}
		if sc.Population != (population.Mix{}) {
			mix = sc.Population
		}
		if !cmd.Flags().Changed("defects") {
			defectList = sc.Defects
		}
	}
	s, err := population.ParseSeed(f.seed)
	if err != nil {
		return harness.BadInput("--seed: %v", err)
	}
	pop, err := population.New(s, f.users, mix)
	if err != nil {
		return harness.BadInput("--users: %v", err)
	}
	set, err := portal.NewDefectSet(defectList...)
	if err != nil {
		return harness.BadInput("--defects: %v", err)
	}
	k, err := lookupTarget(f.target, true)
	if err != nil {
		return err
	}
	if f.detach && k.name != "containers" {
		return harness.BadInput("--detach goes with --target containers: the %s stack lives in this process", k.name)
	}
	stack, err := k.build(targetSpec{flags: runFlags{images: f.images, listen: "127.0.0.1:0"}, defects: set,
		replicas: f.replicas, keep: f.detach, progress: func(m string) { fmt.Fprintln(stderr, "  "+m) }})
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
	fmt.Fprintf(stdout, "stack %s up in %.1fs, %d f.users, f.seed %d, f.defects: %s\n", run, time.Since(t0).Seconds(), f.users, s, orNone(set.Names()))
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
	if f.detach {
		fmt.Fprintf(stdout, "left running: crosstalk down --run %s\n", run)
		return nil
	}
	fmt.Fprintln(stdout, "Ctrl-C stops and removes the stack")
	<-cmd.Context().Done()
	return nil
}
