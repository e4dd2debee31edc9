package docker

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// OwnerLabel names the process that started a run's objects, as
// HOST:PID; DetachedLabel marks a stack left running on purpose (crosstalk
// up --detach). Together they let crosstalk down remove what a dead run
// left behind without touching another live run's stack.
const (
	OwnerLabel    = "crosstalk.owner"
	DetachedLabel = "crosstalk.detached"
)

// Labels returns the labels of every object of run runID started by this
// process.
func Labels(runID string, detached bool) map[string]string {
	l := map[string]string{Label: runID, OwnerLabel: Owner()}
	if detached {
		l[DetachedLabel] = "true"
	}
	return l
}

// Owner is this process, as OwnerLabel writes it.
func Owner() string {
	host, _ := os.Hostname()
	return host + ":" + strconv.Itoa(os.Getpid())
}

// alive reports whether the owner label names a live process of this
// host; an owner on another host, or none, is taken as alive: only what is
// surely dead is swept.
func alive(owner string) bool {
	host, pid, ok := strings.Cut(owner, ":")
	me, _ := os.Hostname()
	n, err := strconv.Atoi(pid)
	if !ok || host != me || err != nil || n <= 0 {
		return true
	}
	err = syscall.Kill(n, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Sweep removes the stacks of dead runs: those whose owner process is gone
// and that were not left running on purpose; with all, every crosstalk
// stack. It returns the runs it removed and how many objects.
func Sweep(ctx context.Context, cli *testcontainers.DockerClient, all bool) ([]string, int, error) {
	runs, err := sweepable(ctx, cli, all)
	if err != nil {
		return nil, 0, err
	}
	var removed []string
	total := 0
	var errs []error
	for _, run := range runs {
		n, err := Down(ctx, cli, run)
		total += n
		errs = append(errs, err)
		removed = append(removed, run)
	}
	return removed, total, errors.Join(errs...)
}

// DeadRuns returns the runs whose owner process is gone and that left
// containers or networks behind (not those left running on purpose), for a
// run to say so as it starts.
func DeadRuns(ctx context.Context, cli *testcontainers.DockerClient) ([]string, error) {
	return sweepable(ctx, cli, false)
}

// sweepable returns the runs Sweep would remove, sorted.
func sweepable(ctx context.Context, cli *testcontainers.DockerClient, all bool) ([]string, error) {
	cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", Label)})
	if err != nil {
		return nil, err
	}
	ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("label", Label)})
	if err != nil {
		return nil, err
	}
	keep, runs := map[string]bool{}, map[string]bool{}
	note := func(labels map[string]string) {
		run := labels[Label]
		runs[run] = true
		if !all && (labels[DetachedLabel] == "true" || alive(labels[OwnerLabel])) {
			keep[run] = true
		}
	}
	for _, c := range cs.Items {
		note(c.Labels)
	}
	for _, n := range ns.Items {
		note(n.Labels)
	}
	var out []string
	for run := range runs {
		if !keep[run] && run != "" {
			out = append(out, run)
		}
	}
	slices.Sort(out)
	return out, nil
}
