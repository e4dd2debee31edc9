// Package evidence holds what the oracles find: the Violation, with what is
// needed to understand and replay it, and the Recorder that counts every
// violation, remembers who leaked and who saw, and streams each one to disk
// as it is found.
package evidence

import (
	"bufio"
	"encoding/json"
	"io"
	"maps"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Anonymous is the viewer id of a request made without any session.
const Anonymous = -1

// Violation is one breach with the evidence needed to understand and replay
// it. Violations are never sampled: every one is counted and streamed.
type Violation struct {
	Oracle  string   `json:"oracle"`
	Seq     uint64   `json:"seq"`  // the response's number in the run, from 1
	AtS     float64  `json:"at_s"` // seconds since the load started
	Viewer  int      `json:"viewer"`
	Owner   int      `json:"owner"`
	Field   string   `json:"field"`
	Value   string   `json:"value"`
	Where   string   `json:"where"` // "body" or "header Name"
	Request string   `json:"request"`
	Status  int      `json:"status,omitempty"`
	Replica string   `json:"replica,omitempty"`
	Cache   string   `json:"cache,omitempty"`
	Excerpt string   `json:"excerpt,omitempty"`
	Faults  []string `json:"faults"`
	Seed    uint64   `json:"seed"`
	Detail  string   `json:"detail,omitempty"`
	// Shard is the generator that saw it, on a run sharded over several;
	// Seq then counts that generator's responses.
	Shard *int `json:"shard,omitempty"`
}

// Recorder counts violations, remembers who leaked and who saw, keeps the
// first few as examples and streams every one as a JSON line. It is safe for
// concurrent use.
type Recorder struct {
	mu       sync.Mutex
	total    uint64
	byOracle map[string]uint64
	first    *Violation
	victims  bitset
	viewers  bitset
	nVictim  int
	nViewer  int
	examples []Violation
	keep     int
	// by counts violations by replica, cache status, step and field;
	// bySecond by second of the run and oracle (seconds with none are
	// absent); pairs by viewer and owner, up to maxPairs pairs.
	by       map[string]map[string]uint64
	bySecond map[int]map[string]uint64
	pairs    map[Pair]uint64
	watch    func(Violation)
	w        *bufio.Writer
	enc      *json.Encoder
	err      error
	// sync is the stream's fsync, when it is a file; synced is when it
	// last ran.
	sync   func() error
	synced time.Time
}

// syncEvery bounds how often the evidence file is fsynced: every violation
// reaches the operating system at once (a killed harness loses none), and
// the disk within this long (a crashed machine loses at most this much).
const syncEvery = 200 * time.Millisecond

// NewRecorder returns a recorder for a population of size users that
// streams to w (nil: no stream), keeps the first keep violations, and counts
// by oracle from zero for each of oracles.
func NewRecorder(size int, w io.Writer, keep int, oracles []string) *Recorder {
	r := &Recorder{byOracle: map[string]uint64{}, victims: newBitset(size), viewers: newBitset(size), keep: keep,
		by: map[string]map[string]uint64{}, bySecond: map[int]map[string]uint64{}, pairs: map[Pair]uint64{}}
	for _, d := range Breakdowns {
		r.by[d] = map[string]uint64{}
	}
	for _, o := range oracles {
		r.byOracle[o] = 0
	}
	if w != nil {
		r.w = bufio.NewWriter(w)
		r.enc = json.NewEncoder(r.w)
		if f, ok := w.(interface{ Sync() error }); ok {
			r.sync = f.Sync
		}
	}
	return r
}

// Add records v.
func (r *Recorder) Add(v Violation) {
	if r.watch != nil {
		defer r.watch(v)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	r.byOracle[v.Oracle]++
	if r.first == nil {
		c := v
		r.first = &c
	}
	if r.victims.set(v.Owner) {
		r.nVictim++
	}
	if r.viewers.set(v.Viewer) {
		r.nViewer++
	}
	if len(r.examples) < r.keep {
		r.examples = append(r.examples, v)
	}
	r.count(v)
	if r.enc != nil && r.err == nil {
		r.err = r.enc.Encode(v)
		if r.err == nil {
			r.err = r.w.Flush()
		}
		if r.err == nil && r.sync != nil && time.Since(r.synced) >= syncEvery {
			r.err, r.synced = r.sync(), time.Now()
		}
	}
}

// Breakdowns are the dimensions violations are counted by.
var Breakdowns = []string{"replica", "cache", "step", "field"}

// Pair is who saw whose data: a viewer (Anonymous for an anonymous
// request) and the owner of the data.
type Pair struct {
	Viewer int `json:"viewer"`
	Owner  int `json:"owner"`
}

// maxPairs bounds the viewer → owner table: past it, new pairs are counted
// under Pair{Anonymous, Anonymous} ("others").
const maxPairs = 10_000

// count adds v to the breakdowns.
func (r *Recorder) count(v Violation) {
	orNone := func(s string) string {
		if s == "" {
			return "none"
		}
		return s
	}
	r.by["replica"][orNone(v.Replica)]++
	r.by["cache"][orNone(v.Cache)]++
	r.by["step"][orNone(v.Request)]++
	r.by["field"][orNone(v.Field)]++
	sec := int(max(v.AtS, 0))
	if r.bySecond[sec] == nil {
		r.bySecond[sec] = map[string]uint64{}
	}
	r.bySecond[sec][v.Oracle]++
	p := Pair{v.Viewer, v.Owner}
	if _, ok := r.pairs[p]; !ok && len(r.pairs) >= maxPairs {
		p = Pair{Anonymous, Anonymous}
	}
	r.pairs[p]++
}

// Watch has f called with every violation added from now on, outside the
// recorder's lock (live metrics). Call it before the first Add.
func (r *Recorder) Watch(f func(Violation)) { r.watch = f }

// Counts returns the violations, victims and viewers so far.
func (r *Recorder) Counts() (total uint64, victims, viewers int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total, r.nVictim, r.nViewer
}

// Total returns the number of violations so far.
func (r *Recorder) Total() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}

// Summary is what a Recorder learnt.
type Summary struct {
	Total    uint64
	ByOracle map[string]uint64
	Victims  int // distinct users whose data reached someone else
	Viewers  int // distinct users who received foreign data (anonymous not counted)
	First    *Violation
	Examples []Violation
	// By counts by each of Breakdowns; BySecond by second and oracle;
	// Pairs by viewer and owner.
	By       map[string]map[string]uint64
	BySecond map[int]map[string]uint64
	Pairs    map[Pair]uint64
}

// Close flushes the stream and returns the summary; the first write error,
// if any, is returned too: evidence must never be lost silently.
func (r *Recorder) Close() (Summary, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.w != nil && r.err == nil {
		r.err = r.w.Flush()
	}
	if r.sync != nil && r.err == nil {
		r.err = r.sync()
	}
	by := make(map[string]uint64, len(r.byOracle))
	for k, v := range r.byOracle {
		by[k] = v
	}
	return Summary{Total: r.total, ByOracle: by, Victims: r.nVictim, Viewers: r.nViewer, First: r.first,
		Examples: append([]Violation(nil), r.examples...), By: cloneNested(r.by), BySecond: cloneNested(r.bySecond), Pairs: maps.Clone(r.pairs)}, r.err
}

func cloneNested[K comparable](m map[K]map[string]uint64) map[K]map[string]uint64 {
	c := make(map[K]map[string]uint64, len(m))
	for k, v := range m {
		c[k] = maps.Clone(v)
	}
	return c
}

// bitset marks users, in pages allocated as they are first marked: a run
// on the 13.6 million users of the CAF incident holds the pages of its
// victims and viewers, not a bit per user of the population (a generator's
// memory does not grow with the population).
type bitset struct {
	n     int
	pages []*[bitPage / 64]uint64
}

const bitPage = 1 << 16

func newBitset(n int) bitset { return bitset{n: n, pages: make([]*[bitPage / 64]uint64, n/bitPage+1)} }

// set marks i and reports whether it was new; out-of-range ids (anonymous)
// are ignored.
func (b bitset) set(i int) bool {
	if i < 0 || i >= b.n {
		return false
	}
	p := b.pages[i/bitPage]
	if p == nil {
		p = new([bitPage / 64]uint64)
		b.pages[i/bitPage] = p
	}
	j := i % bitPage
	w, m := &p[j/64], uint64(1)<<(j%64)
	if *w&m != 0 {
		return false
	}
	*w |= m
	return true
}

// Excerpt returns up to context bytes either side of b[start:end], the value
// itself marked with » and «, as one printable line.
func Excerpt(b []byte, start, end, context int) string {
	from, to := max(0, start-context), min(len(b), end+context)
	var s strings.Builder
	s.WriteString(printable(b[from:start]))
	s.WriteString("»")
	s.WriteString(printable(b[start:end]))
	s.WriteString("«")
	s.WriteString(printable(b[end:to]))
	return s.String()
}

func printable(b []byte) string {
	s := strings.ToValidUTF8(string(b), "?")
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == utf8.RuneError {
			return ' '
		}
		return r
	}, s)
}
