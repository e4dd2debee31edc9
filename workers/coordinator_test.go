package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// feed records what the coordinator hands the harness.
type feed struct {
	mu         sync.Mutex
	began      bool
	results    bytes.Buffer
	violations []string
	ticks      int
	done       map[int]*harness.ShardResult
}

func (f *feed) Begin(time.Time) { f.mu.Lock(); f.began = true; f.mu.Unlock() }
func (f *feed) Results(_ int, b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.results.Write(b)
	return nil
}
func (f *feed) Violation(_ int, b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.violations = append(f.violations, string(b))
	return nil
}
func (f *feed) Tick(int, harness.ShardTick) error { f.mu.Lock(); f.ticks++; f.mu.Unlock(); return nil }
func (f *feed) Done(i int, r *harness.ShardResult) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done == nil {
		f.done = map[int]*harness.ShardResult{}
	}
	f.done[i] = r
	return nil
}

// fakeWorker speaks the protocol by hand, to misbehave on purpose.
type fakeWorker struct {
	t     *testing.T
	url   string
	shard string
}

func (w fakeWorker) get(path string) (int, string) {
	resp, err := http.Get(w.url + path + "?shard=" + w.shard)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (w fakeWorker) ready() int {
	resp, err := http.Post(w.url+"/v1/ready?shard="+w.shard, "", nil)
	require.NoError(w.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// stream posts body as the worker's stream and returns the status.
func (w fakeWorker) stream(body io.Reader) int {
	resp, err := http.Post(w.url+"/v1/stream?shard="+w.shard, "application/octet-stream", body)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func frames(t *testing.T, fs ...any) []byte {
	var b bytes.Buffer
	for i := 0; i < len(fs); i += 2 {
		var payload []byte
		switch p := fs[i+1].(type) {
		case string:
			payload = []byte(p)
		default:
			var err error
			payload, err = json.Marshal(p)
			require.NoError(t, err)
		}
		require.NoError(t, writeFrame(&b, fs[i].(byte), payload))
	}
	return b.Bytes()
}

func newCoordinator(t *testing.T, n int) *Coordinator {
	c, err := New(Config{Workers: n, ReadyTimeout: 3 * time.Second, Stall: 500 * time.Millisecond, Lead: 10 * time.Millisecond})
	require.NoError(t, err)
	return c
}

func startDrive(c *Coordinator, f *feed) chan error {
	done := make(chan error, 1)
	as := make([]harness.Assignment, c.Shards())
	for i := range as {
		as[i] = harness.Assignment{Shard: harness.Shard{Index: i, Count: len(as)}, Base: "http://127.0.0.1:1"}
	}
	go func() { done <- c.Drive(context.Background(), as, f) }()
	return done
}

// One worker ends well: its lines (split across frames) reach the harness
// whole, its result last. The other dies mid-frame, and a third stalls:
// the run names both, with why, and keeps the first one's result.
func TestCoordinatorNamesDeadAndStalledWorkers(t *testing.T) {
	c := newCoordinator(t, 3)
	f := &feed{}
	done := startDrive(c, f)
	var wg sync.WaitGroup
	for i := range 3 {
		w := fakeWorker{t: t, url: c.URL(), shard: string(rune('0' + i))}
		code, body := w.get("/v1/assignment")
		require.Equal(t, http.StatusOK, code, body)
		wg.Go(func() { assert.Equal(t, http.StatusOK, w.ready()) })
	}
	wg.Wait()

	good := fakeWorker{t: t, url: c.URL(), shard: "0"}
	assert.Equal(t, http.StatusNoContent, good.stream(bytes.NewReader(frames(t,
		frameResults, `{"shard":0,"seq":1}`+"\n"+`{"shard":0,`, frameResults, `"seq":2}`+"\n",
		frameViolation, `{"oracle":"isolation","viewer":1,"owner":2}`+"\n",
		frameTick, harness.ShardTick{Requests: 2},
		frameDone, harness.ShardResult{Shard: harness.Shard{Index: 0, Count: 3}, Requests: 2}))))

	cut := frames(t, frameTick, harness.ShardTick{Requests: 1}, frameResults, "0123456789")
	dead := fakeWorker{t: t, url: c.URL(), shard: "1"}
	dead.stream(bytes.NewReader(cut[:len(cut)-4]))

	pr, pw := io.Pipe()
	stalled := fakeWorker{t: t, url: c.URL(), shard: "2"}
	go stalled.stream(pr)
	_, _ = pw.Write(frames(t, frameTick, harness.ShardTick{Requests: 1}))

	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the coordinator never gave up on the stalled worker")
	}
	pw.Close()
	var ge *harness.GeneratorError
	require.ErrorAs(t, err, &ge)
	assert.NotContains(t, ge.Shards, 0)
	assert.Contains(t, ge.Shards[1], "died")
	assert.Contains(t, ge.Shards[2], "stalled")
	assert.Equal(t, "{\"shard\":0,\"seq\":1}\n{\"shard\":0,\"seq\":2}\n", f.results.String())
	assert.Equal(t, []string{`{"oracle":"isolation","viewer":1,"owner":2}`}, f.violations)
	assert.Contains(t, f.done, 0)
}

// A worker that never comes fails the run before the load begins; those
// waiting at the barrier are refused, not left hanging.
func TestCoordinatorGivesUpOnAMissingWorker(t *testing.T) {
	c, err := New(Config{Workers: 2, ReadyTimeout: 500 * time.Millisecond})
	require.NoError(t, err)
	f := &feed{}
	done := startDrive(c, f)
	w := fakeWorker{t: t, url: c.URL(), shard: "0"}
	assert.Equal(t, http.StatusServiceUnavailable, w.ready())
	err = <-done
	var ge *harness.GeneratorError
	require.ErrorAs(t, err, &ge)
	assert.Contains(t, ge.Shards[1], "not ready within")
	assert.False(t, f.began)
}

// What a worker sends that cannot be trusted is refused with a reason:
// a shard out of range, an unknown frame, a frame too large, a result that
// does not decode.
func TestCoordinatorRefusesMalformedStreams(t *testing.T) {
	c := newCoordinator(t, 1)
	f := &feed{}
	done := startDrive(c, f)
	code, body := fakeWorker{t: t, url: c.URL(), shard: "7"}.get("/v1/assignment")
	assert.Equal(t, http.StatusBadRequest, code)
	assert.Contains(t, body, `shard "7": want 0 to 0`)
	w := fakeWorker{t: t, url: c.URL(), shard: "0"}
	require.Equal(t, http.StatusOK, w.ready())
	assert.Equal(t, http.StatusBadRequest, w.stream(strings.NewReader("X\x00\x00\x00\x01x")))
	err := <-done
	var ge *harness.GeneratorError
	require.ErrorAs(t, err, &ge)
	assert.Contains(t, ge.Shards[0], `unknown frame type 'X'`)

	var big bytes.Buffer
	big.Write([]byte{frameTick, 0xff, 0xff, 0xff, 0xff})
	_, _, err = readFrame(&big, nil)
	assert.ErrorContains(t, err, "exceeds")
	_, _, err = readFrame(bytes.NewReader(frames(t, frameDone, "{")[:3]), nil)
	assert.ErrorContains(t, err, "cut inside a frame header")
	assert.True(t, errors.Is(func() error { _, _, err := readFrame(bytes.NewReader(nil), nil); return err }(), io.EOF))
}

// An address in use is bad input naming it, before any worker starts.
func TestCoordinatorListenInUse(t *testing.T) {
	c := newCoordinator(t, 1)
	defer c.Close()
	addr := strings.TrimPrefix(c.URL(), "http://")
	_, err := New(Config{Workers: 1, Listen: addr})
	require.Error(t, err)
	assert.Equal(t, harness.ClassBadInput, harness.ClassOf(err))
	assert.Contains(t, err.Error(), addr)
	_, err = New(Config{Workers: 0})
	assert.ErrorContains(t, err, "--workers 0")
}
