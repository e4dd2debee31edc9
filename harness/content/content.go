// Package content decodes HTTP response bodies the way a browser does
// before crosstalk's oracles read them: by Content-Encoding (gzip, deflate,
// br, zstd, and several stacked), bounded in size so that a decompression
// bomb is an error of one response, never a crash or an unbounded
// allocation. Transfer encodings (chunked), TLS and HTTP/2 framing are
// undone by net/http before a body gets here.
//
// The decoders are the well-kept ones of the Go ecosystem (klauspost/compress
// for gzip, zlib, raw deflate and zstd; andybalholm/brotli for br), pooled so
// that decoding a page allocates nothing in the steady state.
package content

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// DefaultLimit bounds a decoded body: far above any page a portal serves,
// far below what would hurt the harness.
const DefaultLimit = 64 << 20

// ErrTooLarge is returned when a body decodes to more than the limit: a
// decompression bomb, or a page no browser would render.
var ErrTooLarge = errors.New("decoded body exceeds the limit")

// Decoder decodes bodies by their Content-Encoding. It is safe for
// concurrent use.
type Decoder struct {
	limit int
	gzip  sync.Pool // *gzip.Reader
	br    sync.Pool // *brotli.Reader
	zstd  sync.Pool // *zstd.Decoder
	src   sync.Pool // *bytes.Reader
	tmp   sync.Pool // *[]byte, the intermediate layer of stacked codings
}

// New returns a decoder whose output is bounded by limit bytes (0:
// DefaultLimit).
func New(limit int) *Decoder {
	if limit <= 0 {
		limit = DefaultLimit
	}
	d := &Decoder{limit: limit}
	d.src.New = func() any { return bytes.NewReader(nil) }
	d.tmp.New = func() any { b := make([]byte, 0, 32<<10); return &b }
	return d
}

// Limit returns the bound on a decoded body.
func (d *Decoder) Limit() int { return d.limit }

// Codings returns the content codings a Content-Encoding header lists, in
// the order they were applied, lower-cased, without identity.
func Codings(header []string) []string {
	var out []string
	for _, h := range header {
		for _, c := range strings.Split(h, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			if c != "" && c != "identity" {
				out = append(out, c)
			}
		}
	}
	return out
}

// Decode returns wire decoded by the codings of a Content-Encoding header
// (as the header's values: Decode splits and undoes them in reverse order).
// With no coding it returns wire itself. Otherwise the result is appended
// to dst[:0]. On error the result holds what could be decoded before it, so
// that a truncated or corrupt body is still scanned as far as it goes; a body
// past the limit is cut at the limit and the error wraps ErrTooLarge.
func (d *Decoder) Decode(dst []byte, header []string, wire []byte) ([]byte, error) {
	if len(header) == 0 {
		return wire, nil
	}
	codings := Codings(header)
	if len(codings) == 0 {
		return wire, nil
	}
	in := wire
	var held *[]byte // the scratch buffer holding in, for stacked codings
	for i := len(codings) - 1; i >= 0; i-- {
		out, next := dst[:0], (*[]byte)(nil)
		if i > 0 { // an inner layer decodes into a scratch buffer
			next = d.tmp.Get().(*[]byte)
			out = (*next)[:0]
		}
		res, err := d.layer(out, codings[i], in)
		if next != nil {
			*next = res
		}
		if held != nil {
			d.tmp.Put(held)
		}
		held = next
		if err != nil {
			if held != nil { // the caller must not see a pooled buffer
				res = append(dst[:0], res...)
				d.tmp.Put(held)
			}
			return res, fmt.Errorf("content-encoding %s: %w", codings[i], err)
		}
		in = res
	}
	return in, nil
}

// layer decodes one coding of src, appending to out.
func (d *Decoder) layer(out []byte, coding string, src []byte) ([]byte, error) {
	br := d.src.Get().(*bytes.Reader)
	br.Reset(src)
	defer func() { br.Reset(nil); d.src.Put(br) }()
	switch coding {
	case "gzip", "x-gzip":
		z, _ := d.gzip.Get().(*gzip.Reader)
		var err error
		if z == nil {
			z, err = gzip.NewReader(br)
		} else {
			err = z.Reset(br)
		}
		if err != nil {
			return out, err
		}
		defer d.gzip.Put(z)
		return d.read(out, z)
	case "deflate":
		// HTTP's deflate is zlib (RFC 1950), but servers also send raw
		// deflate (RFC 1951); browsers accept both, and so do we.
		var r io.ReadCloser
		if isZlib(src) {
			var err error
			if r, err = zlib.NewReader(br); err != nil {
				return out, err
			}
		} else {
			r = flate.NewReader(br)
		}
		defer r.Close()
		return d.read(out, r)
	case "br":
		r, _ := d.br.Get().(*brotli.Reader)
		if r == nil {
			r = brotli.NewReader(br)
		} else if err := r.Reset(br); err != nil {
			return out, err
		}
		defer d.br.Put(r)
		return d.read(out, r)
	case "zstd":
		z, _ := d.zstd.Get().(*zstd.Decoder)
		if z == nil {
			var err error
			// Concurrency 1: no goroutine per decoder; the window is
			// bounded by the limit, so a frame that claims more is refused
			// before any allocation.
			z, err = zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxMemory(uint64(d.limit)), zstd.WithDecoderMaxWindow(uint64(min(d.limit, 1<<27))))
			if err != nil {
				return out, err
			}
		} else if err := z.Reset(br); err != nil {
			return out, err
		}
		defer func() { _ = z.Reset(nil); d.zstd.Put(z) }()
		out, err := d.read(out, z)
		if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			// The frame claims more memory than a body may decode to:
			// refused before it is spent.
			err = fmt.Errorf("%w (%d bytes): %v", ErrTooLarge, d.limit, err)
		}
		return out, err
	}
	return out, fmt.Errorf("unsupported coding %q (crosstalk decodes gzip, deflate, br and zstd)", coding)
}

func isZlib(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

// read appends r to out until EOF, the limit or an error.
func (d *Decoder) read(out []byte, r io.Reader) ([]byte, error) {
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		room := min(cap(out), d.limit+1)
		n, err := r.Read(out[len(out):room])
		out = out[:len(out)+n]
		if len(out) > d.limit {
			return out[:d.limit], fmt.Errorf("%w (%d bytes)", ErrTooLarge, d.limit)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
	}
}

// Encode returns b compressed with one content coding (gzip, deflate as
// zlib, br or zstd): the oracle's self-test serves pages this way, as a
// compressing edge does.
func Encode(coding string, b []byte) ([]byte, error) {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		z, err := zstd.NewWriter(&buf)
		if err != nil {
			return nil, err
		}
		w = z
	default:
		return nil, fmt.Errorf("unsupported coding %q", coding)
	}
	if _, err := w.Write(b); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
