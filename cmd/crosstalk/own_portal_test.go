package main

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ownPortal is a second portal, independent of the reference one, written
// only for this test: JSON login with a bearer token, a JSON profile API, a
// CSRF-protected form. Its users are imported from crosstalk population
// export. leaky caches /api/me for a second keyed on the path alone.
type ownPortal struct {
	leaky    bool
	mu       sync.Mutex
	byNIR    map[string]map[string]string // nir -> exported row
	rows     []map[string]string
	tokens   map[string]int // bearer token -> user index
	csrf     map[string]string
	cache    []byte
	cachedAt time.Time
}

func newOwnPortal(t *testing.T, leaky bool, users int, seed string) *httptest.Server {
	t.Helper()
	code, out, errOut := crosstalk(t, "population", "export", "--users", strconv.Itoa(users), "--seed", seed, "--format", "csv")
	require.Equal(t, exitPass, code, errOut)
	recs, err := csv.NewReader(bytes.NewBufferString(out)).ReadAll()
	require.NoError(t, err)
	p := &ownPortal{leaky: leaky, byNIR: map[string]map[string]string{}, tokens: map[string]int{}, csrf: map[string]string{}}
	for _, r := range recs[1:] {
		row := map[string]string{}
		for i, col := range recs[0] {
			row[col] = r[i]
		}
		p.rows = append(p.rows, row)
		p.byNIR[row["nir"]] = row
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/login", p.login)
	mux.HandleFunc("GET /api/me", p.me)
	mux.HandleFunc("GET /profile", p.profile)
	mux.HandleFunc("POST /profile", p.save)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "welcome") })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func (p *ownPortal) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ NIR, Password string }
	if json.NewDecoder(r.Body).Decode(&in) != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	row, ok := p.byNIR[in.NIR]
	if !ok || row["password"] != in.Password {
		http.Error(w, `{"error":"denied"}`, http.StatusUnauthorized)
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := hex.EncodeToString(b)
	idx, _ := strconv.Atoi(row["index"])
	p.mu.Lock()
	p.tokens[tok] = idx
	p.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok})
}

func (p *ownPortal) user(r *http.Request) (int, bool) {
	auth := r.Header.Get("Authorization")
	if len(auth) < 8 {
		return 0, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	i, ok := p.tokens[auth[7:]]
	return i, ok
}

func (p *ownPortal) me(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if p.leaky && time.Since(p.cachedAt) < time.Second {
		b := p.cache
		p.mu.Unlock()
		_, _ = w.Write(b) // the bug: a cache keyed on the path, not the token
		return
	}
	p.mu.Unlock()
	i, ok := p.user(r)
	if !ok {
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	row := p.rows[i]
	spouse := p.rows[i^1] // households of two: 0-1, 2-3, ...
	b, _ := json.Marshal(map[string]string{"name": row["first_name"] + " " + row["last_name"], "nir": row["nir"],
		"email": row["email"], "phone": row["phone"], "iban": row["iban"], "spouse_email": spouse["email"]})
	p.mu.Lock()
	p.cache, p.cachedAt = b, time.Now()
	p.mu.Unlock()
	_, _ = w.Write(b)
}

func (p *ownPortal) profile(w http.ResponseWriter, r *http.Request) {
	i, ok := p.user(r)
	if !ok {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	c := hex.EncodeToString(b)
	p.mu.Lock()
	p.csrf[r.Header.Get("Authorization")] = c
	p.mu.Unlock()
	fmt.Fprintf(w, `<form method="post"><input type="hidden" name="csrf" value="%s"><p>Tel. %s</p><input name="nickname"></form>`,
		c, p.rows[i]["phone"])
}

func (p *ownPortal) save(w http.ResponseWriter, r *http.Request) {
	if _, ok := p.user(r); !ok {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	p.mu.Lock()
	want := p.csrf[r.Header.Get("Authorization")]
	p.mu.Unlock()
	if want == "" || r.PostFormValue("csrf") != want {
		http.Error(w, "bad csrf token", http.StatusForbidden)
		return
	}
	http.Redirect(w, r, "/profile", http.StatusSeeOther)
}

// TestOwnPortalThroughURLTarget is issue 6's acceptance: a portal described
// only in a scenario file, its leak found, its fixed version passed.
func TestOwnPortalThroughURLTarget(t *testing.T) {
	const scenario = "testdata/own-portal.yaml"
	t.Run("leaky", func(t *testing.T) {
		srv := newOwnPortal(t, true, 400, "99")
		dir := t.TempDir()
		code, out, errOut := crosstalk(t, "run", scenario, "--target", "url", "--base-url", srv.URL, "--out", dir, "--quiet")
		require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		r := report(t, dir)
		by := r["violations_by_oracle"].(map[string]any)
		assert.Greater(t, by["isolation"], 0.0, "the cached /api/me reached other users")
	})
	t.Run("fixed", func(t *testing.T) {
		srv := newOwnPortal(t, false, 400, "99")
		dir := t.TempDir()
		code, out, errOut := crosstalk(t, "run", scenario, "--target", "url", "--base-url", srv.URL, "--out", dir, "--quiet")
		require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		r := report(t, dir)
		assert.Equal(t, 0.0, r["violations"], "the spouse's e-mail is a declared, lawful sharing")
		logins := r["logins"].(map[string]any)
		assert.Greater(t, logins["succeeded"], 50.0)
		var steps []string
		for _, s := range r["steps"].([]any) {
			steps = append(steps, s.(map[string]any)["step"].(string))
		}
		assert.Subset(t, steps, []string{"api/login", "api/me", "api/profile", "api/save"}, "every declared step ran, CSRF included")
	})
	t.Run("undeclared sharing is a leak", func(t *testing.T) {
		srv := newOwnPortal(t, false, 400, "99")
		dir := t.TempDir()
		// The same fixed portal, but the scenario no longer declares the
		// household: the spouse's e-mail is now someone else's datum.
		sc := filepath.Join(t.TempDir(), "no-household.yaml")
		b, err := os.ReadFile(scenario)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(sc, []byte(strings.Replace(string(b), "  household: {size: 2, shares: [email]}\n", "", 1)), 0o644))
		code, out, _ := crosstalk(t, "run", sc, "--target", "url", "--base-url", srv.URL, "--out", dir, "--quiet", "--duration", "2s")
		require.Equal(t, exitFail, code, out)
	})
	t.Run("users not seeded", func(t *testing.T) {
		srv := newOwnPortal(t, false, 400, "12345") // another seed: none of the scenario's users exists
		code, _, errOut := crosstalk(t, "run", scenario, "--target", "url", "--base-url", srv.URL, "--out", t.TempDir(), "--quiet")
		assert.Equal(t, exitTarget, code)
		assert.Contains(t, errOut, "preflight: seeded user #0 could not get through step api/login: status 401")
		assert.Contains(t, errOut, "crosstalk population export --users 400 --seed 99")
	})
}
