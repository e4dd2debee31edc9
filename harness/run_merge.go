package harness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

// Generators run a sharded run's load: one generator per shard, each
// running RunShard somewhere (a worker process, a pod). The harness does
// not know where: the engines that start them are packages of their own.
type Generators interface {
	// Shards is how many generators run the load.
	Shards() int
	// Drive hands each generator its assignment, calls feed.Begin with
	// the instant they all begin once every one is ready (the barrier),
	// streams what they send into feed, and returns once every generator
	// has ended. A generator that died, stalled or failed is named in the
	// error; the others run to their end. When ctx is cancelled it stops
	// them all, as Ctrl-C stops a load, and still collects what they send.
	Drive(ctx context.Context, as []Assignment, feed ShardFeed) error
}

// ShardFeed takes in what the generators stream. It is safe for concurrent
// use.
type ShardFeed interface {
	Begin(at time.Time)
	// Results takes whole results.jsonl lines.
	Results(shard int, lines []byte) error
	// Violation takes one evidence line.
	Violation(shard int, line []byte) error
	Tick(shard int, t ShardTick) error
	Done(shard int, r *ShardResult) error
}

// GeneratorRecord is what one generator of a sharded run did.
type GeneratorRecord struct {
	Shard int `json:"shard"`
	// Users is the range of the population it drove, [from, to).
	Users    [2]int  `json:"users"`
	Requests uint64  `json:"requests"`
	Logins   uint64  `json:"logins"`
	ElapsedS float64 `json:"elapsed_s"`
	// StartOffsetMS is when its load began, after the earliest one.
	StartOffsetMS float64 `json:"start_offset_ms"`
	PeakRSSMB     float64 `json:"peak_rss_mb,omitempty"`
	// Error says why it did not complete (died, stalled, failed).
	Error string `json:"error,omitempty"`
}

// merger is the coordinator's ShardFeed: it folds what the generators send
// into the run's one engine (its counts, histograms, recorder and results
// file), so that the after-run oracles and the verdict are those of a run on
// one machine.
type merger struct {
	e     *engine
	nem   *nemesis
	n     int
	began chan time.Time
	once  sync.Once

	mu     sync.Mutex
	last   []ShardTick // each generator's counts at its last tick
	closed []int       // each generator's last closed second
	done   []*ShardResult
	notes  []string
}

func newMerger(e *engine, nem *nemesis, n int) *merger {
	m := &merger{e: e, nem: nem, n: n, began: make(chan time.Time, 1), last: make([]ShardTick, n),
		closed: make([]int, n), done: make([]*ShardResult, n)}
	for i := range m.closed {
		m.closed[i] = -1
	}
	return m
}

func (m *merger) check(shard int) error {
	if shard < 0 || shard >= m.n {
		return fmt.Errorf("shard %d of %d", shard, m.n)
	}
	return nil
}

func (m *merger) Begin(at time.Time) { m.once.Do(func() { m.began <- at }) }

func (m *merger) Results(shard int, lines []byte) error {
	if err := m.check(shard); err != nil {
		return err
	}
	return m.e.sink.writeRaw(lines)
}

func (m *merger) Violation(shard int, line []byte) error {
	if err := m.check(shard); err != nil {
		return err
	}
	var v evidence.Violation
	if err := json.Unmarshal(line, &v); err != nil {
		return fmt.Errorf("shard %d sent a malformed violation: %w", shard, err)
	}
	if m.e.closed.Load() {
		return nil
	}
	v.Shard = &shard
	// The generator knows the load faults only; the faults on the target
	// are the coordinator's.
	for _, f := range m.nem.activeFaults() {
		if !slices.Contains(v.Faults, f) {
			v.Faults = append(v.Faults, f)
		}
	}
	if v.Faults == nil {
		v.Faults = []string{}
	}
	m.e.rec.Add(v)
	return nil
}

func (m *merger) Tick(shard int, t ShardTick) error {
	if err := m.check(shard); err != nil {
		return err
	}
	hs := make([]*hdrhistogram.Histogram, len(t.Seconds))
	for i, s := range t.Seconds {
		if s.T < 0 || s.T > maxSecond {
			return fmt.Errorf("shard %d sent second %d, outside any run", shard, s.T)
		}
		if s.Latency == nil {
			continue
		}
		h, err := s.Latency.histogram()
		if err != nil {
			return fmt.Errorf("shard %d, second %d: %w", shard, s.T, err)
		}
		hs[i] = h
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.count(shard, t.Requests, t.LoginAttempts, t.Logins)
	for i, s := range t.Seconds {
		if hs[i] != nil {
			m.e.stats.mergeSecond(s.T, hs[i])
		}
		m.closed[shard] = max(m.closed[shard], s.T)
	}
	m.settle()
	return nil
}

// count moves the run's live counts by what shard did since its last
// report; m.mu is held.
func (m *merger) count(shard int, requests, attempts, logins uint64) {
	l := &m.last[shard]
	add := func(c interface{ Add(uint64) uint64 }, now uint64, before *uint64) {
		if now > *before {
			c.Add(now - *before)
			*before = now
		}
	}
	add(&m.e.seq, requests, &l.Requests)
	attempts0, logins0 := l.LoginAttempts, l.Logins
	add(&m.e.loginAttempts, attempts, &l.LoginAttempts)
	add(&m.e.loginOK, logins, &l.Logins)
	if obs := m.e.observer; obs != nil {
		// The live metrics count logins one by one, as on one machine.
		ok := l.Logins - logins0
		for range ok {
			obs.Login(true)
		}
		for range (l.LoginAttempts - attempts0) - min(ok, l.LoginAttempts-attempts0) {
			obs.Login(false)
		}
	}
}

// settle keeps the percentiles of the seconds every generator still
// running has closed; m.mu is held.
func (m *merger) settle() {
	upTo := math.MaxInt
	for i, c := range m.closed {
		if m.done[i] == nil {
			upTo = min(upTo, c)
		}
	}
	m.e.stats.settle(upTo)
}

func (m *merger) Done(shard int, r *ShardResult) error {
	if err := m.check(shard); err != nil {
		return err
	}
	if r.Shard.Index != shard {
		return fmt.Errorf("shard %d sent the result of shard %d", shard, r.Shard.Index)
	}
	e := m.e
	if err := e.stats.mergeShard(r); err != nil {
		return fmt.Errorf("shard %d: %w", shard, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.count(shard, r.Requests, r.LoginAttempts, r.Logins)
	m.done[shard] = r
	m.settle()
	e.flowFailures.Add(r.FlowFailures)
	if f := r.FirstFailure; f != nil {
		e.firstFlowFailure.CompareAndSwap(nil, &flowFailure{actor: actorID(f.Actor), step: f.Step, why: f.Why})
	}
	e.tokens.claims.Add(r.SessionClaims)
	if r.CachedPrivate > 0 {
		e.cachedPrivate.Add(r.CachedPrivate)
		if f := r.FirstCached; f != nil {
			e.firstCached.CompareAndSwap(nil, &cachedPage{seq: f.Seq, request: f.Request, header: f.Header})
		}
	}
	if r.Panic != nil {
		e.panics.first.CompareAndSwap(nil, r.Panic)
	}
	for k, c := range r.Coverage {
		if k >= len(e.cov) {
			break
		}
		e.cov[k].pages.Add(c.Pages)
		e.cov[k].withOwn.Add(c.WithOwn)
		for f := range c.ByField {
			e.cov[k].byField[f].Add(c.ByField[f])
		}
	}
	e.bounds.Add(r.Nobody, r.Uncorroborated)
	for _, w := range r.Writes {
		if w.User < 0 || w.User >= e.pop.Size() {
			return fmt.Errorf("shard %d: a write of user %d, outside the population", shard, w.User)
		}
		a := e.users.get(w.User)
		a.touched, a.ibanGen, a.ibanUnsure, a.ibanAlt = true, w.Gen, w.Unsure, w.Alt
	}
	for _, n := range r.Notes {
		m.notes = append(m.notes, fmt.Sprintf("shard %d: %s", shard, n))
	}
	return nil
}

// generators returns what each generator did, and the spread of their
// starts; a generator that sent no result is named by err.
func (m *merger) generators(users int, errs map[int]string) ([]GeneratorRecord, *float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]GeneratorRecord, m.n)
	var first, last time.Time
	for i := range out {
		g := &out[i]
		g.Shard = i
		g.Users[0], g.Users[1] = Shard{Index: i, Count: m.n}.Range(users)
		g.Error = errs[i]
		r := m.done[i]
		if r == nil {
			g.Requests, g.Logins = m.last[i].Requests, m.last[i].Logins
			if g.Error == "" {
				g.Error = "sent no result"
			}
			continue
		}
		g.Requests, g.Logins, g.ElapsedS = r.Requests, r.Logins, r.ElapsedS
		if g.Error == "" {
			g.Error = r.Error
		}
		for _, s := range r.Memory {
			g.PeakRSSMB = max(g.PeakRSSMB, s.RSSMB)
		}
		if first.IsZero() || r.StartedAt.Before(first) {
			first = r.StartedAt
		}
		if r.StartedAt.After(last) {
			last = r.StartedAt
		}
	}
	for i := range out {
		if r := m.done[i]; r != nil {
			out[i].StartOffsetMS = float64(r.StartedAt.Sub(first)) / float64(time.Millisecond)
		}
	}
	if first.IsZero() {
		return out, nil
	}
	spread := float64(last.Sub(first)) / float64(time.Millisecond)
	return out, &spread
}

// failed returns the error of every generator that reported one in its
// result, by shard.
func (m *merger) failed() map[int]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[int]string{}
	for i, r := range m.done {
		if r != nil && r.Error != "" {
			out[i] = r.Error
		}
	}
	return out
}

// mergeSecond adds a generator's latencies of second sec.
func (s *stats) mergeSecond(sec int, h *hdrhistogram.Histogram) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.merged == nil {
		s.merged, s.live = map[int]*hdrhistogram.Histogram{}, hdrhistogram.New(histMin, histMax, 2)
	}
	m := s.merged[sec]
	if m == nil {
		m = hdrhistogram.New(histMin, histMax, 2)
		s.merged[sec] = m
	}
	m.Merge(h)
	s.live.Merge(h)
}

// settle keeps the percentiles of the merged seconds up to upTo, which
// every generator has closed, and forgets their histograms: a day-long
// sharded soak keeps a few numbers per second, as a run on one machine.
func (s *stats) settle(upTo int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for sec, h := range s.merged {
		if sec > upTo {
			continue
		}
		for len(s.timeline) <= sec {
			s.timeline = append(s.timeline, second{})
		}
		s.timeline[sec].percentiles(h)
		delete(s.merged, sec)
	}
}

// mergeShard adds a generator's totals: its histograms, errors and
// per-second counts.
func (s *stats) mergeShard(r *ShardResult) error {
	merge := func(into **hdrhistogram.Histogram, h *Histogram) error {
		if h == nil {
			return nil
		}
		hh, err := h.histogram()
		if err != nil {
			return err
		}
		if *into == nil {
			*into = hdrhistogram.New(histMin, histMax, 3)
		}
		(*into).Merge(hh)
		return nil
	}
	if len(r.Timeline) > maxSecond+1 {
		return fmt.Errorf("a timeline of %d seconds, longer than any run", len(r.Timeline))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := merge(&s.all, r.Latency); err != nil {
		return err
	}
	for _, st := range r.Steps {
		if st.Kind < 0 || st.Kind >= len(s.perKind) {
			return fmt.Errorf("a step of kind %d, of %d", st.Kind, len(s.perKind))
		}
		if err := merge(&s.perKind[st.Kind], st.Latency); err != nil {
			return err
		}
		s.errs[st.Kind] += st.Errors
	}
	for sec, c := range r.Timeline {
		for len(s.timeline) <= sec {
			s.timeline = append(s.timeline, second{})
		}
		t := &s.timeline[sec]
		t.Requests += c.Requests
		t.Errors += c.Errors
		t.Authed += c.Authed
	}
	return nil
}

// GeneratorError names the generators of a sharded run that died, stalled
// or failed, with why, by shard.
type GeneratorError struct {
	Shards map[int]string
}

func (e *GeneratorError) Error() string {
	keys := slices.Sorted(maps.Keys(e.Shards))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("generator %d: %s", k, e.Shards[k])
	}
	return strings.Join(parts, "; ")
}

// recordShards fills what a sharded run adds to the record: the
// generators, the spread of their starts, their notes, and where the first
// violation came in the whole run's count of responses.
func (rec *Record) recordShards(m *merger, users int, genErr error, timeline []second) {
	errs := m.failed()
	var ge *GeneratorError
	if errors.As(genErr, &ge) {
		maps.Copy(errs, ge.Shards)
	}
	rec.Workers = m.n
	rec.Generators, rec.StartSpreadMS = m.generators(users, errs)
	rec.Notes = append(rec.Notes, m.notes...)
	if rec.FirstViolation == nil {
		return
	}
	// Violations arrive from the generators in the order the network gave
	// them: the first is the earliest in the run, and its position among
	// all the run's responses is read off the merged timeline (each shard
	// numbers its own).
	for i := range rec.Examples {
		if rec.Examples[i].AtS < rec.FirstViolation.AtS {
			v := rec.Examples[i]
			rec.FirstViolation = &v
		}
	}
	at := rec.FirstViolation.AtS
	var before float64
	for sec, s := range timeline {
		switch {
		case float64(sec+1) <= at:
			before += float64(s.Requests)
		case float64(sec) < at:
			before += float64(s.Requests) * (at - float64(sec))
		}
	}
	seq := uint64(math.Round(before))
	rec.FirstViolationAfterRequests, rec.FirstViolationAfterS = &seq, &at
	rec.Notes = append(rec.Notes, fmt.Sprintf("the run was sharded over %d generators: each numbers its responses (seq, in results.jsonl "+
		"and the evidence, with its shard); first_violation_after_requests is read off the merged timeline", m.n))
}
