package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/population"
	"github.com/crosstalk-dev/crosstalk/metrics"
	"github.com/crosstalk-dev/crosstalk/reports"
	"github.com/crosstalk-dev/crosstalk/scenarios"
	"github.com/crosstalk-dev/crosstalk/targets/embedded"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
	"github.com/crosstalk-dev/crosstalk/targets/reference"
	"github.com/crosstalk-dev/crosstalk/workers"
	"github.com/crosstalk-dev/crosstalk/workers/dockerengine"
)

type runFlags struct {
	target      string
	out         string
	seed        string
	duration    time.Duration
	rate        float64
	users       int
	defect      []string
	defects     string
	listen      string
	replicas    int
	maxRequests uint64
	timeout     time.Duration
	quiet       bool
	baseURL     string
	allowHosts  []string
	faults      string
	images      []string
	composeFile string
	entry       string
	caFile      string
	insecure    bool
	http        string
	// shutdownBudget bounds the time from Ctrl-C or SIGTERM to exit.
	shutdownBudget time.Duration
	metricsAddr    string
	baseline       string
	// A run on several load generators.
	workers           int
	engine            string
	coordinatorListen string
	coordinatorURL    string
	kube              kubeFlags
	// serveReports, in the coordinator's pod, hands the exit status and
	// the reports over for this long after the run.
	serveReports time.Duration
}

func newRunCmd(stdout, stderr io.Writer) *cobra.Command {
	var f runFlags
	c := &cobra.Command{
		Use:   "run SCENARIO",
		Short: "Run a scenario and gate on its verdict",
		Long: `Run a scenario: seed the target with a synthetic population, log the users in
at the scenario's rate, apply and heal its faults, check every response, and
write the reports to --out. SCENARIO is a YAML file or the name of a shipped
scenario (see crosstalk list).

Exit status: 0 the gate passed, 1 it failed (a violation or a threshold), 2 bad
input, 3 the harness or the target could not run; a violation is exit 1 even
when something else went wrong too. Ctrl-C or SIGTERM stops the load, heals the
faults, writes the report of what ran and stops the target, within
--shutdown-budget; a second signal quits at once.`,
		Example: `  crosstalk run scenarios/caf-2021.yaml --out out/caf --duration 15s
  crosstalk run caf-2021 --defects none          # the same schedule, a correct portal
  crosstalk run scenarios/smoke.yaml --rate 500 --users 5000`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := runScenario(cmd, args[0], f, stdout, stderr)
			if f.serveReports > 0 {
				serveReports(cmd.Context(), f.coordinatorListen, outDir(f.out, args[0]), exitCode(err), f.serveReports, stderr)
			}
			return err
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.target, "target", "embedded", "system under test: "+targetNames(false, true))
	fl.StringVar(&f.composeFile, "compose-file", "", "compose target: the Docker Compose file of the stack to start")
	fl.StringVar(&f.entry, "entry", "", "compose target: SERVICE:PORT the load goes to, a container port the file publishes on 127.0.0.1")
	fl.StringArrayVar(&f.images, "image", nil, "containers target: use another image, NAME=REF, NAME one of crosstalk, redis, postgres, nginx (repeatable)")
	fl.StringVar(&f.baseURL, "base-url", "", "url target: the running stack's base URL, loopback unless --allow-host")
	fl.StringArrayVar(&f.allowHosts, "allow-host", nil, "let the load go to this non-loopback host (repeatable); never needed for 127.0.0.1")
	fl.StringVar(&f.faults, "faults", "", `"none" drops the scenario's fault schedule (for a target that supports none of its faults)`)
	fl.StringVarP(&f.out, "out", "o", "", "directory for the reports (default crosstalk-out/SCENARIO)")
	fl.StringVar(&f.seed, "seed", "", "run seed, decimal or 0x-hex (default: the scenario's)")
	fl.DurationVar(&f.duration, "duration", 0, "length of the load; fault times given in % scale with it (default: the scenario's)")
	fl.Float64Var(&f.rate, "rate", 0, "peak request rate per second; the profile is scaled to it (default: the scenario's)")
	fl.IntVar(&f.users, "users", 0, "number of synthetic users (default: the scenario's)")
	fl.StringArrayVar(&f.defect, "defect", nil, "switch a reference-portal defect on (repeatable; see crosstalk list)")
	fl.StringVar(&f.defects, "defects", "", `reference-portal defects, replacing the scenario's: "none" or a comma-separated list`)
	fl.StringVar(&f.listen, "listen", embedded.DefaultListen, "embedded target: loopback address of the edge (port 0: any free port)")
	fl.IntVar(&f.replicas, "replicas", 0, fmt.Sprintf("embedded target: portal replicas (default: the scenario's, or %d)", embedded.DefaultReplicas))
	fl.Uint64Var(&f.maxRequests, "max-requests", 0, fmt.Sprintf("stop after this many requests (default: the scenario's, or %d)", harness.DefaultMaxRequests))
	fl.DurationVar(&f.timeout, "timeout", 0, fmt.Sprintf("per-request timeout (default: the scenario's, or %s)", harness.DefaultTimeout))
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no live progress line")
	fl.StringVar(&f.caFile, "ca-file", "", "https targets: a PEM file of CAs to trust beside the system's (default: the scenario's portal.tls.ca_file)")
	fl.BoolVar(&f.insecure, "insecure", false, "https targets: do not check the certificate (refused unless the target is on a loopback address)")
	fl.DurationVar(&f.shutdownBudget, "shutdown-budget", harness.DefaultShutdownBudget, "after Ctrl-C or SIGTERM: stop the load, heal, write the report and stop the target within this long (what is left is skipped and named in the report); a second signal quits at once")
	fl.StringVar(&f.baseline, "baseline", "", "compare the run with the run whose reports are in this directory (see crosstalk compare); a regression fails the gate")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve live Prometheus metrics on HOST:PORT/metrics while the run goes (loopback unless --allow-host), e.g. 127.0.0.1:9464")
	fl.IntVar(&f.workers, "workers", 0, "run the load on N load generators, each driving 1/N of the users at 1/N of the rate, with one merged verdict (see --engine)")
	fl.StringVar(&f.engine, "engine", "local", "with --workers: where the generators run: local (processes of this machine), docker (containers of the crosstalk image on the containers target's network), kubernetes (an Indexed Job; see --namespace), external (started by someone else; they come to --coordinator-url)")
	f.kube.registerRun(fl)
	fl.DurationVar(&f.serveReports, "serve-reports", 0, "after the run, serve its exit status and reports on --coordinator-listen for this long (what the coordinator's pod does)")
	_ = fl.MarkHidden("serve-reports")
	fl.StringVar(&f.coordinatorListen, "coordinator-listen", "127.0.0.1:0", "with --workers: the address the coordinator listens on for its generators")
	fl.StringVar(&f.coordinatorURL, "coordinator-url", "", "with --workers: the URL the generators reach the coordinator at (default http://the listen address)")
	fl.StringVar(&f.http, "http", "", `HTTP version: auto (HTTP/2 when the server offers it by ALPN, as browsers do), 1.1 or 2 (default: the scenario's portal.http, or auto)`)
	return c
}

func runScenario(cmd *cobra.Command, path string, f runFlags, stdout, stderr io.Writer) error {
	sc, err := scenarios.Load(path)
	if err != nil {
		return err
	}
	if err := applyOverrides(sc, f, cmd.Flags().Changed); err != nil {
		return err
	}
	if f.engine == "kubernetes" && cmd.Flags().Changed("workers") {
		return runOnKubernetes(cmd, path, f, outDir(f.out, sc.Name), stdout, stderr)
	}
	reference.Complete(sc) // a scenario with no flows follows the reference portal's journeys
	defects, err := chooseDefects(sc.Defects, f)
	if err != nil {
		return err
	}
	set, err := portal.NewDefectSet(defects...)
	if err != nil {
		return harness.BadInput("--defect: %v", err)
	}
	switch f.faults {
	case "":
	case "none":
		sc.Faults = nil
	default:
		return harness.BadInput(`--faults %q: the only value is "none"`, f.faults)
	}
	var base *harness.Record
	if f.baseline != "" {
		if base, err = readRecord(f.baseline); err != nil {
			return err
		}
	}
	target, notes, err := newTarget(sc, f, cmd.Flags().Changed, set, stderr)
	if err != nil {
		return err
	}
	if k, _ := lookupTarget(f.target, false); k.docker {
		warnDeadRuns(cmd.Context(), stderr)
	}
	if r, ok := target.(interface{ RunID() string }); ok {
		// Printed even with --quiet: a harness killed with SIGKILL leaves
		// its stack, and this is how to find it.
		fmt.Fprintf(stderr, "crosstalk: run %s (if this process is killed: crosstalk down --run %s)\n", r.RunID(), r.RunID())
	}
	out := outDir(f.out, sc.Name)
	opts := harness.Options{Out: out, Defects: set.Names(), AllowHosts: f.allowHosts,
		Status: func(m string) { fmt.Fprintln(stderr, "crosstalk: "+m) },
		Wire:   harness.WireSpec{CAFile: f.caFile, Insecure: f.insecure, HTTP: f.http}}
	if k, _ := lookupTarget(f.target, false); !k.reference {
		opts.Defects = nil
	}
	opts.Replay = replayLine(path, sc, f, opts.Defects)
	var pl *progressLine
	if !f.quiet && isTerminal(stderr) {
		pl = &progressLine{w: stderr}
		opts.Progress = pl.show
	}
	if f.metricsAddr != "" {
		x := metrics.New(metrics.Run{Scenario: sc.Name, Target: target.Name(), Seed: sc.Seed})
		if err := x.Listen(f.metricsAddr, f.allowHosts); err != nil {
			return err
		}
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = x.Close(ctx)
		}()
		opts.Observer = x
		fmt.Fprintf(stderr, "crosstalk: live metrics on http://%s/metrics\n", x.Addr())
	}
	written := false
	opts.ShutdownBudget = f.shutdownBudget
	var cmp *reports.RunDiff
	opts.Report = func(rec *harness.Record) error {
		rec.Notes = append(notes, rec.Notes...)
		if base != nil {
			if cmp, err = judgeBaseline(base, f.baseline, rec); err != nil {
				rec.Notes = append(rec.Notes, err.Error())
			}
		}
		written = true
		return reports.WriteAll(out, rec)
	}
	if opts.Generators, err = generators(cmd.Context(), f, cmd.Flags().Changed, out, target, opts.Status); err != nil {
		return err
	}
	if c, ok := opts.Generators.(io.Closer); ok {
		defer c.Close() // a run refused before its load never reached Drive, which closes it
	}
	fmt.Fprintf(stderr, "crosstalk: %s on %s: %d users, %s, defects: %s%s\n", sc.Name, target.Name(), sc.Users, sc.Duration, orNone(set.Names()), onWorkers(f))
	rec, runErr := harness.Run(cmd.Context(), sc, target, opts)
	if pl != nil {
		pl.done()
	}
	if rec == nil || (runErr != nil && harness.ClassOf(runErr) == harness.ClassBadInput) {
		return runErr
	}
	if !written { // the run ended before its record was complete (the target could not start)
		rec.Notes = append(notes, rec.Notes...)
		if err := reports.WriteAll(out, rec); err != nil {
			return harness.TargetFailure(fmt.Errorf("writing the reports to %s: %w", out, err))
		}
	}
	if err := reports.Summary(stdout, rec); err != nil {
		return err
	}
	if cmp != nil {
		if err := reports.CompareText(stdout, cmp); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "reports     %s\n", strings.Join(reports.Paths(out), " "))
	if runErr != nil {
		return runErr
	}
	if !rec.Passed() {
		return errGateFailed
	}
	return nil
}

// applyOverrides puts the flags the user set over the scenario's values.
// A flag set to zero, a negative number or NaN is refused with its name:
// it never silently means "the scenario's value".
func applyOverrides(sc *harness.Scenario, f runFlags, changed func(string) bool) error {
	if f.seed != "" {
		s, err := population.ParseSeed(f.seed)
		if err != nil {
			return harness.BadInput("--seed: %v", err)
		}
		sc.Seed = s
	}
	if changed("duration") {
		if f.duration < harness.MinDuration {
			return harness.BadInput("--duration %s: want at least %s", f.duration, harness.MinDuration)
		}
		sc.Duration = f.duration
	}
	if changed("rate") {
		if !(f.rate > 0) || math.IsInf(f.rate, 0) {
			return harness.BadInput("--rate %v: want a positive number of requests per second", f.rate)
		}
		sc.Rate = sc.Rate.Scaled(f.rate)
	}
	if changed("users") {
		if f.users < 1 {
			return harness.BadInput("--users %d: want at least 1", f.users)
		}
		sc.Users = f.users
	}
	if changed("max-requests") {
		if f.maxRequests < 1 {
			return harness.BadInput("--max-requests %d: want at least 1", f.maxRequests)
		}
		sc.MaxRequests = f.maxRequests
	}
	if changed("timeout") {
		if f.timeout < harness.MinTimeout {
			return harness.BadInput("--timeout %s: want at least %s", f.timeout, harness.MinTimeout)
		}
		sc.Timeout = f.timeout
	}
	if changed("replicas") && (f.replicas < 1 || f.replicas > 64) {
		return harness.BadInput("--replicas %d: want between 1 and 64", f.replicas)
	}
	return nil
}

func chooseDefects(fromScenario []string, f runFlags) ([]string, error) {
	out := fromScenario
	if f.defects != "" {
		out = nil
		if f.defects != "none" {
			for _, d := range strings.Split(f.defects, ",") {
				if d = strings.TrimSpace(d); d != "" {
					out = append(out, d)
				}
			}
		}
	}
	return append(append([]string{}, out...), f.defect...), nil
}

func orNone(l []string) string {
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ",")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressLine rewrites one terminal line while the load runs.
type progressLine struct {
	w     io.Writer
	shown bool
}

func (p *progressLine) show(s harness.Progress) {
	faults := ""
	if len(s.Faults) > 0 {
		faults = "  faults: " + strings.Join(s.Faults, ",")
	}
	fmt.Fprintf(p.w, "\r\033[K  %5.1f/%.0fs  %6.0f/%.0f req/s  p99 %-8s  logins %-7d  violations %d%s",
		s.Elapsed.Seconds(), s.Duration.Seconds(), s.Rate, s.TargetRate, s.P99.Round(10*time.Microsecond), s.Logins, s.Violations, faults)
	p.shown = true
}

func (p *progressLine) done() {
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// outDir is --out, or crosstalk-out/SCENARIO.
func outDir(out, scenario string) string {
	if out != "" {
		return out
	}
	return filepath.Join("crosstalk-out", strings.TrimSuffix(filepath.Base(scenario), ".yaml"))
}

// generators returns the generators of a run on several (--workers), or
// nil for a run in this process.
func generators(ctx context.Context, f runFlags, changed func(string) bool, out string, target harness.Target, status func(string)) (harness.Generators, error) {
	if !changed("workers") {
		for _, name := range append([]string{"engine", "coordinator-listen", "coordinator-url"}, kubeFlagNames...) {
			if changed(name) {
				return nil, harness.BadInput("--%s needs --workers", name)
			}
		}
		return nil, nil
	}
	cfg := workers.Config{Workers: f.workers, Listen: f.coordinatorListen, Advertise: f.coordinatorURL, Status: status}
	switch f.engine {
	case "local":
		if changed("coordinator-url") {
			return nil, harness.BadInput("--coordinator-url: the local engine's workers reach the coordinator on its listen address")
		}
		cfg.Launcher = &workers.Local{LogDir: filepath.Join(out, "workers"), Status: status}
	case "docker":
		stack, ok := target.(dockerengine.Network)
		if !ok {
			return nil, harness.BadInput("--engine docker runs the workers on the target's private network: it needs --target containers, not --target %s", f.target)
		}
		im, err := imagesFrom(f.images)
		if err != nil {
			return nil, harness.BadInput("--image %v", err)
		}
		if !changed("coordinator-listen") {
			gw, err := dockerengine.BridgeGateway(ctx)
			if err != nil {
				return nil, harness.TargetFailure(err)
			}
			cfg.Listen = gw + ":0"
		}
		cfg.Launcher = &dockerengine.Engine{Image: im.Crosstalk, Target: stack, LogDir: filepath.Join(out, "workers"), Status: status}
		cfg.Rewrite = dockerengine.Rewrite(stack)
	case "external":
	default:
		return nil, harness.BadInput("--engine %q: want local, docker, kubernetes or external", f.engine)
	}
	return workers.New(cfg)
}

func onWorkers(f runFlags) string {
	if f.workers == 0 {
		return ""
	}
	return fmt.Sprintf(", on %d workers (%s)", f.workers, f.engine)
}
