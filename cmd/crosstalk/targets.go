package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness"
	composetarget "github.com/crosstalk-dev/crosstalk/targets/compose"
	"github.com/crosstalk-dev/crosstalk/targets/containers"
	"github.com/crosstalk-dev/crosstalk/targets/embedded"
	"github.com/crosstalk-dev/crosstalk/targets/portal"
	urltarget "github.com/crosstalk-dev/crosstalk/targets/url"
)

// targetKind is one system under test the CLI can drive. run, matrix and up
// all read targetTable; adding a target is a row here and its package.
type targetKind struct {
	name  string
	usage string
	// reference targets run the reference portal: its defects apply, and
	// the matrix and up can use them.
	reference bool
	// flags are the run flags that belong to this target alone.
	flags []string
	// docker targets start containers: a run on one says when a dead
	// run's containers are still there.
	docker bool
	// matrixParallel and matrixDuration are the matrix's defaults on it.
	matrixParallel int
	matrixDuration time.Duration
	build          func(targetSpec) (harness.Target, error)
}

// targetSpec is what a target is built from.
type targetSpec struct {
	flags    runFlags
	defects  portal.DefectSet
	replicas int
	keep     bool // leave the stack running after the command (up --detach)
	progress func(string)
}

var targetTable = []targetKind{
	{name: "embedded", usage: "the reference stack in-process", reference: true,
		flags: []string{"listen"}, matrixParallel: 2,
		build: func(s targetSpec) (harness.Target, error) {
			listen := s.flags.listen
			if listen == "" {
				listen = embedded.DefaultListen
			}
			return embedded.New(embedded.WithListen(listen), embedded.WithReplicas(s.replicas), embedded.WithDefects(s.defects)), nil
		}},
	// One stack at a time in the matrix: two container stacks under load on
	// two cores fail each other's cells; and a rolling deploy replaces three
	// containers, and a hot replica needs seconds of load: 6 s cells end
	// before either.
	{name: "containers", usage: "the reference stack in Docker, see make images", reference: true,
		flags: []string{"image"}, docker: true, matrixParallel: 1, matrixDuration: 12 * time.Second,
		build: func(s targetSpec) (harness.Target, error) {
			im, err := imagesFrom(s.flags.images)
			if err != nil {
				return nil, err
			}
			opts := []containers.Option{containers.WithReplicas(s.replicas), containers.WithDefects(s.defects),
				containers.WithImages(im), containers.WithProgress(s.progress)}
			if s.keep {
				opts = append(opts, containers.WithKeep())
			}
			return containers.New(opts...), nil
		}},
	{name: "compose", usage: "your stack from --compose-file", flags: []string{"compose-file", "entry"}, docker: true,
		build: func(s targetSpec) (harness.Target, error) {
			if s.flags.composeFile == "" {
				return nil, harness.BadInput("--target compose needs --compose-file FILE and --entry SERVICE:PORT")
			}
			return composetarget.New(s.flags.composeFile, s.flags.entry, s.progress)
		}},
	{name: "url", usage: "a running stack at --base-url", flags: []string{"base-url"},
		build: func(s targetSpec) (harness.Target, error) {
			if s.flags.baseURL == "" {
				return nil, harness.BadInput("--target url needs --base-url http://host:port")
			}
			return urltarget.New(s.flags.baseURL, s.flags.allowHosts)
		}},
}

// lookupTarget returns the row of name; with reference set, only the
// reference portal's targets are offered.
func lookupTarget(name string, reference bool) (targetKind, error) {
	for _, k := range targetTable {
		if k.name == name && (k.reference || !reference) {
			return k, nil
		}
	}
	return targetKind{}, harness.BadInput("--target %q: unknown target (available: %s)", name, targetNames(reference, false))
}

// targetNames lists the targets, with what each is when long is set.
func targetNames(reference, long bool) string {
	var names []string
	for _, k := range targetTable {
		if reference && !k.reference {
			continue
		}
		if long {
			names = append(names, fmt.Sprintf("%s (%s)", k.name, k.usage))
		} else {
			names = append(names, k.name)
		}
	}
	return strings.Join(names, ", ")
}

// checkTargetFlags refuses a flag that belongs to another target than k.
func checkTargetFlags(k targetKind, changed func(string) bool) error {
	for _, other := range targetTable {
		if other.name == k.name {
			continue
		}
		for _, fl := range other.flags {
			if changed(fl) {
				return harness.BadInput("--%s goes with --target %s", fl, other.name)
			}
		}
	}
	return nil
}

// newTarget builds the target the flags name, with notes on what of the
// scenario does not apply to it.
func newTarget(sc *harness.Scenario, f runFlags, changed func(string) bool, set portal.DefectSet, stderr io.Writer) (harness.Target, []string, error) {
	k, err := lookupTarget(f.target, false)
	if err != nil {
		return nil, nil, err
	}
	if err := checkTargetFlags(k, changed); err != nil {
		return nil, nil, err
	}
	var notes []string
	if !k.reference {
		if len(f.defect) > 0 || (f.defects != "" && f.defects != "none") {
			return nil, nil, harness.BadInput("--defect and --defects switch the reference portal's defects; target %s is not the reference portal", k.name)
		}
		if len(sc.Defects) > 0 {
			notes = append(notes, "the scenario's reference-portal defects do not apply to target "+k.name)
		}
	}
	replicas := sc.Target.Replicas
	if f.replicas > 0 {
		replicas = f.replicas
	}
	if replicas == 0 {
		replicas = embedded.DefaultReplicas
	}
	t, err := k.build(targetSpec{flags: f, defects: set, replicas: replicas, progress: stackProgress(f.quiet, stderr)})
	return t, notes, err
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
