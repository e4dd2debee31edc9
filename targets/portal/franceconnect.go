package portal

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// FranceConnect is how a replica logs users in through an OpenID Connect
// provider (the state's identity federation, for the CAF): the
// authorization code flow with PKCE, a nonce and a state bound to the
// browser, the code exchanged on the back channel with the client's secret,
// the ID token checked with go-oidc. The provider's claim "nir" names the
// account.
type FranceConnect struct {
	// AuthURL is the provider's authorization endpoint as browsers reach it.
	AuthURL string
	// TokenURL and KeysURL are its token endpoint and key set as the
	// replica reaches them (in containers, by the provider's service name).
	TokenURL string
	KeysURL  string
	// Issuer is the iss the provider's ID tokens carry.
	Issuer       string
	ClientID     string
	ClientSecret string
}

// FranceConnect paths of the portal.
const (
	FranceConnectStartPath    = "/login/franceconnect"
	FranceConnectCallbackPath = "/login/franceconnect/callback"
)

// fcClient is a replica's relying-party side of FranceConnect.
type fcClient struct {
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
	ctx      context.Context // carries the back channel's HTTP client
}

func newFCClient(c *FranceConnect) *fcClient {
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 256}}
	ctx := oidc.ClientContext(context.Background(), hc)
	return &fcClient{
		conf: oauth2.Config{ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: []string{oidc.ScopeOpenID, "profile"},
			Endpoint: oauth2.Endpoint{AuthURL: c.AuthURL, TokenURL: c.TokenURL, AuthStyle: oauth2.AuthStyleInHeader}},
		verifier: oidc.NewVerifier(c.Issuer, oidc.NewRemoteKeySet(ctx, c.KeysURL), &oidc.Config{ClientID: c.ClientID}),
		ctx:      ctx,
	}
}

// fcPending is a login on its way through the provider. It is kept in the
// session store under the browser's session cookie until the callback.
type fcPending struct{ state, nonce, verifier string }

const fcPendingPrefix = "fc-pending|"

func (p fcPending) encode() string {
	return fcPendingPrefix + p.state + "|" + p.nonce + "|" + p.verifier
}

func decodePending(raw string) (fcPending, bool) {
	rest, ok := strings.CutPrefix(raw, fcPendingPrefix)
	parts := strings.Split(rest, "|")
	if !ok || len(parts) != 3 {
		return fcPending{}, false
	}
	return fcPending{parts[0], parts[1], parts[2]}, true
}

// redirectURI is the callback's URL as the browser reaches this portal:
// through the edge, which says which host the browser asked for.
func redirectURI(req *http.Request) string {
	host := req.Header.Get("X-Forwarded-Host")
	if host == "" {
		host = req.Host
	}
	return "http://" + host + FranceConnectCallbackPath
}

// fcStart opens a login: a pending login under a fresh cookie, and a
// redirect to the provider with its state, nonce and PKCE challenge.
func (r *Replica) fcStart(w http.ResponseWriter, req *http.Request) {
	p := fcPending{state: randomToken(), nonce: randomToken(), verifier: oauth2.GenerateVerifier()}
	token := randomToken()
	if err := r.sessions.Put(req.Context(), token, p.encode()); r.failed(w, err) {
		return
	}
	r.fcRemember(token)
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, req, r.fc.conf.AuthCodeURL(p.state, oidc.Nonce(p.nonce), oauth2.S256ChallengeOption(p.verifier),
		oauth2.SetAuthURLParam("redirect_uri", redirectURI(req))), http.StatusFound)
}

// fcCallback ends a login: the state must be the browser's own, the code
// is exchanged with its verifier, the ID token must carry the login's
// nonce; then the pending login gives way to a session under a new token.
func (r *Replica) fcCallback(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	c, err := req.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		r.fcRefused(w, "no login in progress")
		return
	}
	raw, err := r.sessions.Get(ctx, c.Value)
	if r.failed(w, err) {
		return
	}
	p, ok := decodePending(raw)
	if !ok {
		if _, derr := r.decode(raw); err == nil && derr == nil {
			// Already logged in (a callback reloaded): on to the dossier.
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, req, "/dossier", http.StatusSeeOther)
			return
		}
		r.fcRefused(w, "no login in progress")
		return
	}
	if e := req.FormValue("error"); e != "" {
		r.fcRefused(w, "the identity provider refused the login: "+e)
		return
	}
	if subtle.ConstantTimeCompare([]byte(req.FormValue("state")), []byte(p.state)) != 1 {
		r.fcRefused(w, "state does not match this browser's login")
		return
	}
	xctx, cancel := context.WithTimeout(r.fc.ctx, 5*time.Second)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	tok, err := r.fc.conf.Exchange(xctx, req.FormValue("code"), oauth2.VerifierOption(p.verifier),
		oauth2.SetAuthURLParam("redirect_uri", redirectURI(req)))
	if err != nil {
		r.fcUnavailable(w, err)
		return
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := r.fc.verifier.Verify(xctx, rawID)
	if err != nil {
		r.fcUnavailable(w, err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(p.nonce)) != 1 {
		r.fcRefused(w, "the ID token's nonce is not this login's")
		return
	}
	var claims struct {
		NIR string `json:"nir"`
	}
	if err := idt.Claims(&claims); err != nil || claims.NIR == "" {
		r.fcRefused(w, "the identity provider gave no NIR")
		return
	}
	a, err := r.accounts.ByNIR(ctx, claims.NIR)
	if r.failed(w, err) {
		return
	}
	if err != nil {
		r.fcRefused(w, "no account for this identity")
		return
	}
	if err := r.sessions.Delete(ctx, c.Value); r.failed(w, err) {
		return
	}
	s := Session{Account: a.ID}
	if r.fcBindCrossed(w, req, c.Value, s) {
		return
	}
	r.startSession(w, req, s, "/dossier")
}

func (r *Replica) fcRefused(w http.ResponseWriter, why string) {
	w.Header().Set("Cache-Control", "no-store")
	render(w, http.StatusBadRequest, errorPage, "Connexion FranceConnect impossible : "+why+".")
}

// fcUnavailable answers 503 when the provider cannot be reached or its
// answer cannot be trusted: fail closed, as for a store.
func (r *Replica) fcUnavailable(w http.ResponseWriter, err error) {
	var refused *oauth2.RetrieveError
	if errors.As(err, &refused) && refused.Response != nil && refused.Response.StatusCode < 500 {
		r.fcRefused(w, "the identity provider refused the code ("+refused.ErrorCode+")")
		return
	}
	if errors.Is(err, context.Canceled) {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.failed(w, err)
}
