package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/targets/containers"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
)

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
	fl.StringVar(&rc.IdPPublic, "idp-public", "", "the identity provider's URL as browsers reach it (empty: no FranceConnect login)")
	fl.StringVar(&rc.IdPInternal, "idp-internal", "", "the identity provider's URL as the replica reaches it")

	var ic containers.IdPConfig
	var idpSeed, idpMix string
	idpCmd := &cobra.Command{
		Use:    "serve-idp",
		Short:  "Serve the reference OpenID Connect identity provider for a population (inside the crosstalk image)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if ic.Seed, err = population.ParseSeed(idpSeed); err != nil {
				return harness.BadInput("--seed: %v", err)
			}
			if ic.Mix, err = population.ParseMix(idpMix); err != nil {
				return harness.BadInput("--mix: %v", err)
			}
			return containers.ServeIdP(cmd.Context(), ic)
		},
	}
	ifl := idpCmd.Flags()
	ifl.StringVar(&ic.Listen, "listen", ":8080", "address to serve on")
	ifl.StringVar(&ic.Issuer, "issuer", "http://idp:8080", "the issuer of the ID tokens: the provider's URL as the portal reaches it")
	ifl.StringVar(&idpSeed, "seed", "1", "population seed")
	ifl.IntVar(&ic.Users, "users", 10000, "users")
	ifl.StringVar(&idpMix, "mix", "0.3,0.5,0.2", "state mix: legacy,migration_pending,migrated")

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
	return []*cobra.Command{replica, idpCmd, toxi, seedCmd}
}
