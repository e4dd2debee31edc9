// Package dockertest decides whether a test that needs the Docker engine
// and crosstalk's images runs: it skips without them on a workstation, and
// fails without them in CI (CI set), where a skipped container test would
// pass a build that never ran it.
package dockertest

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/crosstalk-dev/crosstalk/internal/docker"
	"github.com/crosstalk-dev/crosstalk/targets/containers"
)

// lockPath serializes the container tests of every package: go test runs
// packages in parallel, and two stacks under load on two cores would fail
// each other's thresholds, and the leftover check below would see the other
// test's containers.
const lockPath = "/tmp/crosstalk-container-tests.lock"

// Require returns a Docker client when the engine answers and every image
// of the stack is present; otherwise it skips t, or fails it in CI. It holds
// the machine-wide container-test lock until t ends, and then checks that t
// left no container, network or volume labelled crosstalk.run.
func Require(t testing.TB) *testcontainers.DockerClient {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: "+format, args...)
		}
		t.Skipf(format+" (this test needs it; in CI it fails instead)", args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli, err := docker.NewClient(ctx)
	if err != nil {
		missing("no Docker engine: %v", err)
	}
	if _, err := cli.Ping(ctx, client.PingOptions{}); err != nil {
		missing("the Docker engine does not answer: %v", err)
	}
	im := containers.DefaultImages()
	for _, ref := range []string{im.Crosstalk, im.Redis, im.Postgres, im.Nginx} {
		if _, err := cli.ImageInspect(ctx, ref); err != nil {
			missing("image %s is missing: run make images", ref)
		}
	}
	Exclusive(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		f := make(client.Filters).Add("label", docker.Label)
		cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err == nil && len(cs.Items) > 0 {
			var names []string
			for _, c := range cs.Items {
				names = append(names, strings.Join(c.Names, ",")+" ("+string(c.State)+")")
			}
			t.Errorf("%d containers labelled %s left behind, removing them: %s", len(cs.Items), docker.Label, strings.Join(names, " "))
		}
		ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
		if err == nil && len(ns.Items) > 0 {
			t.Errorf("%d networks labelled %s left behind; removing them", len(ns.Items), docker.Label)
		}
		vs, err := cli.VolumeList(ctx, client.VolumeListOptions{Filters: f})
		if err == nil && len(vs.Items) > 0 {
			t.Errorf("%d volumes labelled %s left behind; removing them", len(vs.Items), docker.Label)
		}
		_, _ = docker.Down(ctx, cli, "")
		cli.Close()
	})
	return cli
}

// Exclusive holds the machine-wide lock of the container tests until t
// ends, for a test whose verdict depends on timing under load (the detection
// matrix): on two cores, a container stack under load beside it starves its
// load, and a fault can land before the portal has served a single session.
// Cleanups run last-in first-out, so a caller's own cleanups run before the
// lock is released.
func Exclusive(t testing.TB) {
	t.Helper()
	lock, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("load-test lock: %v", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		t.Fatalf("load-test lock: %v", err)
	}
	t.Cleanup(func() { lock.Close() }) // closing releases the lock
}
