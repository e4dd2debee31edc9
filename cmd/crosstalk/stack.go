package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/testcontainers/testcontainers-go"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/scenarios"
	"github.com/crosstalk-dev/crosstalk/targets/containers"
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
	)
	c := &cobra.Command{
		Use:   "up",
		Short: "Start the reference stack in containers and print its endpoints",
		Long: `Start the reference stack in containers (nginx edge, portal replicas, Redis,
PostgreSQL, Toxiproxy) seeded with a synthetic population, print every
service's address on 127.0.0.1, and keep it up until Ctrl-C, which removes it.
With --detach the stack stays up; crosstalk down removes it.`,
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
			opts := []containers.Option{containers.WithReplicas(replicas), containers.WithDefects(set),
				containers.WithProgress(func(m string) { fmt.Fprintln(stderr, "  "+m) })}
			im, err := imagesFrom(images)
			if err != nil {
				return err
			}
			opts = append(opts, containers.WithImages(im))
			if detach {
				opts = append(opts, containers.WithKeep())
			}
			stack := containers.New(opts...)
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
			fmt.Fprintf(stdout, "stack %s up in %.1fs, %d users, seed %d, defects: %s\n", stack.RunID(), time.Since(t0).Seconds(), users, s, orNone(set.Names()))
			eps := stack.Endpoints()
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
				fmt.Fprintf(stdout, "left running: crosstalk down --run %s\n", stack.RunID())
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
	fl.BoolVar(&detach, "detach", false, "leave the stack running and return")
	return c
}

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
			cli, err := testcontainers.NewDockerClientWithOpts(cmd.Context())
			if err != nil {
				return harness.TargetFailure(fmt.Errorf("no Docker engine: %w", err))
			}
			defer cli.Close()
			n, err := containers.DownCount(cmd.Context(), cli, run)
			if err != nil {
				return harness.TargetFailure(err)
			}
			fmt.Fprintf(stdout, "removed %d containers, networks and volumes labelled %s\n", n, containers.Label)
			return nil
		},
	}
	c.Flags().StringVar(&run, "run", "", "remove only this run's stack (default: every crosstalk stack)")
	return c
}

// newServeCmd holds the programs of the crosstalk image, hidden from help.
func newServeCmds() []*cobra.Command {
	var rc containers.ReplicaConfig
	var defects string
	replica := &cobra.Command{
		Use:    "serve-replica",
		Short:  "Serve one reference-portal replica on Redis and PostgreSQL (inside the crosstalk image)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc.Defects = splitList(defects)
			return containers.ServeReplica(cmd.Context(), rc)
		},
	}
	fl := replica.Flags()
	fl.StringVar(&rc.Listen, "listen", ":8080", "address to serve on")
	fl.StringVar(&rc.Name, "name", "r1", "replica name")
	fl.StringVar(&rc.Sessions, "sessions", "redis:6379", "session store (Redis) host:port")
	fl.StringVar(&rc.Accounts, "accounts", "postgres://postgres@postgres:5432/postgres?sslmode=disable", "account store (PostgreSQL) DSN")
	fl.StringVar(&defects, "defects", "", "defects, comma-separated")
	fl.StringVar(&rc.Release, "release", portal.V1, "release to run (v1, v2)")

	var listen string
	toxi := &cobra.Command{
		Use:    "serve-toxiproxy",
		Short:  "Run a Toxiproxy server (inside the crosstalk image)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return containers.ServeToxiproxy(cmd.Context(), listen)
		},
	}
	toxi.Flags().StringVar(&listen, "listen", ":8474", "address of the Toxiproxy API")

	var dsn, seedFlag, mixFlag string
	var users int
	seedCmd := &cobra.Command{
		Use:    "seed-accounts",
		Short:  "Load the synthetic population into the reference portal's PostgreSQL (inside the crosstalk image)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			seed, err := population.ParseSeed(seedFlag)
			if err != nil {
				return harness.BadInput("--seed: %v", err)
			}
			mix, err := population.ParseMix(mixFlag)
			if err != nil {
				return harness.BadInput("--mix: %v", err)
			}
			if err := containers.SeedAccounts(cmd.Context(), dsn, seed, users, mix); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "seeded %d accounts (seed %d)\n", users, seed)
			return nil
		},
	}
	sf := seedCmd.Flags()
	sf.StringVar(&dsn, "dsn", "postgres://postgres@postgres:5432/postgres?sslmode=disable", "PostgreSQL DSN")
	sf.StringVar(&seedFlag, "seed", "1", "population seed")
	sf.IntVar(&users, "users", 10000, "users")
	sf.StringVar(&mixFlag, "mix", "0.3,0.5,0.2", "state mix: legacy,migration_pending,migrated")
	return []*cobra.Command{replica, toxi, seedCmd}
}

func imagesFrom(specs []string) (containers.Images, error) {
	im := containers.DefaultImages()
	for _, s := range specs {
		if err := im.Set(s); err != nil {
			return im, harness.BadInput("--image %v", err)
		}
	}
	return im, nil
}

func splitList(s string) []string {
	var out []string
	for _, d := range strings.Split(s, ",") {
		if d = strings.TrimSpace(d); d != "" && d != "none" {
			out = append(out, d)
		}
	}
	return out
}

// stackProgress prints the container stack's progress unless quiet.
func stackProgress(quiet bool, w io.Writer) func(string) {
	if quiet {
		return func(string) {}
	}
	return func(m string) { fmt.Fprintln(w, "  "+m) }
}
