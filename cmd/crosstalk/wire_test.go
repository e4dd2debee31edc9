package main

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// edgePortal is a portal written only for these tests, unlike the
// reference one: a form login by e-mail, its own session cookie, and an
// account page compressed with br or gzip for the clients that accept it,
// as a compressing edge (nginx gzip on, a CDN) does. leaky renders the first
// page after a login for whoever logged in last: under simultaneous logins,
// someone else.
type edgePortal struct {
	leaky    bool
	mu       sync.Mutex
	byEmail  map[string]map[string]string
	sessions map[string]session
	last     map[string]string // the row of the latest login (the bug's state)
	http2    atomic.Int64      // requests that came over HTTP/2
	encoded  atomic.Int64      // pages sent compressed
}

type session struct {
	row   map[string]string
	fresh bool // no page served yet since the login
}

func newEdgePortal(t *testing.T, leaky bool, users int, seed string) *edgePortal {
	t.Helper()
	p := &edgePortal{leaky: leaky, byEmail: map[string]map[string]string{}, sessions: map[string]session{}}
	code, out, errOut := crosstalk(t, "population", "export", "--users", strconv.Itoa(users), "--seed", seed, "--format", "csv")
	require.Equal(t, exitPass, code, errOut)
	for _, row := range csvRows(t, out) {
		p.byEmail[row["email"]] = row
	}
	return p
}

func (p *edgePortal) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /connexion", p.login)
	mux.HandleFunc("GET /espace", p.account)
	mux.HandleFunc("POST /deconnexion", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("MUTSESSION"); err == nil {
			p.mu.Lock()
			delete(p.sessions, c.Value)
			p.mu.Unlock()
		}
		http.SetCookie(w, &http.Cookie{Name: "MUTSESSION", Value: "", MaxAge: -1, Path: "/"})
		http.Redirect(w, r, "/", http.StatusFound)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "<h1>Ma mutuelle</h1>") })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			p.http2.Add(1)
		}
		mux.ServeHTTP(w, r)
	})
}

func (p *edgePortal) login(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	row, ok := p.byEmail[r.PostFormValue("email")]
	p.mu.Unlock()
	if !ok || row["password"] != r.PostFormValue("mot_de_passe") {
		http.Error(w, "identifiants incorrects", http.StatusUnauthorized)
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	p.mu.Lock()
	p.sessions[tok] = session{row: row, fresh: true}
	p.last = row
	p.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: "MUTSESSION", Value: tok, Path: "/", HttpOnly: true})
	http.Redirect(w, r, "/espace", http.StatusFound)
}

func (p *edgePortal) account(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie("MUTSESSION")
	p.mu.Lock()
	s, ok := session{}, false
	if err == nil {
		s, ok = p.sessions[c.Value]
	}
	row := s.row
	if ok && s.fresh {
		if p.leaky {
			row = p.last // the bug: the welcome page of the latest login
		}
		s.fresh = false
		p.sessions[c.Value] = s
	}
	p.mu.Unlock()
	if !ok {
		http.Redirect(w, r, "/", http.StatusFound)
		return
	}
	var page bytes.Buffer
	fmt.Fprintf(&page, `<!doctype html><html lang="fr"><body><h1>Bonjour %s %s</h1><table>
<tr><th>Numero de securite sociale</th><td>%s</td></tr><tr><th>Telephone</th><td>%s</td></tr>
<tr><th>IBAN de remboursement</th><td>%s</td></tr></table>%s</body></html>`,
		row["first_name"], row["last_name"], row["nir"], row["phone"], row["iban"],
		strings.Repeat("<p>Vos remboursements des douze derniers mois apparaissent ci-dessous.</p>", 20))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "private, no-store")
	w.Header().Add("Vary", "Accept-Encoding")
	ae := r.Header.Get("Accept-Encoding")
	var out io.WriteCloser
	switch {
	case strings.Contains(ae, "br"):
		w.Header().Set("Content-Encoding", "br")
		out = brotli.NewWriter(w)
	case strings.Contains(ae, "gzip"):
		w.Header().Set("Content-Encoding", "gzip")
		out = gzip.NewWriter(w)
	default:
		_, _ = w.Write(page.Bytes())
		return
	}
	p.encoded.Add(1)
	_, _ = out.Write(page.Bytes())
	_ = out.Close()
}

const edgeScenario = "testdata/edge-portal.yaml"

// Issue 10's first acceptance: a portal that compresses its pages for the
// clients that accept them, leaking under simultaneous logins, is caught
// through --target url with a browser's headers; its fixed version passes.
func TestCompressingPortalIsJudgedOnItsDecodedPages(t *testing.T) {
	for _, tc := range []struct {
		name  string
		leaky bool
		want  int
	}{{"leaky", true, exitFail}, {"fixed", false, exitPass}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newEdgePortal(t, tc.leaky, 300, "41")
			srv := httptest.NewServer(p.handler())
			t.Cleanup(srv.Close)
			dir := t.TempDir()
			code, out, errOut := crosstalk(t, "run", edgeScenario, "--target", "url", "--base-url", srv.URL, "--out", dir, "--quiet")
			require.Equal(t, tc.want, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			assert.Greater(t, p.encoded.Load(), int64(100), "the pages went compressed")
			results, err := os.ReadFile(filepath.Join(dir, "results.jsonl"))
			require.NoError(t, err)
			assert.Contains(t, string(results), `"decoded":`, "the results keep wire and decoded sizes")
			r := report(t, dir)
			if tc.leaky {
				assert.Greater(t, r["violations_by_oracle"].(map[string]any)["isolation"], 0.0)
				assert.Contains(t, out, "--base-url "+srv.URL, "the replay line names the target")
			} else {
				assert.Equal(t, 0.0, r["violations"])
			}
		})
	}
}

// Issue 10's second acceptance: the same portal over TLS with a
// self-signed CA, speaking HTTP/2 as a browser would after ALPN; the leak
// is caught. --http 1.1 keeps to HTTP/1.1; --insecure is for loopback only.
func TestTLSAndHTTP2(t *testing.T) {
	p := newEdgePortal(t, true, 300, "41")
	srv := httptest.NewUnstartedServer(p.handler())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))

	t.Run("leak caught over HTTP/2", func(t *testing.T) {
		dir := t.TempDir()
		code, out, errOut := crosstalk(t, "run", edgeScenario, "--target", "url", "--base-url", srv.URL, "--ca-file", ca, "--out", dir, "--quiet")
		require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		assert.Greater(t, report(t, dir)["violations_by_oracle"].(map[string]any)["isolation"], 0.0)
		assert.Greater(t, p.http2.Load(), int64(100), "the load spoke HTTP/2")
	})
	t.Run("HTTP/1.1 on demand", func(t *testing.T) {
		before := p.http2.Load()
		code, out, errOut := crosstalk(t, "run", edgeScenario, "--target", "url", "--base-url", srv.URL, "--ca-file", ca,
			"--http", "1.1", "--duration", "1s", "--out", t.TempDir(), "--quiet")
		require.Contains(t, []int{exitPass, exitFail}, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		assert.Equal(t, before, p.http2.Load(), "no request came over HTTP/2")
	})
	t.Run("an unknown CA is refused", func(t *testing.T) {
		code, _, errOut := crosstalk(t, "run", edgeScenario, "--target", "url", "--base-url", srv.URL, "--out", t.TempDir(), "--quiet")
		assert.Equal(t, exitTarget, code)
		assert.Contains(t, errOut, "certificate")
	})
	t.Run("insecure on loopback", func(t *testing.T) {
		code, out, errOut := crosstalk(t, "run", edgeScenario, "--target", "url", "--base-url", srv.URL, "--insecure",
			"--duration", "1s", "--out", t.TempDir(), "--quiet")
		assert.Contains(t, []int{exitPass, exitFail}, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	})
	t.Run("insecure refused elsewhere", func(t *testing.T) {
		code, _, errOut := crosstalk(t, "run", edgeScenario, "--target", "url", "--base-url", "https://192.0.2.10:8443",
			"--allow-host", "192.0.2.10", "--insecure", "--out", t.TempDir(), "--quiet")
		assert.Equal(t, exitBadInput, code)
		assert.Contains(t, errOut, "--insecure skips certificate checks and is allowed only for a loopback target")
	})
	t.Run("a bad CA file", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.pem")
		require.NoError(t, os.WriteFile(bad, []byte("not a certificate"), 0o600))
		code, _, errOut := crosstalk(t, "run", edgeScenario, "--target", "url", "--base-url", srv.URL, "--ca-file", bad, "--out", t.TempDir(), "--quiet")
		assert.Equal(t, exitBadInput, code)
		assert.Contains(t, errOut, "bad.pem: no PEM certificate in it")
		code, _, _ = crosstalk(t, "run", edgeScenario, "--target", "url", "--base-url", srv.URL, "--http", "3", "--out", t.TempDir(), "--quiet")
		assert.Equal(t, exitBadInput, code)
	})
}

// csvRows reads an exported population into one map per user.
func csvRows(t *testing.T, out string) []map[string]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	var rows []map[string]string
	for _, r := range recs[1:] {
		row := map[string]string{}
		for i, col := range recs[0] {
			row[col] = r[i]
		}
		rows = append(rows, row)
	}
	return rows
}
