package main

import (
	"bytes"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
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
// export, or through its admin API (POST /admin/users), or from a CSV file
// dropped at importFrom. leaky caches /api/me for a second keyed on the path
// alone.
type ownPortal struct {
	leaky      bool
	importFrom string
	mu         sync.Mutex
	byNIR      map[string]map[string]string // nir -> exported row
	rows       map[int]map[string]string    // user index -> exported row
	tokens     map[string]int               // bearer token -> user index
	csrf       map[string]string
	cache      []byte
	cachedAt   time.Time
}

// newOwnPortal starts the portal with users of seed imported, or none if
// users is 0.
func newOwnPortal(t *testing.T, leaky bool, users int, seed string) *httptest.Server {
	t.Helper()
	p := &ownPortal{leaky: leaky}
	return p.start(t, users, seed)
}

func (p *ownPortal) start(t *testing.T, users int, seed string) *httptest.Server {
	t.Helper()
	p.byNIR, p.rows, p.tokens, p.csrf = map[string]map[string]string{}, map[int]map[string]string{}, map[string]int{}, map[string]string{}
	if users > 0 {
		code, out, errOut := crosstalk(t, "population", "export", "--users", strconv.Itoa(users), "--seed", seed, "--format", "csv")
		require.Equal(t, exitPass, code, errOut)
		require.NoError(t, p.importCSV(bytes.NewBufferString(out)))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/users", p.addUser)
	mux.HandleFunc("POST /api/login", p.login)
	mux.HandleFunc("GET /api/me", p.me)
	mux.HandleFunc("GET /profile", p.profile)
	mux.HandleFunc("POST /profile", p.save)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "welcome") })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func (p *ownPortal) importCSV(r io.Reader) error {
	recs, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return err
	}
	for _, r := range recs[1:] {
		row := map[string]string{}
		for i, col := range recs[0] {
			row[col] = r[i]
		}
		p.add(row)
	}
	return nil
}

func (p *ownPortal) add(row map[string]string) bool {
	idx, _ := strconv.Atoi(row["index"])
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.byNIR[row["nir"]]; dup {
		return false
	}
	p.rows[idx], p.byNIR[row["nir"]] = row, row
	return true
}

// addUser is the portal's admin API: one user, as JSON.
func (p *ownPortal) addUser(w http.ResponseWriter, r *http.Request) {
	var row map[string]string
	if json.NewDecoder(r.Body).Decode(&row) != nil || row["nir"] == "" || row["index"] == "" {
		http.Error(w, `{"error":"want index, nir, password, ..."}`, http.StatusBadRequest)
		return
	}
	if !p.add(row) {
		http.Error(w, `{"error":"exists"}`, http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (p *ownPortal) byNIRImporting(nir string) (map[string]string, bool) {
	p.mu.Lock()
	row, ok := p.byNIR[nir]
	p.mu.Unlock()
	if !ok && p.importFrom != "" {
		if f, err := os.Open(p.importFrom); err == nil {
			_ = p.importCSV(f)
			f.Close()
			p.mu.Lock()
			row, ok = p.byNIR[nir]
			p.mu.Unlock()
		}
	}
	return row, ok
}

func (p *ownPortal) login(w http.ResponseWriter, r *http.Request) {
	var in struct{ NIR, Password string }
	if json.NewDecoder(r.Body).Decode(&in) != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	row, ok := p.byNIRImporting(in.NIR)
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
	p.mu.Lock()
	row, spouse := p.rows[i], p.rows[i^1] // households of two: 0-1, 2-3, ...
	p.mu.Unlock()
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
	p.mu.Lock()
	phone := p.rows[i]["phone"]
	p.mu.Unlock()
	fmt.Fprintf(w, `<form method="post"><input type="hidden" name="csrf" value="%s"><p>Tel. %s</p><input name="nickname"></form>`,
		c, phone)
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

// The scenario seeds the portal itself, by a request per user to the
// portal's admin API or by a command that imports the exported population,
// and the preflight then proves the seeded users log in.
func TestOwnPortalSeededByTheScenario(t *testing.T) {
	withSeed := func(t *testing.T, seed string) string {
		t.Helper()
		b, err := os.ReadFile("testdata/own-portal.yaml")
		require.NoError(t, err)
		const anchor = "  household: {size: 2, shares: [email]}\n"
		require.Contains(t, string(b), anchor)
		p := filepath.Join(t.TempDir(), "seeded.yaml")
		require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), anchor, anchor+seed, 1)), 0o644))
		return p
	}
	const request = `  seed:
    request:
      name: create-user
      method: POST
      path: /admin/users
      json: {index: "{{.User.Index}}", nir: "{{.User.NIR}}", password: "{{.User.Password}}", first_name: "{{.User.First}}",
             last_name: "{{.User.Last}}", email: "{{.User.Email}}", phone: "{{.User.Phone}}", iban: "{{.User.IBAN}}"}
      expect: [201]
`
	t.Run("a request per user", func(t *testing.T) {
		srv := newOwnPortal(t, false, 0, "")
		dir := t.TempDir()
		code, out, errOut := crosstalk(t, "run", withSeed(t, request), "--target", "url", "--base-url", srv.URL, "--out", dir, "--quiet")
		require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		assert.Contains(t, errOut, "seeding: POST /admin/users for each of 400 users")
		assert.Regexp(t, `seeded 400 users in \d`, errOut)
		assert.Greater(t, report(t, dir)["logins"].(map[string]any)["succeeded"], 50.0)
	})
	t.Run("a command", func(t *testing.T) {
		drop := filepath.Join(t.TempDir(), "users.csv")
		p := &ownPortal{importFrom: drop}
		srv := p.start(t, 0, "")
		dir := t.TempDir()
		cmd := fmt.Sprintf("  seed:\n    command: [sh, -c, 'test \"$CROSSTALK_USERS\" = 400 && cp \"$CROSSTALK_POPULATION\" %s']\n", drop)
		code, out, errOut := crosstalk(t, "run", withSeed(t, cmd), "--target", "url", "--base-url", srv.URL, "--out", dir, "--quiet")
		require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		assert.FileExists(t, filepath.Join(dir, "population.csv"))
	})
	t.Run("a seeding that fails stops the run", func(t *testing.T) {
		srv := newOwnPortal(t, false, 400, "99") // already seeded: the admin API answers 409
		code, _, errOut := crosstalk(t, "run", withSeed(t, request), "--target", "url", "--base-url", srv.URL, "--out", t.TempDir(), "--quiet")
		assert.Equal(t, exitTarget, code)
		assert.Regexp(t, `seeding: user #\d+: POST /admin/users answered 409, expected \[201\]: \{"error":"exists"\}`, errOut)
		code, _, errOut = crosstalk(t, "run", withSeed(t, "  seed:\n    command: [sh, -c, 'echo no database; exit 4']\n"),
			"--target", "url", "--base-url", srv.URL, "--out", t.TempDir(), "--quiet")
		assert.Equal(t, exitTarget, code)
		assert.Contains(t, errOut, "exit status 4")
		assert.Contains(t, errOut, "no database")
	})
	t.Run("a seed is checked with the scenario", func(t *testing.T) {
		code, _, errOut := crosstalk(t, "run", withSeed(t, "  seed: {}\n"), "--target", "url", "--base-url", "http://127.0.0.1:1", "--out", t.TempDir())
		assert.Equal(t, exitBadInput, code)
		assert.Contains(t, errOut, "portal.seed")
	})
}
