package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// Seeding puts the run's synthetic population into a user's own stack before
// the load, as the scenario declares it (portal.seed): a command run once on
// this machine, or one HTTP request per user to the target. Either way the
// preflight then proves that a seeded user can log in. (crosstalk population
// export is the third way, for a stack seeded ahead of the run.)
type Seeding struct {
	// Command runs once, after the target has started, with the population
	// exported as CSV (as crosstalk population export writes it) at the
	// path in CROSSTALK_POPULATION, and CROSSTALK_BASE_URL, CROSSTALK_SEED,
	// CROSSTALK_USERS and CROSSTALK_MIX in its environment.
	Command []string `yaml:"command,omitempty" json:"command,omitempty"`
	// Request is sent once per user to the target: a step whose templates
	// read .User, such as a POST to an admin API with the user's fields.
	Request *Step `yaml:"request,omitempty" json:"request,omitempty"`
	// Concurrency bounds the seeding requests in flight (default 16).
	Concurrency int `yaml:"concurrency,omitempty" json:"concurrency,omitempty"`
	// Timeout bounds the whole seeding (default 5m).
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// Seeding defaults.
const (
	DefaultSeedConcurrency = 16
	DefaultSeedTimeout     = 5 * time.Minute
)

func (s *Seeding) validate() []error {
	var errs []error
	add := func(path, format string, args ...any) { errs = append(errs, fieldErr(path, format, args...)) }
	if (len(s.Command) == 0) == (s.Request == nil) {
		add("portal.seed", "want exactly one of command (run once) or request (sent once per user)")
	}
	if s.Request != nil {
		_, serrs := compileStep("portal.seed.request", *s.Request, nil)
		errs = append(errs, serrs...)
		if len(s.Request.Extract) > 0 || s.Request.Follow || s.Request.Login || s.Request.Migrates {
			add("portal.seed.request", "a seeding request only sends: extract, follow, login and migrates belong to flows")
		}
	}
	if s.Concurrency < 0 || s.Concurrency > 1024 {
		add("portal.seed.concurrency", "%d: want 1 to 1024", s.Concurrency)
	}
	if s.Timeout < 0 {
		add("portal.seed.timeout", "must not be negative")
	}
	return errs
}

// seedPopulation runs the scenario's seeding against the target at base, sending
// requests through tr (the loopback-checked transport). status reports
// progress; out is where the population file is written for a command.
func (e *engine) seedPopulation(ctx context.Context, s *Seeding, tr http.RoundTripper, base, out string, status func(string)) error {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = DefaultSeedTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t0 := time.Now()
	var err error
	if len(s.Command) > 0 {
		err = e.seedCommand(ctx, s.Command, base, out, status)
	} else {
		err = e.seedRequests(ctx, s, tr, base, status)
	}
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("%w (portal.seed.timeout is %s)", err, timeout)
		}
		return TargetFailure(fmt.Errorf("seeding: %w", err))
	}
	status(fmt.Sprintf("seeded %d users in %.1fs", e.pop.Size(), time.Since(t0).Seconds()))
	return nil
}

func (e *engine) seedCommand(ctx context.Context, command []string, base, out string, status func(string)) error {
	path, err := filepath.Abs(filepath.Join(out, "population.csv"))
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := e.pop.Export(f, "csv", nil); err != nil {
		f.Close()
		return fmt.Errorf("exporting the population: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("exporting the population: %w", err)
	}
	status(fmt.Sprintf("seeding: %s (population in %s)", strings.Join(command, " "), path))
	mix := e.pop.Mix()
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Env = append(os.Environ(), "CROSSTALK_POPULATION="+path, "CROSSTALK_BASE_URL="+base,
		"CROSSTALK_SEED="+strconv.FormatUint(e.seed, 10), "CROSSTALK_USERS="+strconv.Itoa(e.pop.Size()),
		fmt.Sprintf("CROSSTALK_MIX=%g,%g,%g", mix.Legacy, mix.MigrationPending, mix.Migrated))
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w%s", command[0], err, tail(output.String()))
	}
	return nil
}

// tail returns the last lines of a command's output, for its error.
func tail(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	if len(lines) == 0 || lines[0] == "" {
		return ""
	}
	return "\n  output:\n    " + strings.Join(lines, "\n    ")
}

func (e *engine) seedRequests(ctx context.Context, s *Seeding, tr http.RoundTripper, base string, status func(string)) error {
	plan, errs := compileStep("portal.seed.request", *s.Request, nil)
	if len(errs) > 0 {
		return &Error{Class: ClassBadInput, Err: errors.Join(errs...)}
	}
	client := &http.Client{Transport: tr, Timeout: DefaultTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	n := e.pop.Size()
	status(fmt.Sprintf("seeding: %s %s for each of %d users", plan.Method, plan.Path, n))
	var done atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // progress, every 5 s, for a large population
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				status(fmt.Sprintf("seeding: %d of %d users", done.Load(), n))
			}
		}
	})
	defer wg.Wait()
	defer close(stop)

	g, gctx := errgroup.WithContext(ctx)
	limit := s.Concurrency
	if limit == 0 {
		limit = DefaultSeedConcurrency
	}
	g.SetLimit(limit)
	for i := 0; i < n && gctx.Err() == nil; i++ {
		g.Go(func() error {
			t := vegetaTarget{Header: make(http.Header, 4)}
			first := initialActor(e.pop, i)
			plan.fill(&t, base, flowData{User: e.flowUser(i, &first)})
			req, err := t.Request()
			if err != nil {
				return fmt.Errorf("user #%d: %w", i, err)
			}
			resp, err := client.Do(req.WithContext(gctx))
			if err != nil {
				return fmt.Errorf("user #%d: %w", i, err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			if !plan.expects(resp.StatusCode, resp.Header.Get("Location")) {
				want := "200-399"
				if len(plan.Expect) > 0 {
					want = fmt.Sprint(plan.Expect)
				}
				return fmt.Errorf("user #%d: %s %s answered %d, expected %s: %s", i, req.Method, req.URL.Path,
					resp.StatusCode, want, strings.TrimSpace(string(body)))
			}
			done.Add(1)
			return nil
		})
	}
	return g.Wait()
}
