package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// Launcher starts the workers of a run: processes on this machine, pods,
// containers.
type Launcher interface {
	// Launch starts n workers that reach the coordinator at url, each
	// with its shard; exited is called when a worker ends, with why (nil
	// for a clean exit).
	Launch(ctx context.Context, url string, n int, exited func(shard int, err error)) error
	// Stop ends the workers still running, at once.
	Stop()
}

// Config is a coordinator's.
type Config struct {
	// Workers is how many generators run the load.
	Workers int
	// Listen is where the coordinator listens (default 127.0.0.1:0).
	Listen string
	// Advertise is the URL the workers reach it at (default
	// http://LISTEN, with the port it got).
	Advertise string
	// Launcher starts the workers; nil: someone else does (the pods of a
	// Job, containers), and they come to Advertise.
	Launcher Launcher
	// ReadyTimeout bounds the wait for every worker to be ready (default
	// 2 minutes); Stall is how long a running worker may send nothing
	// (default 15 s); Lead is the time from the barrier's release to the
	// start, so that the instant reaches every worker before it comes
	// (default 1 s).
	ReadyTimeout, Stall, Lead time.Duration
	// Status, if set, is told of the workers as they come and go.
	Status func(string)
	// Rewrite, if set, changes each assignment before a worker gets it:
	// the stack's URLs as the workers' network reaches them.
	Rewrite func(*Assignment) error
}

// Assignment is a worker's, as the harness makes it.
type Assignment = harness.Assignment

// Defaults of a coordinator.
const (
	DefaultReadyTimeout = 2 * time.Minute
	DefaultStall        = 15 * time.Second
	DefaultLead         = time.Second
)

// Coordinator is the harness.Generators of a run on N workers.
type Coordinator struct {
	cfg Config
	ln  net.Listener
	url string
}

var _ harness.Generators = (*Coordinator)(nil)

// New checks cfg and listens; an address in use is bad input.
func New(cfg Config) (*Coordinator, error) {
	if cfg.Workers < 1 || cfg.Workers > MaxWorkers {
		return nil, harness.BadInput("--workers %d: want between 1 and %d", cfg.Workers, MaxWorkers)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = DefaultReadyTimeout
	}
	if cfg.Stall <= 0 {
		cfg.Stall = DefaultStall
	}
	if cfg.Lead <= 0 {
		cfg.Lead = DefaultLead
	}
	if cfg.Status == nil {
		cfg.Status = func(string) {}
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, harness.BadInput("--coordinator-listen %s: %v", cfg.Listen, err)
	}
	c := &Coordinator{cfg: cfg, ln: ln, url: cfg.Advertise}
	if c.url == "" {
		c.url = "http://" + ln.Addr().String()
	}
	return c, nil
}

// MaxWorkers bounds --workers.
const MaxWorkers = 1000

// URL is where the workers reach the coordinator.
func (c *Coordinator) URL() string { return c.url }

// Shards implements harness.Generators.
func (c *Coordinator) Shards() int { return c.cfg.Workers }

// Close stops listening; Drive closes too when it returns.
func (c *Coordinator) Close() error { return c.ln.Close() }

// shardState is what the coordinator knows of one worker.
type shardState struct {
	ready, streaming bool
	finished         chan struct{} // closed once done or failed
	err              string        // why it failed
}

// drive is one Drive call's state.
type drive struct {
	c      *Coordinator
	as     []harness.Assignment
	feed   harness.ShardFeed
	mu     sync.Mutex
	shards []shardState
	nready int
	// release is closed when every worker is ready; abort when the run
	// gives up before that; stop when the workers must stop early.
	release, abort, stop    chan struct{}
	abortOnce, stopOnce     sync.Once
	released                bool
	start                   time.Time
	nfinished               int
	allFinished, anyAborted chan struct{}
}

// Drive implements harness.Generators.
func (c *Coordinator) Drive(ctx context.Context, as []harness.Assignment, feed harness.ShardFeed) error {
	defer c.ln.Close()
	n := c.cfg.Workers
	if len(as) != n {
		return fmt.Errorf("%d assignments for %d workers", len(as), n)
	}
	if c.cfg.Rewrite != nil {
		for i := range as {
			if err := c.cfg.Rewrite(&as[i]); err != nil {
				return harness.TargetFailure(fmt.Errorf("worker %d's assignment: %w", i, err))
			}
		}
	}
	d := &drive{c: c, as: as, feed: feed, shards: make([]shardState, n), release: make(chan struct{}),
		abort: make(chan struct{}), stop: make(chan struct{}), allFinished: make(chan struct{}), anyAborted: make(chan struct{})}
	for i := range d.shards {
		d.shards[i].finished = make(chan struct{})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/assignment", d.assignment)
	mux.HandleFunc("POST /v1/ready", d.ready)
	mux.HandleFunc("POST /v1/stream", d.stream)
	mux.HandleFunc("GET /v1/stop", d.stopPoll)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(c.ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		srv.Close()
	}()
	if l := c.cfg.Launcher; l != nil {
		defer l.Stop()
		if err := l.Launch(ctx, c.url, n, d.exited); err != nil {
			d.giveUp("not started: " + err.Error())
			return harness.TargetFailure(fmt.Errorf("starting the workers: %w", err))
		}
	} else {
		c.cfg.Status(fmt.Sprintf("waiting for %d workers at %s", n, c.url))
	}

	// The barrier: every worker ready, or give up.
	readyBy := time.NewTimer(c.cfg.ReadyTimeout)
	defer readyBy.Stop()
	select {
	case <-d.release:
	case <-d.anyAborted:
		d.giveUp("stopped: another worker failed before the load began")
	case <-readyBy.C:
		d.giveUp(fmt.Sprintf("not ready within %s", c.cfg.ReadyTimeout))
	case <-ctx.Done():
		d.giveUp("stopped before the load began: " + ctx.Err().Error())
	}
	// The load: every worker streams until its result, or fails.
	for {
		select {
		case <-d.allFinished:
			return d.failures()
		case <-ctx.Done():
			d.stopAll()
			ctx = context.Background() // keep collecting; the harness bounds the wait
		}
	}
}

// giveUp fails every worker not ready yet with why, and releases the
// others' barrier with a refusal.
func (d *drive) giveUp(why string) {
	d.abortOnce.Do(func() { close(d.abort) })
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.shards {
		d.failLocked(i, why)
	}
}

func (d *drive) stopAll() { d.stopOnce.Do(func() { close(d.stop) }) }

// failures returns the failed workers as a *harness.GeneratorError.
func (d *drive) failures() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	ge := &harness.GeneratorError{Shards: map[int]string{}}
	for i, s := range d.shards {
		if s.err != "" {
			ge.Shards[i] = s.err
		}
	}
	if len(ge.Shards) == 0 {
		return nil
	}
	return ge
}

// failLocked marks shard i failed with why, unless it already ended; d.mu
// is held.
func (d *drive) failLocked(i int, why string) {
	s := &d.shards[i]
	select {
	case <-s.finished:
		return
	default:
	}
	s.err = why
	d.finishLocked(i)
	if !d.released {
		// A worker lost before the barrier: the run cannot start whole.
		select {
		case <-d.anyAborted:
		default:
			close(d.anyAborted)
		}
	}
	d.c.cfg.Status(fmt.Sprintf("worker %d failed: %s", i, why))
}

func (d *drive) finishLocked(i int) {
	close(d.shards[i].finished)
	d.nfinished++
	if d.nfinished == len(d.shards) {
		close(d.allFinished)
	}
}

func (d *drive) fail(i int, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.failLocked(i, why)
}

// exited is the launcher's report of a worker that ended.
func (d *drive) exited(i int, err error) {
	why := "exited before sending its result"
	if err != nil {
		why = fmt.Sprintf("died (%v) before sending its result", err)
	}
	d.fail(i, why)
}

// shard parses ?shard= and refuses one out of range.
func (d *drive) shard(w http.ResponseWriter, r *http.Request) (int, bool) {
	i, err := strconv.Atoi(r.URL.Query().Get("shard"))
	if err != nil || i < 0 || i >= len(d.shards) {
		http.Error(w, fmt.Sprintf("shard %q: want 0 to %d", r.URL.Query().Get("shard"), len(d.shards)-1), http.StatusBadRequest)
		return 0, false
	}
	return i, true
}

func (d *drive) assignment(w http.ResponseWriter, r *http.Request) {
	i, ok := d.shard(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(d.as[i])
}

// readyAnswer is what /v1/ready answers: the instant the load begins.
type readyAnswer struct {
	Start time.Time `json:"start"`
}

func (d *drive) ready(w http.ResponseWriter, r *http.Request) {
	i, ok := d.shard(w, r)
	if !ok {
		return
	}
	d.mu.Lock()
	if !d.shards[i].ready {
		d.shards[i].ready = true
		d.nready++
		d.c.cfg.Status(fmt.Sprintf("worker %d ready (%d of %d)", i, d.nready, len(d.shards)))
	}
	if d.nready == len(d.shards) && !d.released {
		d.released, d.start = true, time.Now().Add(d.c.cfg.Lead)
		close(d.release)
		d.feed.Begin(d.start)
	}
	d.mu.Unlock()
	select {
	case <-d.release:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(readyAnswer{Start: d.start})
	case <-d.abort:
		http.Error(w, "the run was abandoned before the load began", http.StatusServiceUnavailable)
	case <-r.Context().Done():
	}
}

func (d *drive) stopPoll(w http.ResponseWriter, r *http.Request) {
	i, ok := d.shard(w, r)
	if !ok {
		return
	}
	select {
	case <-d.stop:
		_, _ = w.Write([]byte("stop\n"))
	case <-d.abort:
		_, _ = w.Write([]byte("stop\n"))
	case <-d.shards[i].finished:
		w.WriteHeader(http.StatusNoContent)
	case <-r.Context().Done():
	}
}

// stream reads one worker's frames until its result.
func (d *drive) stream(w http.ResponseWriter, r *http.Request) {
	i, ok := d.shard(w, r)
	if !ok {
		return
	}
	d.mu.Lock()
	s := &d.shards[i]
	busy := s.streaming
	s.streaming = true
	d.mu.Unlock()
	if busy {
		http.Error(w, fmt.Sprintf("shard %d is already streaming", i), http.StatusConflict)
		return
	}
	if err := d.read(w, r, i); err != nil {
		d.fail(i, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (d *drive) read(w http.ResponseWriter, r *http.Request, i int) error {
	rc := http.NewResponseController(w)
	var res, vio lines
	var buf []byte
	for {
		d.mu.Lock()
		released := d.released
		d.mu.Unlock()
		wait := d.c.cfg.Stall
		if !released {
			wait += d.c.cfg.ReadyTimeout
		}
		_ = rc.SetReadDeadline(time.Now().Add(wait))
		typ, b, err := readFrame(r.Body, buf)
		buf = b[:0]
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("stalled: sent nothing for %s", wait)
		case err != nil:
			return fmt.Errorf("died: its stream ended without its result (%v)", err)
		}
		switch typ {
		case frameResults:
			if l := res.push(b); l != nil {
				err = d.feed.Results(i, l)
			}
		case frameViolation:
			for _, l := range splitLines(vio.push(b)) {
				if err = d.feed.Violation(i, l); err != nil {
					break
				}
			}
		case frameTick:
			var t harness.ShardTick
			if err = json.Unmarshal(b, &t); err == nil {
				err = d.feed.Tick(i, t)
			}
		case frameDone:
			var res harness.ShardResult
			if err = json.Unmarshal(b, &res); err != nil {
				return fmt.Errorf("sent a malformed result: %w", err)
			}
			if err = d.feed.Done(i, &res); err != nil {
				return err
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			if res.Error != "" {
				d.failLocked(i, res.Error)
				return nil
			}
			select {
			case <-d.shards[i].finished:
			default:
				d.finishLocked(i)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("sent what cannot be merged: %w", err)
		}
	}
}
