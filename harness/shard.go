package harness

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// A run can be split into shards, one per load generator: shard i of n
// drives only its range of the population, at 1/n of the rate profile, and
// judges every response against every user (the population decodes without
// a table, so each generator can attribute any value it meets). The
// coordinator starts the target, applies the fault schedule once, merges
// what the generators stream and gives the one verdict; the generators run
// RunShard. This file holds what both sides share: the shard, the
// assignment a generator receives, and what it sends back.

// Shard is one generator's part of a run: Index of Count, from 0.
type Shard struct {
	Index int `json:"index"`
	Count int `json:"count"`
}

// Range returns the users [from, to) that shard s drives in a population of
// users: consecutive ranges, every user in exactly one shard.
func (s Shard) Range(users int) (from, to int) {
	n := max(s.Count, 1)
	return s.Index * users / n, (s.Index + 1) * users / n
}

// Validate checks the shard against itself.
func (s Shard) Validate() error {
	if s.Count < 1 || s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("shard %d of %d: want 0 <= index < count", s.Index, s.Count)
	}
	return nil
}

// Assignment is what the coordinator hands one generator: the scenario as
// the coordinator resolved it (overrides and completed flows included), the
// stack's URLs, its shard and the run's options that shape the load.
type Assignment struct {
	Shard    Shard             `json:"shard"`
	Scenario json.RawMessage   `json:"scenario"`
	Faults   []ShardFault      `json:"faults,omitempty"`
	Base     string            `json:"base"`
	Hosts    map[string]string `json:"hosts,omitempty"`
	// AllowHosts are the non-loopback hosts the user allowed; the
	// generator checks every URL against them itself.
	AllowHosts []string `json:"allow_hosts,omitempty"`
	Wire       WireSpec `json:"wire"`
	MaxWorkers uint64   `json:"max_workers,omitempty"`
	Examples   int      `json:"examples,omitempty"`
}

// ShardFault is one scheduled fault, with its parameters, as JSON.
type ShardFault struct {
	Type   string          `json:"type"`
	At     When            `json:"at"`
	For    When            `json:"for"`
	Params json.RawMessage `json:"params"`
}

// NewAssignment returns the assignment of shard s of the run of sc against
// the stack at base.
func NewAssignment(sc *Scenario, s Shard, base string, hosts map[string]string, opt Options) (Assignment, error) {
	plain := *sc
	plain.Faults = nil // sent with their parameters, below
	b, err := json.Marshal(&plain)
	if err != nil {
		return Assignment{}, fmt.Errorf("encoding the scenario for the generators: %w", err)
	}
	a := Assignment{Shard: s, Scenario: b, Base: base, Hosts: hosts, AllowHosts: opt.AllowHosts, Wire: opt.Wire,
		MaxWorkers: opt.MaxWorkers, Examples: opt.Examples}
	for _, f := range sc.Faults {
		params, err := json.Marshal(f.Fault)
		if err != nil {
			return Assignment{}, fmt.Errorf("encoding fault %s: %w", f.Name(), err)
		}
		a.Faults = append(a.Faults, ShardFault{Type: f.Type, At: f.At, For: f.For, Params: params})
	}
	return a, nil
}

// Decode returns the scenario of the assignment, faults included.
func (a Assignment) Decode() (*Scenario, error) {
	sc := &Scenario{}
	if err := json.Unmarshal(a.Scenario, sc); err != nil {
		return nil, BadInput("assignment: the scenario does not decode: %v", err)
	}
	for i, f := range a.Faults {
		fault, err := NewFault(f.Type)
		if err != nil {
			return nil, BadInput("assignment: faults[%d]: %v", i, err)
		}
		if err := json.Unmarshal(f.Params, fault); err != nil {
			return nil, BadInput("assignment: faults[%d] (%s): %v", i, f.Type, err)
		}
		sc.Faults = append(sc.Faults, FaultSpec{Type: f.Type, At: f.At, For: f.For, Fault: fault, Path: fmt.Sprintf("faults[%d]", i)})
	}
	return sc, nil
}

// ShardTick is what a generator sends once a second: its counts so far, for
// the live progress, and the latencies of the seconds it closed.
type ShardTick struct {
	Requests      uint64 `json:"requests"`
	LoginAttempts uint64 `json:"login_attempts"`
	Logins        uint64 `json:"logins"`
	// Seconds are the seconds of the run this generator closed since the
	// last tick, with their latency histograms.
	Seconds []ShardSecond `json:"seconds,omitempty"`
}

// ShardSecond is one closed second of one generator.
type ShardSecond struct {
	T       int        `json:"t"`
	Latency *Histogram `json:"latency"`
}

// ShardResult is everything a generator established, sent once its load
// ended: what the coordinator merges into the run's one record. Counts are
// totals; histograms are whole, to be merged, never averaged.
type ShardResult struct {
	Shard     Shard   `json:"shard"`
	Requests  uint64  `json:"requests"`
	ElapsedS  float64 `json:"elapsed_s"`
	Interrupt bool    `json:"interrupted,omitempty"`
	// StartedAt is when this generator's load began, by its own clock.
	StartedAt     time.Time          `json:"started_at"`
	LoginAttempts uint64             `json:"login_attempts"`
	Logins        uint64             `json:"logins"`
	FlowFailures  uint64             `json:"flow_failures"`
	FirstFailure  *ShardFailure      `json:"first_flow_failure,omitempty"`
	SessionClaims uint64             `json:"session_claims"`
	CachedPrivate uint64             `json:"cached_private"`
	FirstCached   *ShardCached       `json:"first_cached,omitempty"`
	Panic         *PanicRecord       `json:"panic,omitempty"`
	Notes         []string           `json:"notes,omitempty"`
	Latency       *Histogram         `json:"latency"`
	Steps         []ShardStep        `json:"steps"`
	Timeline      []ShardSecondCount `json:"timeline"`
	// Coverage is, by kind of request, the pages and own-value counts of
	// the coverage oracle.
	Coverage []ShardCoverage `json:"coverage"`
	// Canaries are the values of nobody and the uncorroborated values met,
	// by field.
	Nobody         [8]uint64 `json:"values_of_nobody"`
	Uncorroborated [8]uint64 `json:"uncorroborated"`
	// Writes are the accounts this generator's users wrote, for the writes
	// oracle the coordinator runs.
	Writes []ShardWrite   `json:"writes,omitempty"`
	Memory []MemorySample `json:"memory,omitempty"`
	// Error is why the generator could not complete its load, with the
	// class of that error.
	Error string `json:"error,omitempty"`
	Class Class  `json:"class,omitempty"`
}

// ShardFailure is a generator's first flow failure.
type ShardFailure struct {
	Actor int    `json:"actor"`
	Step  string `json:"step"`
	Why   string `json:"why"`
}

// ShardCached is the first private page a generator was served from a
// shared cache.
type ShardCached struct {
	Seq     uint64 `json:"seq"`
	Request string `json:"request"`
	Header  string `json:"header"`
}

// ShardStep is one kind of request of one generator.
type ShardStep struct {
	Kind    int        `json:"kind"`
	Errors  uint64     `json:"errors"`
	Latency *Histogram `json:"latency,omitempty"`
}

// ShardSecondCount is the counts of one second of one generator.
type ShardSecondCount struct {
	Requests uint64 `json:"r,omitempty"`
	Errors   uint64 `json:"e,omitempty"`
	Authed   uint64 `json:"a,omitempty"`
}

// ShardCoverage is the coverage counts of one kind of request.
type ShardCoverage struct {
	Pages   uint64    `json:"pages,omitempty"`
	WithOwn uint64    `json:"with_own,omitempty"`
	ByField [8]uint64 `json:"by_field"`
}

// ShardWrite is the last bank-detail write of one user.
type ShardWrite struct {
	User   int    `json:"user"`
	Gen    uint16 `json:"gen"`
	Unsure bool   `json:"unsure,omitempty"`
	Alt    uint16 `json:"alt,omitempty"`
}

// Histogram is an HDR histogram as it travels between generator and
// coordinator: its bucket counts, sparse. Merging two is exact, which
// averaging their percentiles never is.
type Histogram struct {
	Sig    int64      `json:"sig"`
	Counts [][2]int64 `json:"counts"` // [bucket index, count], non-zero only
}

// exportHistogram returns h for the wire; nil for an empty or nil one.
func exportHistogram(h *hdrhistogram.Histogram) *Histogram {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	s := h.Export()
	out := &Histogram{Sig: s.SignificantFigures}
	for i, c := range s.Counts {
		if c != 0 {
			out.Counts = append(out.Counts, [2]int64{int64(i), c})
		}
	}
	return out
}

// histogram returns h as an HDR histogram of the harness's range.
func (h *Histogram) histogram() (*hdrhistogram.Histogram, error) {
	if h.Sig < 1 || h.Sig > 5 {
		return nil, fmt.Errorf("histogram: %d significant figures", h.Sig)
	}
	probe := hdrhistogram.New(histMin, histMax, int(h.Sig))
	counts := make([]int64, len(probe.Export().Counts))
	for _, c := range h.Counts {
		if c[0] < 0 || c[0] >= int64(len(counts)) || c[1] < 0 {
			return nil, fmt.Errorf("histogram: bucket %d (of %d) count %d", c[0], len(counts), c[1])
		}
		counts[c[0]] = c[1]
	}
	return hdrhistogram.Import(&hdrhistogram.Snapshot{LowestTrackableValue: histMin, HighestTrackableValue: histMax,
		SignificantFigures: h.Sig, Counts: counts}), nil
}
