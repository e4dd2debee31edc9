// Package workers runs one crosstalk scenario on N load generators with one
// verdict: the coordinator (an http server the generators call) and the
// worker (the generator's side), over a small protocol, plus the engines
// that start the workers: local processes, or workers started by someone
// else (pods of a Kubernetes Indexed Job, containers). What is merged, and
// how, is the harness's (harness.Generators); this package only carries it.
//
// The protocol, over plain HTTP/1.1, all under /v1 and all keyed by the
// shard (?shard=I, the pod's JOB_COMPLETION_INDEX):
//
//	GET  /v1/assignment  the worker's harness.Assignment, as JSON
//	POST /v1/ready       blocks until every worker is ready (the barrier);
//	                     answers the instant the load begins, as JSON
//	POST /v1/stream      the worker's stream of frames, as long as its load
//	                     runs: results lines, violation lines, a tick each
//	                     second, and its harness.ShardResult last
//	GET  /v1/stop        blocks until the coordinator wants the worker to
//	                     stop early (Ctrl-C, a fault that failed)
//
// A worker whose stream ends without its result died; one that sends
// nothing for the stall bound stalled. Both fail the run with exit 3, the
// other workers' results merged.
package workers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame types of the stream.
const (
	frameResults   byte = 'R' // results.jsonl bytes (lines may be split)
	frameViolation byte = 'V' // evidence lines (lines may be split)
	frameTick      byte = 'T' // a harness.ShardTick as JSON
	frameDone      byte = 'D' // the harness.ShardResult as JSON, last
)

// maxFrame bounds one frame: a malformed or hostile stream cannot make the
// coordinator allocate more.
const maxFrame = 64 << 20

// writeFrame writes one frame: its type, its length (4 bytes, big-endian)
// and its payload.
func writeFrame(w io.Writer, typ byte, payload []byte) error {
	if len(payload) > maxFrame {
		return fmt.Errorf("frame of %d bytes exceeds %d", len(payload), maxFrame)
	}
	var h [5]byte
	h[0] = typ
	binary.BigEndian.PutUint32(h[1:], uint32(len(payload)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// readFrame reads one frame into buf (grown as needed) and returns its type
// and payload; io.EOF only at a frame boundary.
func readFrame(r io.Reader, buf []byte) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("stream cut inside a frame header: %w", err)
		}
		return 0, nil, err
	}
	switch h[0] {
	case frameResults, frameViolation, frameTick, frameDone:
	default:
		return 0, nil, fmt.Errorf("unknown frame type %q", h[0])
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes exceeds %d", n, maxFrame)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, fmt.Errorf("stream cut inside a %q frame: %w", h[0], err)
	}
	return h[0], buf, nil
}

// lines splits a byte stream into whole lines: push appends what came and
// returns the whole lines so far, keeping the rest for the next push.
type lines struct{ rest []byte }

func (l *lines) push(b []byte) []byte {
	l.rest = append(l.rest, b...)
	i := bytes.LastIndexByte(l.rest, '\n')
	if i < 0 {
		return nil
	}
	out := append([]byte(nil), l.rest[:i+1]...)
	l.rest = append(l.rest[:0], l.rest[i+1:]...)
	return out
}

// splitLines returns the non-empty lines of b.
func splitLines(b []byte) [][]byte {
	var out [][]byte
	for _, l := range bytes.Split(b, []byte{'\n'}) {
		if len(l) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// Environment variables a worker reads, as a pod of an Indexed Job gets
// them.
const (
	EnvIndex       = "JOB_COMPLETION_INDEX"
	EnvCoordinator = "CROSSTALK_COORDINATOR"
)
