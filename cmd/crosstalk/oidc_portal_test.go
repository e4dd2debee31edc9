package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The single-page application and the identity provider of this file are
// written only for this test, independent of the reference ones (other
// paths, other parameter names, a public client doing PKCE in the browser,
// users named by e-mail). Their users come from crosstalk population export:
// e-mail, provider password and TOTP secret for the provider; NIR, e-mail
// and phone for the application.

// exportedUsers returns the rows of crosstalk population export, by e-mail.
func exportedUsers(t *testing.T, users int, seed string) map[string]map[string]string {
	t.Helper()
	code, out, errOut := crosstalk(t, "population", "export", "--users", strconv.Itoa(users), "--seed", seed, "--format", "csv")
	require.Equal(t, exitPass, code, errOut)
	rows, err := csv.NewReader(bytes.NewBufferString(out)).ReadAll()
	require.NoError(t, err)
	byEmail := map[string]map[string]string{}
	for _, r := range rows[1:] {
		m := map[string]string{}
		for c, v := range r {
			m[rows[0][c]] = v
		}
		byEmail[m["email"]] = m
	}
	return byEmail
}

func randomHex() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// tinyIdP is an OAuth 2.0 provider for public clients: authorize shows a
// form with a transaction id, signin checks e-mail, password and TOTP code
// and redirects with a code, token checks the PKCE verifier (S256) and
// answers the user's e-mail.
type tinyIdP struct {
	users map[string]map[string]string
	mu    sync.Mutex
	txns  map[string]url.Values // transaction -> authorize parameters
	codes map[string][2]string  // code -> challenge, e-mail
}

func (p *tinyIdP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch r.URL.Path {
	case "/oauth2/auth":
		q := r.URL.Query()
		if q.Get("client_id") != "spa" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" {
			http.Error(w, "bad authorize request", http.StatusBadRequest)
			return
		}
		txn := randomHex()
		p.txns[txn] = q
		fmt.Fprintf(w, `<form method="post" action="/oauth2/signin"><input type="hidden" name="txn" value="%s">`+
			`<input name="username"><input name="secret" type="password"><input name="passcode"></form>`, txn)
	case "/oauth2/signin":
		q, ok := p.txns[r.PostFormValue("txn")]
		delete(p.txns, r.PostFormValue("txn"))
		u := p.users[r.PostFormValue("username")]
		if !ok || u == nil || r.PostFormValue("secret") != u["idp_password"] || !totp.Validate(r.PostFormValue("passcode"), u["totp_secret"]) {
			http.Error(w, "denied", http.StatusForbidden)
			return
		}
		code := randomHex()
		p.codes[code] = [2]string{q.Get("code_challenge"), u["email"]}
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	case "/oauth2/token":
		c, ok := p.codes[r.PostFormValue("code")]
		delete(p.codes, r.PostFormValue("code"))
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != c[0] {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"access_token": randomHex(), "email": c[1]})
	default:
		http.NotFound(w, r)
	}
}

// spaAPI is the application's API: POST /api/session exchanges a code and
// its verifier at the provider and answers a bearer session; GET /api/me
// answers the session's user. crossed binds each new session to the
// identity of the exchange before it, as a handler keeping the last
// exchange in a shared field would.
type spaAPI struct {
	idp      string
	users    map[string]map[string]string
	crossed  bool
	mu       sync.Mutex
	sessions map[string]string // bearer -> e-mail
	last     string
}

func (a *spaAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/api/session":
		var in struct{ Grant, PKCE string }
		if json.NewDecoder(r.Body).Decode(&in) != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		resp, err := http.PostForm(a.idp+"/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {in.Grant},
			"code_verifier": {in.PKCE}, "client_id": {"spa"}})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		var tok struct{ Email string }
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&tok) != nil {
			http.Error(w, "code refused", http.StatusUnauthorized)
			return
		}
		a.mu.Lock()
		who := tok.Email
		if a.crossed && a.last != "" {
			who = a.last
		}
		a.last = tok.Email
		s := randomHex()
		a.sessions[s] = who
		a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"session": s})
	case "/api/me":
		a.mu.Lock()
		who, ok := a.sessions[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		a.mu.Unlock()
		if !ok {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		u := a.users[who]
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"email": u["email"], "nir": u["nir"], "phone": u["phone"]})
	default:
		http.NotFound(w, r)
	}
}

// TestOIDCPortalThroughURLTarget: a login through an identity provider,
// described purely in YAML (testdata/oidc-portal.yaml) for an application
// and a provider written for this test, run with --target url: the correct
// application passes with every login through the provider; the one that
// crosses exchanges is caught.
func TestOIDCPortalThroughURLTarget(t *testing.T) {
	users := exportedUsers(t, 300, "77")
	for _, crossed := range []bool{false, true} {
		t.Run(map[bool]string{false: "correct", true: "crossed"}[crossed], func(t *testing.T) {
			idp := httptest.NewServer(&tinyIdP{users: users, txns: map[string]url.Values{}, codes: map[string][2]string{}})
			defer idp.Close()
			app := httptest.NewServer(&spaAPI{idp: idp.URL, users: users, crossed: crossed, sessions: map[string]string{}})
			defer app.Close()
			b, err := os.ReadFile("testdata/oidc-portal.yaml")
			require.NoError(t, err)
			sc := filepath.Join(t.TempDir(), "oidc-portal.yaml")
			require.NoError(t, os.WriteFile(sc, bytes.Replace(b, []byte("AUTH_URL"), []byte(idp.URL), 1), 0o644))
			dir := t.TempDir()
			code, out, errOut := crosstalk(t, "run", sc, "--target", "url", "--base-url", app.URL, "--out", dir, "--quiet")
			r := report(t, dir)
			if crossed {
				require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
				assert.Greater(t, r["violations_by_oracle"].(map[string]any)["isolation"], 0.0)
				return
			}
			require.Equal(t, exitPass, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
			logins := r["logins"].(map[string]any)
			assert.Greater(t, logins["succeeded"], 50.0, "users signed in at the provider")
			assert.Equal(t, logins["attempted"], logins["succeeded"])
			steps := map[string]float64{}
			for _, s := range r["steps"].([]any) {
				m := s.(map[string]any)
				steps[m["step"].(string)] = m["requests"].(float64)
			}
			assert.Greater(t, steps["spa/session"], 50.0, "codes exchanged with their verifiers")
			assert.Greater(t, steps["spa/me"], 50.0)
		})
	}
}
