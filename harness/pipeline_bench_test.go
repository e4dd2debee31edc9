package harness

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// trivialPage is a few KB of HTML with no user data, the same for everyone.
var trivialPage = func() []byte {
	var b bytes.Buffer
	b.WriteString("<!doctype html><html><head><title>Accueil</title></head><body><main>")
	for i := 0; b.Len() < 4000; i++ {
		fmt.Fprintf(&b, "<p>Paragraphe %d : les versements ont lieu le 5 de chaque mois, montant moyen 312,45 &euro;.</p>\n", i)
	}
	b.WriteString("</main></body></html>")
	return b.Bytes()
}()

func pageServer(tb testing.TB) *httptest.Server {
	tb.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(trivialPage)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

const (
	benchWorkers = 32
	benchRound   = 2 * time.Second
)

// rawVegeta drives url for d as a vegeta library user would: a static
// targeter, vegeta's own client, every result into vegeta.Metrics.
func rawVegeta(url string, d time.Duration) uint64 {
	atk := vegeta.NewAttacker(vegeta.Workers(benchWorkers), vegeta.MaxWorkers(benchWorkers))
	tr := vegeta.NewStaticTargeter(vegeta.Target{Method: "GET", URL: url})
	var m vegeta.Metrics
	for res := range atk.Attack(tr, vegeta.ConstantPacer{}, d, "raw") {
		m.Add(res)
	}
	m.Close()
	return m.Requests
}

// crosstalkPipeline drives the same url for d through crosstalk's whole
// per-request path: users and their cookies, attribution in the transport,
// the oracle over every byte of headers and body, HDR statistics, and the
// results streamed to a file.
func crosstalkPipeline(tb testing.TB, url string, d time.Duration) uint64 {
	pop, err := population.New(1, 10_000, population.DefaultMix)
	require.NoError(tb, err)
	f, err := os.Create(filepath.Join(tb.TempDir(), "results.jsonl"))
	require.NoError(tb, err)
	defer f.Close()
	e := newEngine(engineConfig{pop: pop, seed: 1, base: url, next: mustTransport(tb), flows: pageFlow("/"), results: f})
	for i := 0; i < pop.Size(); i++ { // every user holds a session cookie, as a logged-in browser does
		a := e.actor(actorID(i))
		a.jar = map[string]string{"\x00sid": fmt.Sprintf("session-%d", i)}
	}
	atk := e.attacker(DefaultTimeout, benchWorkers, benchWorkers)
	for range atk.Attack(e.target, vegeta.ConstantPacer{}, d, "crosstalk") {
	}
	require.NoError(tb, e.sink.close())
	if n := e.rec.Total(); n != 0 {
		tb.Fatalf("the trivial page carries no user data, yet %d violations", n)
	}
	return e.seq.Load()
}

// BenchmarkPipeline compares, in one run, raw vegeta and crosstalk's full
// pipeline on the same loopback page, alternating rounds so that both see
// the same machine. It reports both rates and their ratio: the goal is a
// ratio of at least 1, so that the oracle costs the user nothing.
// Run it with -benchtime 1x (make bench does).
func BenchmarkPipeline(b *testing.B) {
	srv := pageServer(b)
	var raw, ct uint64
	var rawT, ctT time.Duration
	for i := 0; i < b.N; i++ {
		for round := 0; round < 3; round++ {
			start := time.Now()
			raw += rawVegeta(srv.URL+"/", benchRound)
			rawT += time.Since(start)
			start = time.Now()
			ct += crosstalkPipeline(b, srv.URL, benchRound)
			ctT += time.Since(start)
		}
	}
	rawRate, ctRate := float64(raw)/rawT.Seconds(), float64(ct)/ctT.Seconds()
	b.ReportMetric(rawRate, "vegeta-req/s")
	b.ReportMetric(ctRate, "crosstalk-req/s")
	b.ReportMetric(ctRate/rawRate, "ratio")
	b.ReportMetric(0, "ns/op")
}

func TestPipelineOracleSeesEveryByte(t *testing.T) {
	// The benchmark's crosstalk side must really scan: a page carrying
	// another user's NIR is caught through the same path.
	pop, err := population.New(1, 10_000, population.DefaultMix)
	require.NoError(t, err)
	leak := strings.Replace(string(trivialPage), "Paragraphe 3", "NIR "+pop.NIR(42), 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(leak))
	}))
	defer srv.Close()
	e := newEngine(engineConfig{pop: pop, seed: 1, base: srv.URL, next: mustTransport(t), flows: pageFlow("/")})
	atk := e.attacker(DefaultTimeout, 4, 4)
	for range atk.Attack(e.target, newProfilePacer(RateProfile{Profile: "constant", Rate: 200}, time.Second, 100), time.Second, "t") {
	}
	require.Equal(t, e.seq.Load()-1, e.rec.Total(), "every response but user 42's own is a violation")
}

// BenchmarkTokenScan is the session oracle's look for live tokens of
// other users in a page: every token-like run is one table lookup.
func BenchmarkTokenScan(b *testing.B) {
	e := newEngine(engineConfig{pop: mustPop(b), seed: 1, base: "http://127.0.0.1:1", next: http.DefaultTransport})
	e.tokens.add(tokenHash("a-live-token-of-someone-else"), 1)
	page := bytes.Repeat(trivialPage, 4)
	x := &exchange{id: 2, who: actorID(2).viewer(), resp: &http.Response{Header: http.Header{}}, body: page}
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		sessionOracle{}.check(e, x)
	}
}

func mustPop(tb testing.TB) *population.Population {
	pop, err := population.New(1, 10_000, population.DefaultMix)
	require.NoError(tb, err)
	return pop
}
