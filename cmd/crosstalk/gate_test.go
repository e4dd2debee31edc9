package main

import (
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// webPortal is a third portal, written only for these tests: an HTML form
// login with a session cookie and an account page, in the style of a
// server-rendered site. Its modes break the gate's assumptions one at a
// time.
type webPortal struct {
	pop  *population.Population
	mode string // "" correct; "masked"; "503-after-preflight"; "same-page"; "hand-session"

	mu       sync.Mutex
	byNIR    map[string]int
	byNumber map[string]int
	sessions map[string]int
	next     int
	served   atomic.Int64
	handed   atomic.Bool
	lastPage []byte
}

// user returns the user of r's session, or sends it to the login page; p.mu
// is held.
func (p *webPortal) user(w http.ResponseWriter, r *http.Request) (int, bool) {
	if c, err := r.Cookie("sess"); err == nil {
		if i, ok := p.sessions[c.Value]; ok {
			return i, true
		}
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return 0, false
}

// file serves a beneficiary's file by its number: to its owner only, or,
// in mode idor, to whoever is logged in.
func (p *webPortal) file(w http.ResponseWriter, r *http.Request) {
	viewer, ok := p.user(w, r)
	if !ok {
		return
	}
	i, known := p.byNumber[r.URL.Path[len("/files/"):]]
	if !known || (i != viewer && p.mode != "idor") {
		http.Error(w, "not yours", http.StatusForbidden) // the correct portal checks who asks
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	fmt.Fprintf(w, "<html><body><h1>File</h1><p>NIR %s</p></body></html>", p.pop.User(i).NIR)
}

// nickname is what a user chose to be called: personal, but no canary.
func nickname(i int) string { return fmt.Sprintf("blue-heron-%d", i*7919%100003) }

func newWebPortal(t *testing.T, seed uint64, users int, mode string) (*webPortal, *httptest.Server) {
	t.Helper()
	pop, err := population.New(seed, users, population.DefaultMix)
	require.NoError(t, err)
	p := &webPortal{pop: pop, mode: mode, byNIR: map[string]int{}, byNumber: map[string]int{}, sessions: map[string]int{}}
	for i := range users {
		p.byNIR[pop.NIR(i)] = i
		p.byNumber[pop.User(i).Number] = i
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv
}

func (p *webPortal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Once the preflight user has logged out, the portal answers 503.
	if p.mode == "503-after-preflight" && p.handed.Load() {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/files/") {
		p.file(w, r)
		return
	}
	switch r.Method + " " + r.URL.Path {
	case "POST /login":
		i, ok := p.byNIR[r.PostFormValue("nir")]
		if !ok || (r.PostFormValue("password") != p.pop.Password(i, 0) && r.PostFormValue("password") != p.pop.Password(i, 1)) {
			http.Error(w, "wrong", http.StatusUnauthorized)
			return
		}
		p.next++
		sid := "s" + strconv.Itoa(p.next)
		p.sessions[sid] = i
		if p.mode == "hand-session" && !p.handed.Load() {
			for other, owner := range p.sessions {
				if owner != i && p.handed.CompareAndSwap(false, true) {
					sid = other // once: this user is handed another's live session
					break
				}
			}
		}
		http.SetCookie(w, &http.Cookie{Name: "sess", Value: sid, Path: "/", HttpOnly: true})
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	case "GET /account":
		i, ok := p.user(w, r)
		if !ok {
			return
		}
		w.Header().Set("Cache-Control", "private, no-store")
		u := p.pop.User(i)
		nir, iban := u.NIR, u.IBAN
		if p.mode == "masked" {
			nir, iban = "*** ** "+nir[len(nir)-2:], "FR76 **** "+iban[len(iban)-4:]
		}
		fmt.Fprintf(w, "<html><body><h1>Your account</h1><p>NIR %s</p><p>IBAN %s</p></body></html>", html.EscapeString(nir), html.EscapeString(iban))
	case "GET /profile":
		i, ok := p.user(w, r)
		if !ok {
			return
		}
		w.Header().Set("Cache-Control", "private, no-store")
		page := []byte(fmt.Sprintf("<html><body><h1>Profile</h1><p>Nickname: %s</p></body></html>", nickname(i)))
		if p.mode == "same-page" && p.served.Add(1)%4 == 0 && p.lastPage != nil {
			page = p.lastPage // a render buffer shared across requests: the previous user's page
		}
		p.lastPage = page
		_, _ = w.Write(page)
	case "POST /logout":
		if p.mode == "503-after-preflight" {
			p.handed.Store(true)
		}
		if c, err := r.Cookie("sess"); err == nil {
			delete(p.sessions, c.Value)
		}
		http.SetCookie(w, &http.Cookie{Name: "sess", Value: "deleted", Path: "/", MaxAge: -1})
		http.Redirect(w, r, "/", http.StatusSeeOther)
	default:
		fmt.Fprintln(w, "<html><body>welcome</body></html>")
	}
}

const webScenario = `name: web-portal
description: a server-rendered site with a form login and a session cookie
seed: 11
duration: 3s
users: 200
journeys: {think: 20ms, probes: 0.1}
rate: {profile: constant, rate: 120}
portal: {session_cookie: sess}
flows:
  - name: web
    steps:
      - {name: login, method: POST, path: /login, form: {nir: "{{.User.NIR}}", password: "{{.User.Password}}"}, expect: [303], login: true}
      - {name: account, method: GET, path: /account, expect: [200]}
      - {name: profile, method: GET, path: /profile, expect: [200], expect_own: 0}
      - {name: file, method: GET, path: "/files/{{.User.Number}}", expect: [200]}
      - {name: logout, method: POST, path: /logout, expect: [303], logout: true}
thresholds: {error_rate: 0.05, login_success: 0.9}
`

func runWeb(t *testing.T, base string, extra ...string) (int, string, string, map[string]any) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "web.yaml")
	require.NoError(t, os.WriteFile(file, []byte(webScenario), 0o644))
	out := filepath.Join(dir, "out")
	code, stdout, stderr := crosstalk(t, append([]string{"run", file, "--target", "url", "--base-url", base, "--out", out, "--quiet"}, extra...)...)
	return code, stdout, stderr, report(t, out)
}

// TestGateCannotPassBlind: each way a run could pass without proving
// anything fails the gate (exit 1) with a message that says why, and the
// correct portal passes.
func TestGateCannotPassBlind(t *testing.T) {
	t.Run("correct", func(t *testing.T) {
		_, srv := newWebPortal(t, 11, 200, "")
		code, out, errOut, r := runWeb(t, srv.URL)
		require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		assert.Contains(t, out, "private pages showed the viewer's own values (100%)")
		steps := r["steps"].([]any)
		found := false
		for _, s := range steps {
			if s := s.(map[string]any); s["step"] == "web/account" {
				found = true
				assert.Equal(t, 1.0, s["own_share"])
				assert.Greater(t, s["own_by_field"].(map[string]any)["nir"], 0.0)
			}
		}
		assert.True(t, found, "the account step's coverage is in report.json")
	})
	t.Run("masked", func(t *testing.T) {
		_, srv := newWebPortal(t, 11, 200, "masked")
		code, out, errOut, r := runWeb(t, srv.URL)
		require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		assert.Contains(t, r["reason"], "the oracle cannot read this portal's pages")
	})
	t.Run("503 after the preflight", func(t *testing.T) {
		_, srv := newWebPortal(t, 11, 200, "503-after-preflight")
		code, out, errOut, r := runWeb(t, srv.URL)
		require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		assert.Contains(t, r["reason"], "threshold")
	})
	t.Run("cut short by max_requests", func(t *testing.T) {
		_, srv := newWebPortal(t, 11, 200, "")
		code, out, errOut, r := runWeb(t, srv.URL, "--max-requests", "40")
		require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		assert.Contains(t, r["reason"], "incomplete: the run stopped at max_requests (40)")
	})
}

// TestHandedSessionIsNotAdopted: a portal that hands user B user A's
// session cookie once. The run reports that response; B never adopts the
// cookie, so its later pages are its own and the counts are of leaked
// responses, not of every page B read after.
func TestHandedSessionIsNotAdopted(t *testing.T) {
	_, srv := newWebPortal(t, 11, 200, "hand-session")
	code, out, errOut, r := runWeb(t, srv.URL)
	require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	by := r["violations_by_oracle"].(map[string]any)
	assert.Equal(t, 1.0, by["session"], "the handed cookie is one violation")
	assert.Equal(t, 0.0, by["isolation"], "B went on with its own session: none of A's pages")
	assert.Equal(t, 1.0, r["victims"])
	assert.Equal(t, 1.0, r["viewers"])
}

// TestMisspeltSessionCookieFailsTheGate: a session cookie name that never
// appears would leave the session oracle blind; the gate says so.
func TestMisspeltSessionCookieFailsTheGate(t *testing.T) {
	_, srv := newWebPortal(t, 11, 200, "")
	dir := t.TempDir()
	file := filepath.Join(dir, "web.yaml")
	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(webScenario, "session_cookie: sess", "session_cookie: session", 1)), 0o644))
	code, out, errOut := crosstalk(t, "run", file, "--target", "url", "--base-url", srv.URL, "--out", filepath.Join(dir, "out"), "--quiet")
	require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, out, `portal.session_cookie "session" never appeared`)
}

// TestSamePageServedToTwoSessions: a private page with no canary on it,
// served whole to another user, is caught by the fingerprint oracle; the
// correct portal passes.
func TestSamePageServedToTwoSessions(t *testing.T) {
	for _, mode := range []string{"same-page", ""} {
		// Few users, so that each reads its profile several times: the
		// oracle judges a user who was served its own page too.
		_, srv := newWebPortal(t, 11, 40, mode)
		code, out, errOut, r := runWeb(t, srv.URL, "--users", "40")
		by := r["violations_by_oracle"].(map[string]any)
		if mode == "" {
			require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			continue
		}
		require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		assert.Greater(t, by["fingerprint"], 0.0)
		assert.Equal(t, 0.0, by["isolation"], "the page carries no canary")
		assert.Contains(t, out, "asked GET /profile and received the page of user #")
	}
}

// TestBorrowedSessionProbe: a portal that serves a file to whoever is
// logged in, because the path names its owner (an IDOR), leaks no response
// to its own users' journeys; the probes that replay a flow's path for one
// user with another user's session catch it. The correct portal answers
// them 403 and passes.
func TestBorrowedSessionProbe(t *testing.T) {
	for _, mode := range []string{"idor", ""} {
		_, srv := newWebPortal(t, 11, 200, mode)
		code, out, errOut, r := runWeb(t, srv.URL)
		if mode == "" {
			require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			continue
		}
		require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
		assert.Greater(t, r["violations_by_oracle"].(map[string]any)["isolation"], 0.0)
		assert.Contains(t, out, "asked GET /files/")
	}
}
