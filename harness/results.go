package harness

import (
	"bufio"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// resultSink streams one JSON line per response to disk as the run goes, so
// that a long soak keeps nothing in memory and a crash loses at most one
// buffer. Lines are formatted by hand: encoding/json's reflection would cost
// more than the request itself. It is safe for concurrent use.
type resultSink struct {
	mu      sync.Mutex
	w       *bufio.Writer
	buf     []byte
	err     error
	flushed time.Time
	// open begins every line: `{"seq":`, or with the shard of a generator.
	open string
}

// flushEvery bounds how long a result waits in the buffer: a watcher
// tailing results.jsonl, or a harness killed mid-run, sees all but the last
// second.
const flushEvery = time.Second

func newResultSink(w io.Writer) *resultSink {
	return &resultSink{w: bufio.NewWriterSize(w, 256<<10), buf: make([]byte, 0, 512), flushed: time.Now(), open: `{"seq":`}
}

// tag marks every line with the generator's shard: the lines of a sharded
// run's generators meet in one results.jsonl, each numbered in its shard.
func (s *resultSink) tag(shard int) {
	if s != nil {
		s.open = `{"shard":` + strconv.Itoa(shard) + `,"seq":`
	}
}

// write records one response: n bytes came off the wire, decoded of them
// after undoing the content coding.
func (s *resultSink) write(seq uint64, at time.Duration, uid int, step string, req *http.Request, status int, lat time.Duration, n, decoded int, replica string, login int8, err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	b := s.buf[:0]
	b = append(b, s.open...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendFloat(b, at.Seconds(), 'f', 4, 64)
	b = append(b, `,"user":`...)
	b = strconv.AppendInt(b, int64(uid), 10)
	b = append(b, `,"step":"`...)
	b = append(b, step...)
	b = append(b, `","method":"`...)
	b = append(b, req.Method...)
	b = append(b, `","path":`...)
	b = strconv.AppendQuote(b, req.URL.Path)
	b = append(b, `,"code":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"lat_ms":`...)
	b = strconv.AppendFloat(b, float64(lat)/float64(time.Millisecond), 'f', 3, 64)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(n), 10)
	if decoded != n {
		b = append(b, `,"decoded":`...)
		b = strconv.AppendInt(b, int64(decoded), 10)
	}
	if replica != "" {
		b = append(b, `,"replica":`...)
		b = strconv.AppendQuote(b, replica)
	}
	switch login {
	case 1:
		b = append(b, `,"login":true`...)
	case -1:
		b = append(b, `,"login":false`...)
	}
	if err != nil {
		b = append(b, `,"error":`...)
		b = strconv.AppendQuote(b, err.Error())
	}
	b = append(b, "}\n"...)
	_, s.err = s.w.Write(b)
	s.buf = b
	if s.err == nil && time.Since(s.flushed) >= flushEvery {
		s.err, s.flushed = s.w.Flush(), time.Now()
	}
}

// writeRaw appends whole lines written elsewhere (by a generator).
func (s *resultSink) writeRaw(lines []byte) error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		_, s.err = s.w.Write(lines)
	}
	return s.err
}

// flushPeriodically flushes the buffer every flushEvery until stop, so that a
// quiet second (a pause in the profile) does not hold results back.
func (s *resultSink) flushPeriodically(stop <-chan struct{}) {
	if s == nil {
		return
	}
	every(flushEvery, stop, func() {
		s.mu.Lock()
		if s.err == nil && time.Since(s.flushed) >= flushEvery {
			s.err, s.flushed = s.w.Flush(), time.Now()
		}
		s.mu.Unlock()
	})
}

// every calls f every d until stop is closed.
func every(d time.Duration, stop <-chan struct{}, f func()) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			f()
		}
	}
}

func (s *resultSink) close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	return s.w.Flush()
}
