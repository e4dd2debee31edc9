package content

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// encode compresses b with one coding, using writers other than the
// decoders' own where the standard library has them, so that the test is
// not a round trip of one implementation through itself.
func encode(t testing.TB, coding string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip", "x-gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w, _ = zlib.NewWriterLevel(&buf, zlib.DefaultCompression)
	case "raw-deflate":
		w, _ = flate.NewWriter(&buf, flate.DefaultCompression)
	case "br":
		w = brotli.NewWriter(&buf)
	case "zstd":
		var err error
		w, err = zstd.NewWriter(&buf)
		require.NoError(t, err)
	default:
		t.Fatalf("no encoder for %s", coding)
	}
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

func TestDecodeEachCoding(t *testing.T) {
	page := []byte(strings.Repeat("<p>Numero de securite sociale : 1 64 07 86 309 087 88</p>\n", 200))
	d := New(0)
	for _, c := range []string{"gzip", "x-gzip", "deflate", "raw-deflate", "br", "zstd"} {
		t.Run(c, func(t *testing.T) {
			wire := encode(t, c, page)
			header := c
			if c == "raw-deflate" {
				header = "deflate"
			}
			got, err := d.Decode(nil, []string{header}, wire)
			require.NoError(t, err)
			assert.Equal(t, page, got)
			assert.Less(t, len(wire), len(page), "the page went compressed")
		})
	}
}

func TestDecodeStackedCodings(t *testing.T) {
	page := []byte(strings.Repeat("FR76 3000 6000 0112 3456 7890 189 ", 100))
	d := New(0)
	// Content-Encoding lists codings in the order they were applied.
	for _, stack := range [][]string{{"gzip", "br"}, {"br", "zstd", "gzip"}, {"deflate", "deflate"}} {
		wire := page
		for _, c := range stack {
			wire = encode(t, c, wire)
		}
		for _, header := range [][]string{{strings.Join(stack, ", ")}, stack} {
			got, err := d.Decode(make([]byte, 0, 8), header, wire)
			require.NoError(t, err, "%v", header)
			assert.Equal(t, page, got, "%v", header)
		}
	}
}

func TestDecodeIdentityReturnsTheWire(t *testing.T) {
	d := New(0)
	wire := []byte("plain")
	for _, h := range [][]string{nil, {}, {"identity"}, {" "}} {
		got, err := d.Decode(nil, h, wire)
		require.NoError(t, err)
		assert.Same(t, &wire[0], &got[0], "no copy for %q", h)
	}
}

func TestDecodeBombsAreBounded(t *testing.T) {
	const limit = 1 << 20
	zeros := make([]byte, 64<<20) // 64 MiB of zeros: a few KiB on the wire
	d := New(limit)
	for _, c := range []string{"gzip", "deflate", "br", "zstd"} {
		t.Run(c, func(t *testing.T) {
			wire := encode(t, c, zeros)
			require.Less(t, len(wire), 512<<10)
			got, err := d.Decode(nil, []string{c}, wire)
			require.ErrorIs(t, err, ErrTooLarge)
			if c == "zstd" {
				// A frame whose window is larger than the limit is refused
				// before a byte is decoded.
				assert.LessOrEqual(t, len(got), limit)
			} else {
				assert.Len(t, got, limit, "what fits the limit is kept, for the scanner")
			}
			assert.LessOrEqual(t, cap(got), 2*limit+64<<10, "nothing much past the limit was allocated")
		})
	}
}

func TestDecodeMalformed(t *testing.T) {
	d := New(0)
	page := []byte(strings.Repeat("a page with a NIR 164078630908788 in it ", 50))
	gz := encode(t, "gzip", page)
	cases := map[string]struct {
		header []string
		wire   []byte
		want   string
	}{
		"truncated gzip":  {[]string{"gzip"}, gz[:len(gz)/2], "unexpected EOF"},
		"not gzip":        {[]string{"gzip"}, []byte("<html>not compressed</html>"), "gzip"},
		"not brotli":      {[]string{"br"}, []byte("\xff\xff\xff\xff not brotli"), "br"},
		"not zstd":        {[]string{"zstd"}, []byte("not zstd at all"), "zstd"},
		"unknown coding":  {[]string{"compress"}, []byte("x"), `unsupported coding "compress"`},
		"empty gzip body": {[]string{"gzip"}, nil, "gzip"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := d.Decode(nil, c.header, c.wire)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			if name == "truncated gzip" {
				assert.NotEmpty(t, got, "what was decoded before the cut is kept")
				assert.True(t, bytes.HasPrefix(page, got))
			}
		})
	}
}

func TestDecodeIsSafeForConcurrentUse(t *testing.T) {
	d := New(0)
	page := []byte(strings.Repeat("0612345678 ", 1000))
	wires := map[string][]byte{}
	for _, c := range []string{"gzip", "br", "zstd", "deflate"} {
		wires[c] = encode(t, c, page)
	}
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				for c, w := range wires {
					got, err := d.Decode(nil, []string{c}, w)
					if err == nil && !bytes.Equal(got, page) {
						err = errors.New(c + ": wrong output")
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		require.NoError(t, <-errs)
	}
}

func FuzzDecode(f *testing.F) {
	page := []byte("<dd>1 64 07 86 309 087 88</dd>")
	for _, c := range []string{"gzip", "deflate", "br", "zstd"} {
		f.Add(c, encode(f, c, page))
	}
	d := New(1 << 16)
	f.Fuzz(func(t *testing.T, coding string, wire []byte) {
		got, err := d.Decode(nil, []string{coding}, wire)
		if len(got) > 1<<16 && !(err == nil && len(Codings([]string{coding})) == 0) {
			t.Fatalf("decoded %d bytes past the limit", len(got))
		}
	})
}

func BenchmarkDecodeGzip(b *testing.B) {
	page := []byte(strings.Repeat("<tr><td>05/03/2021</td><td>Aide personnalisee au logement</td><td>231,40&nbsp;€</td></tr>\n", 180))
	wire := encode(b, "gzip", page)
	d := New(0)
	buf := make([]byte, 0, 64<<10)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = d.Decode(buf[:0], []string{"gzip"}, wire); err != nil {
			b.Fatal(err)
		}
	}
}
