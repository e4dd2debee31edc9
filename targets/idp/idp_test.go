package idp

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// oneUser is a directory of one user, "alice" with password "pw" and code
// "123456".
type oneUser struct{}

func (oneUser) Authenticate(login, password, otp string) (Identity, bool) {
	if login == "alice" && password == "pw" && otp == "123456" {
		return Identity{Subject: "sub-alice", Claims: map[string]any{"nir": "123"}}, true
	}
	return Identity{}, false
}

const callback = "http://127.0.0.1:1/cb" // never reached: the test reads the redirect

func provider(t *testing.T) (*httptest.Server, oauth2.Config) {
	t.Helper()
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	p, err := New(Config{Issuer: srv.URL, Users: oneUser{},
		Clients: []Client{{ID: "portal", Secret: "s3cret", RedirectURIs: []string{"http://127.0.0.1/cb"}}}})
	require.NoError(t, err)
	srv.Config.Handler = p
	return srv, oauth2.Config{ClientID: "portal", ClientSecret: "s3cret", RedirectURL: callback, Scopes: []string{"openid"},
		Endpoint: oauth2.Endpoint{AuthURL: srv.URL + AuthorizePath, TokenURL: srv.URL + TokenPath, AuthStyle: oauth2.AuthStyleInHeader}}
}

var challengeRE = regexp.MustCompile(`name="challenge" value="([^"]+)"`)

// browser logs in at authURL as a browser does, and returns where the
// provider sent it back and the login page's status.
func browser(t *testing.T, authURL, login, password, otp string, sameBrowser bool) (*url.URL, int) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := challengeRE.FindSubmatch(page)
	if m == nil {
		return nil, resp.StatusCode
	}
	if !sameBrowser {
		c.Jar, _ = cookiejar.New(nil)
	}
	base, _ := url.Parse(authURL)
	resp, err = c.PostForm(base.ResolveReference(&url.URL{Path: LoginPath}).String(),
		url.Values{"challenge": {string(m[1])}, "login": {login}, "password": {password}, "otp": {otp}})
	require.NoError(t, err)
	resp.Body.Close()
	if resp.StatusCode/100 != 3 {
		return nil, resp.StatusCode
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	require.NoError(t, err)
	return loc, resp.StatusCode
}

// TestCodeFlowWithPKCE: a relying party written with golang.org/x/oauth2
// and go-oidc logs a user in: state back, code exchanged with its
// verifier, an ID token signed with the published key carrying the nonce
// and the directory's claims.
func TestCodeFlowWithPKCE(t *testing.T) {
	srv, conf := provider(t)
	verifier := oauth2.GenerateVerifier()
	loc, status := browser(t, conf.AuthCodeURL("state-0123456789", oidc.Nonce("nonce-0123456789"), oauth2.S256ChallengeOption(verifier)),
		"alice", "pw", "123456", true)
	require.NotNil(t, loc, "status %d", status)
	assert.Equal(t, http.StatusSeeOther, status)
	assert.Equal(t, "/cb", loc.Path)
	assert.Equal(t, "state-0123456789", loc.Query().Get("state"))

	ctx := context.Background()
	_, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
	require.Error(t, err, "a code is refused with another login's verifier")

	loc, _ = browser(t, conf.AuthCodeURL("state-0123456789", oidc.Nonce("nonce-0123456789"), oauth2.S256ChallengeOption(verifier)),
		"alice", "pw", "123456", true)
	tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	_, err = conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	require.Error(t, err, "a code is good once")

	provider, err := oidc.NewProvider(ctx, srv.URL)
	require.NoError(t, err, "discovery")
	idt, err := provider.Verifier(&oidc.Config{ClientID: "portal"}).Verify(ctx, tok.Extra("id_token").(string))
	require.NoError(t, err)
	assert.Equal(t, "sub-alice", idt.Subject)
	assert.Equal(t, "nonce-0123456789", idt.Nonce)
	var claims struct{ NIR string }
	require.NoError(t, idt.Claims(&claims))
	assert.Equal(t, "123", claims.NIR)
}

// TestLoginRefusals: no PKCE, a wrong one-time code, a challenge answered
// from another browser: no code is issued.
func TestLoginRefusals(t *testing.T) {
	_, conf := provider(t)
	verifier := oauth2.GenerateVerifier()
	good := conf.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier))

	loc, status := browser(t, conf.AuthCodeURL("state-0123456789"), "alice", "pw", "123456", true)
	require.NotNil(t, loc, "status %d", status)
	assert.Empty(t, loc.Query().Get("code"), "no PKCE, no code")
	assert.Equal(t, "invalid_request", loc.Query().Get("error"))

	loc, _ = browser(t, good, "alice", "pw", "000000", true)
	require.NotNil(t, loc)
	assert.Empty(t, loc.Query().Get("code"))
	assert.Equal(t, "access_denied", loc.Query().Get("error"))

	loc, status = browser(t, good, "alice", "pw", "123456", false)
	assert.Nil(t, loc)
	assert.Equal(t, http.StatusBadRequest, status, "a challenge is bound to the browser it was shown to")
}
