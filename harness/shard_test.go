package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// Every user belongs to exactly one shard, in ranges that differ in size by
// one at most.
func TestShardsCoverThePopulationOnce(t *testing.T) {
	for _, users := range []int{1, 7, 100, 13_600_000} {
		for _, n := range []int{1, 2, 3, 4, 7} {
			if n > users {
				continue
			}
			next, smallest, largest := 0, users, 0
			for i := range n {
				from, to := Shard{Index: i, Count: n}.Range(users)
				require.Equal(t, next, from, "users %d, shard %d of %d starts where the last ended", users, i, n)
				require.Greater(t, to, from, "users %d, shard %d of %d drives somebody", users, i, n)
				smallest, largest, next = min(smallest, to-from), max(largest, to-from), to
			}
			assert.Equal(t, users, next, "users %d over %d shards: the last ends at the population's end", users, n)
			assert.LessOrEqual(t, largest-smallest, 1)
		}
	}
	assert.Error(t, Shard{Index: 3, Count: 3}.Validate())
	assert.Error(t, Shard{Index: 0, Count: 0}.Validate())
}

// A scenario, faults included, reaches a generator as the coordinator had
// it; the generator's share of the load is 1/n of the rate and of the
// request bound.
func TestAssignmentCarriesTheScenario(t *testing.T) {
	sc := gateScenario(t, 40)
	spike, err := NewFault("load-spike")
	require.NoError(t, err)
	spike.(*loadSpike).Factor = 3
	sc.Faults = []FaultSpec{{Type: "load-spike", At: When{Frac: 0.25, Set: true}, For: When{Abs: time.Second, Set: true}, Fault: spike}}
	a, err := NewAssignment(sc, Shard{Index: 1, Count: 4}, "http://127.0.0.1:1", map[string]string{"idp": "http://127.0.0.1:2"}, Options{})
	require.NoError(t, err)
	b, err := json.Marshal(a)
	require.NoError(t, err)
	var got Assignment
	require.NoError(t, json.Unmarshal(b, &got))
	back, err := got.Decode()
	require.NoError(t, err)
	require.Len(t, back.Faults, 1)
	assert.Equal(t, "load-spike(factor=3)", back.Faults[0].Name())
	assert.Equal(t, sc.Faults[0].At, back.Faults[0].At)
	back.Faults, sc.Faults = nil, nil
	assert.Equal(t, sc, back)

	scaleToShard(back, 4)
	assert.InDelta(t, sc.Rate.Max()/4, back.Rate.Max(), 1e-9)
	assert.Equal(t, uint64(DefaultMaxRequests/4), back.MaxRequests)

	_, err = Assignment{Scenario: []byte(`{"name":`)}.Decode()
	assert.ErrorContains(t, err, "does not decode")
	_, err = Assignment{Scenario: []byte(`{}`), Faults: []ShardFault{{Type: "meteor"}}}.Decode()
	assert.ErrorContains(t, err, "meteor")
}

// A histogram survives the wire bucket for bucket.
func TestHistogramOnTheWire(t *testing.T) {
	h := hdrhistogram.New(histMin, histMax, 3)
	for v := int64(1); v < 2_000_000; v = v*3/2 + 1 {
		require.NoError(t, h.RecordValues(v, v%7+1))
	}
	b, err := json.Marshal(exportHistogram(h))
	require.NoError(t, err)
	var w Histogram
	require.NoError(t, json.Unmarshal(b, &w))
	back, err := w.histogram()
	require.NoError(t, err)
	assert.True(t, h.Equals(back))
	assert.Nil(t, exportHistogram(hdrhistogram.New(histMin, histMax, 3)), "an empty histogram is not sent")
	_, err = (&Histogram{Sig: 3, Counts: [][2]int64{{1 << 40, 1}}}).histogram()
	assert.ErrorContains(t, err, "bucket")
	_, err = (&Histogram{Sig: 9}).histogram()
	assert.Error(t, err)
}

// The coordinator merges the generators' histograms, never their
// percentiles: one fast shard and one slow one give the p99 of all their
// responses together (the slow one's), where the average of the two p99s
// would be half of it. Counts are summed, users and steps included.
func TestMergedLatencyIsTheSumOfTheShards(t *testing.T) {
	e := testEngine(t, 100, apiFlow())
	m := newMerger(e, newNemesis(nil, nil, time.Minute), 2)
	fast, slow := hdrhistogram.New(histMin, histMax, 3), hdrhistogram.New(histMin, histMax, 3)
	for range 980 {
		require.NoError(t, fast.RecordValue(1_000)) // 1 ms
	}
	for range 20 {
		require.NoError(t, slow.RecordValue(400_000)) // 400 ms
	}
	k := int(firstFlowKind)
	results := []*ShardResult{
		{Shard: Shard{0, 2}, Requests: 980, Latency: exportHistogram(fast), Steps: []ShardStep{{Kind: k, Latency: exportHistogram(fast)}},
			Timeline: []ShardSecondCount{{Requests: 980, Authed: 10}}, Coverage: make([]ShardCoverage, len(e.cov))},
		{Shard: Shard{1, 2}, Requests: 20, Latency: exportHistogram(slow), Steps: []ShardStep{{Kind: k, Errors: 2, Latency: exportHistogram(slow)}},
			Timeline: []ShardSecondCount{{Requests: 14}, {Requests: 6, Errors: 2}}, Writes: []ShardWrite{{User: 60, Gen: 2}}},
	}
	for i, r := range results {
		require.NoError(t, m.Done(i, r))
	}
	sum := hdrhistogram.New(histMin, histMax, 3)
	sum.Merge(fast)
	sum.Merge(slow)
	assert.True(t, sum.Equals(e.stats.all), "the merged histogram is the sum of the shards'")
	assert.Equal(t, uint64(1000), e.seq.Load())
	lat, errs, steps, timeline := e.stats.summary(e.kinds)
	assert.Equal(t, uint64(2), errs)
	require.Len(t, steps, 1)
	assert.Equal(t, int64(1000), steps[0].Requests)
	assert.InDelta(t, 1.0, lat.P50, 0.01)
	assert.InDelta(t, 400, lat.P99, 1, "p99 of all responses, not the average of two p99s")
	require.Len(t, timeline, 2)
	assert.Equal(t, uint64(994), timeline[0].Requests, "980 + 14")
	assert.Equal(t, uint64(2), timeline[1].Errors)
	assert.True(t, e.users.get(60).touched, "a shard's writes are audited by the coordinator")

	assert.ErrorContains(t, m.Done(5, &ShardResult{}), "shard 5")
	assert.ErrorContains(t, m.Done(1, &ShardResult{Shard: Shard{0, 2}}), "sent the result of shard 0")
	assert.Error(t, m.Tick(0, ShardTick{Seconds: []ShardSecond{{T: -1}}}))
	assert.Error(t, m.Violation(0, []byte(`{"oracle":`)))
}

// Violations from different shards count their victims and viewers once
// over the whole run, with the faults the coordinator had applied.
func TestMergedViolationsCountDistinctUsers(t *testing.T) {
	e := testEngine(t, 100, apiFlow())
	nem := newNemesis(nil, nil, time.Minute)
	names := []string{"store-flush(sessions)"}
	nem.active.Store(&names)
	m := newMerger(e, nem, 3)
	for shard, line := range []string{
		`{"oracle":"isolation","seq":3,"viewer":1,"owner":70,"field":"nir","faults":["load-spike(factor=2)"]}`,
		`{"oracle":"isolation","seq":9,"viewer":40,"owner":70,"field":"iban","faults":[]}`,
		`{"oracle":"isolation","seq":2,"viewer":80,"owner":1,"field":"nir","faults":[]}`,
	} {
		require.NoError(t, m.Violation(shard, []byte(line)))
	}
	sum, err := e.rec.Close()
	require.NoError(t, err)
	assert.Equal(t, uint64(3), sum.Total)
	assert.Equal(t, 2, sum.Victims, "user 70 is counted once though two shards saw it leak")
	assert.Equal(t, 3, sum.Viewers)
	require.NotNil(t, sum.First.Shard)
	assert.Equal(t, 0, *sum.First.Shard)
	assert.Equal(t, []string{"load-spike(factor=2)", "store-flush(sessions)"}, sum.First.Faults)
}

// inProcess runs each shard's RunShard in a goroutine of the test, its sink
// feeding the coordinator's merger directly: the harness's side of a
// sharded run, without the workers package's processes and protocol.
type inProcess struct{ n int }

func (g inProcess) Shards() int { return g.n }

func (g inProcess) Drive(ctx context.Context, as []Assignment, feed ShardFeed) error {
	start := time.Now().Add(100 * time.Millisecond)
	feed.Begin(start)
	errs := make([]error, len(as))
	var wg sync.WaitGroup
	for i, a := range as {
		wg.Go(func() {
			sink := &feedSink{i: i, feed: feed}
			r, err := RunShard(ctx, a, sink, func(context.Context) (time.Time, error) { return start, nil })
			if err == nil {
				err = feed.Done(i, r)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

type feedSink struct {
	i    int
	feed ShardFeed
	mu   sync.Mutex
	res  []byte
	vio  []byte
}

type funcWriter func([]byte) (int, error)

func (f funcWriter) Write(b []byte) (int, error) { return f(b) }

// whole returns the whole lines of *buf after appending b, keeping the
// rest.
func whole(buf *[]byte, b []byte) []byte {
	*buf = append(*buf, b...)
	i := bytes.LastIndexByte(*buf, '\n')
	if i < 0 {
		return nil
	}
	out := append([]byte(nil), (*buf)[:i+1]...)
	*buf = append((*buf)[:0], (*buf)[i+1:]...)
	return out
}

func (s *feedSink) Results() io.Writer {
	return funcWriter(func(b []byte) (int, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if l := whole(&s.res, b); l != nil {
			return len(b), s.feed.Results(s.i, l)
		}
		return len(b), nil
	})
}

func (s *feedSink) Violations() io.Writer {
	return funcWriter(func(b []byte) (int, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, l := range bytes.Split(whole(&s.vio, b), []byte{'\n'}) {
			if len(l) > 0 {
				if err := s.feed.Violation(s.i, l); err != nil {
					return 0, err
				}
			}
		}
		return len(b), nil
	})
}

func (s *feedSink) Tick(t ShardTick) error { return s.feed.Tick(s.i, t) }

// A run sharded over three generators finds the leak of a portal written
// for the test and applies its fault once, for the whole run; on the
// correct portal it passes, its counts the sum of the generators'.
func TestShardedRunHasOneVerdict(t *testing.T) {
	for _, leak := range []bool{true, false} {
		sc := gateScenario(t, 60)
		if !leak {
			sc.Faults = nil
		}
		pop, err := population.New(sc.Seed, sc.Users, population.DefaultMix)
		require.NoError(t, err)
		srv := httptest.NewServer(&jsonPortal{pop: pop, leak: leak, tokens: map[string]int{}, last: -1})
		target := &portalTarget{srv: srv}
		out := t.TempDir()
		rec, err := Run(t.Context(), sc, target, Options{Out: out, Generators: inProcess{n: 3}})
		srv.Close()
		require.NotNil(t, rec)
		assert.Equal(t, 3, rec.Workers)
		require.Len(t, rec.Generators, 3)
		var sum uint64
		for i, g := range rec.Generators {
			assert.Equal(t, [2]int{i * 20, (i + 1) * 20}, g.Users)
			assert.Greater(t, g.Requests, uint64(0), "generator %d drove its users", i)
			sum += g.Requests
		}
		// The coordinator's preflight took one user through the flow (two
		// requests) before the generators began.
		assert.Equal(t, rec.Requests, sum+2, "the run's requests are the generators' and the preflight's")
		var steps int64
		for _, s := range rec.Steps {
			steps += s.Requests
		}
		assert.Equal(t, int64(rec.Requests), steps)
		require.NotNil(t, rec.StartSpreadMS)
		lines, err := os.ReadFile(filepath.Join(out, "results.jsonl"))
		require.NoError(t, err)
		assert.Equal(t, int(rec.Requests), bytes.Count(lines, []byte("\n")), "every generator's results in one file")
		assert.Equal(t, int(sum), bytes.Count(lines, []byte(`{"shard":`)))
		if leak {
			require.NoError(t, err)
			assert.Equal(t, VerdictFail, rec.Verdict)
			assert.Positive(t, rec.Victims)
			target.mu.Lock()
			assert.Equal(t, 2, target.reloads, "the fault applied once and healed once, by the coordinator")
			target.mu.Unlock()
			require.Len(t, rec.Faults, 1)
		} else {
			assert.Equal(t, VerdictPass, rec.Verdict, rec.Reason)
			assert.Zero(t, rec.Violations)
		}
	}
}
