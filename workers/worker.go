package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// Work is a worker: it fetches shard's assignment from the coordinator at
// coordinator, drives its load with harness.RunShard and streams what it
// sees back, its result last. ctx ending stops its load early, as Ctrl-C;
// so does the coordinator (GET /v1/stop). The coordinator may come up after
// the worker (pods of one Job start in any order): the assignment is asked
// for until connect, within a minute.
func Work(ctx context.Context, coordinator string, shard int, status func(string)) error {
	if status == nil {
		status = func(string) {}
	}
	u, err := url.Parse(coordinator)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return harness.BadInput("coordinator %q: want an http:// URL", coordinator)
	}
	// The coordinator is reached directly, never through a proxy from the
	// environment (a pod's HTTP_PROXY is for the outside world).
	w := &worker{base: strings.TrimSuffix(coordinator, "/"), shard: shard, client: &http.Client{Transport: &http.Transport{}}}
	a, err := w.assignment(ctx)
	if err != nil {
		return err
	}
	status(fmt.Sprintf("worker %d of %d: users %s against %s", shard, a.Shard.Count, usersOf(a), a.Base))

	signalled := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go w.pollStop(ctx, cancel)

	pr, pw := io.Pipe()
	posted := make(chan error, 1)
	go func() { posted <- w.post(pr) }()
	sink := &streamSink{w: pw}
	res, runErr := harness.RunShard(ctx, a, sink, w.ready)
	if res == nil {
		res = &harness.ShardResult{Shard: a.Shard, Error: runErr.Error(), Class: harness.ClassOf(runErr)}
	}
	if res.Interrupt && signalled.Err() != nil && res.Error == "" {
		// Stopped by a signal to this worker, not by the coordinator: its
		// users did not get their whole load, and the run cannot pass.
		res.Error = "stopped before the end of its load by a signal to the worker"
		res.Class = harness.ClassTarget
	}
	b, err := json.Marshal(res)
	if err == nil {
		err = sink.frame(frameDone, b)
	}
	pw.CloseWithError(err)
	if perr := <-posted; perr != nil {
		return harness.TargetFailure(fmt.Errorf("worker %d: sending the result to the coordinator: %w", shard, perr))
	}
	if runErr != nil {
		return runErr
	}
	if res.Error != "" {
		return harness.TargetFailure(errors.New(res.Error))
	}
	return nil
}

func usersOf(a harness.Assignment) string {
	var sc struct {
		Users int `json:"users"`
	}
	_ = json.Unmarshal(a.Scenario, &sc)
	from, to := a.Shard.Range(sc.Users)
	return fmt.Sprintf("%d to %d", from, to-1)
}

type worker struct {
	base   string
	shard  int
	client *http.Client
}

func (w *worker) url(path string) string {
	return w.base + path + "?shard=" + strconv.Itoa(w.shard)
}

// assignment asks for the shard's assignment, until the coordinator
// answers or a minute passed.
func (w *worker) assignment(ctx context.Context) (harness.Assignment, error) {
	var a harness.Assignment
	deadline := time.Now().Add(time.Minute)
	for {
		err := w.getJSON(ctx, w.url("/v1/assignment"), &a)
		var refused *statusError
		switch {
		case err == nil:
			return a, nil
		case errors.As(err, &refused):
			return a, harness.BadInput("coordinator %s refused shard %d: %s", w.base, w.shard, refused.body)
		case time.Now().After(deadline) || ctx.Err() != nil:
			return a, harness.TargetFailure(fmt.Errorf("worker %d: no assignment from the coordinator at %s: %w", w.shard, w.base, err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string { return fmt.Sprintf("%d %s", e.code, e.body) }

func (w *worker) getJSON(ctx context.Context, u string, v any) error {
	return w.do(ctx, http.MethodGet, u, v)
}

func (w *worker) do(ctx context.Context, method, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxFrame)).Decode(v)
}

// ready is the barrier: it returns the instant the load begins.
func (w *worker) ready(ctx context.Context) (time.Time, error) {
	var r readyAnswer
	if err := w.do(ctx, http.MethodPost, w.url("/v1/ready"), &r); err != nil {
		return time.Time{}, harness.TargetFailure(fmt.Errorf("worker %d: the coordinator did not release the start: %w", w.shard, err))
	}
	return r.Start, nil
}

// pollStop cancels the worker's load when the coordinator says stop.
func (w *worker) pollStop(ctx context.Context, cancel func()) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, w.url("/v1/stop"), nil)
	if err != nil {
		return
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		cancel()
	}
}

// post sends the stream, and returns once the coordinator took the result.
func (w *worker) post(body io.Reader) error {
	req, err := http.NewRequest(http.MethodPost, w.url("/v1/stream"), body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return &statusError{code: resp.StatusCode, body: strings.TrimSpace(string(b))}
	}
	return nil
}

// streamSink is the harness.ShardSink of a worker: every write becomes a
// frame of the stream to the coordinator.
type streamSink struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (s *streamSink) frame(typ byte, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = writeFrame(s.w, typ, b)
	}
	return s.err
}

type frameWriter struct {
	s   *streamSink
	typ byte
}

func (f frameWriter) Write(b []byte) (int, error) {
	if err := f.s.frame(f.typ, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (s *streamSink) Results() io.Writer    { return frameWriter{s, frameResults} }
func (s *streamSink) Violations() io.Writer { return frameWriter{s, frameViolation} }

func (s *streamSink) Tick(t harness.ShardTick) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return s.frame(frameTick, b)
}
