// Package idp is the reference identity provider: an OpenID Connect
// provider, as FranceConnect federates them, that the reference portal
// logs its users in through (authorization code with PKCE). The protocol is
// ORY fosite's, not written here: this package adds only what fosite
// leaves to its user, the login page (login, password and a one-time code)
// and the key set. Who may log in is a Directory, so the provider holds no
// user table of its own.
package idp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/storage"
	"github.com/ory/fosite/token/jwt"
	"golang.org/x/crypto/bcrypt"
)

// Paths the provider serves.
const (
	AuthorizePath = "/authorize"
	LoginPath     = "/login"
	TokenPath     = "/token"
	KeysPath      = "/jwks.json"
	DiscoveryPath = "/.well-known/openid-configuration"
)

// Identity is what the provider asserts of a user who logged in: the
// subject and the claims of the ID token.
type Identity struct {
	Subject string
	Claims  map[string]any
}

// Directory says who may log in. Implementations are safe for concurrent
// use.
type Directory interface {
	// Authenticate checks a login, its password and its one-time code.
	Authenticate(login, password, otp string) (Identity, bool)
}

// Client is a relying party (a portal) registered with the provider.
type Client struct {
	ID     string
	Secret string
	// RedirectURIs are where codes may be sent. A loopback URI
	// (http://127.0.0.1/path) matches any port, as RFC 8252 has it.
	RedirectURIs []string
}

// Config configures a Provider.
type Config struct {
	// Issuer is the iss of the ID tokens: the provider's URL as its
	// relying parties know it.
	Issuer  string
	Clients []Client
	Users   Directory
}

// Provider is an OpenID Connect provider; it is an http.Handler.
type Provider struct {
	oauth  fosite.OAuth2Provider
	users  Directory
	issuer string
	keys   jose.JSONWebKeySet
	mux    *http.ServeMux

	mu      sync.Mutex
	pending map[string]pendingAuth // login challenges, by id
}

// pendingAuth is an authorization request waiting for its user to log in,
// bound to the browser that made it by a cookie.
type pendingAuth struct {
	ar      fosite.AuthorizeRequester
	browser string
	expires time.Time
}

// challengeCookie binds a login challenge to the browser it was shown to.
const challengeCookie = "idp_browser"

// loginTimeout is how long a user has to log in once the page is shown.
const loginTimeout = 10 * time.Minute

// keyID names the provider's signing key in its key set and ID tokens.
const keyID = "crosstalk-idp-1"

var (
	keyOnce sync.Once
	key     *rsa.PrivateKey
	keyErr  error
)

// signingKey is the process's RSA key: one per process, since a fresh
// 2048-bit key costs a noticeable fraction of a second and every detection
// matrix cell starts a provider.
func signingKey() (*rsa.PrivateKey, error) {
	keyOnce.Do(func() { key, keyErr = rsa.GenerateKey(rand.Reader, 2048) })
	return key, keyErr
}

// New returns a provider configured by cfg.
func New(cfg Config) (*Provider, error) {
	if cfg.Issuer == "" || cfg.Users == nil || len(cfg.Clients) == 0 {
		return nil, errors.New("idp: want an issuer, a directory and at least one client")
	}
	priv, err := signingKey()
	if err != nil {
		return nil, fmt.Errorf("idp: signing key: %w", err)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	fc := &fosite.Config{
		IDTokenIssuer:         cfg.Issuer,
		GlobalSecret:          secret,
		EnforcePKCE:           true,
		AuthorizeCodeLifespan: 2 * time.Minute,
		AccessTokenLifespan:   5 * time.Minute,
		IDTokenLifespan:       5 * time.Minute,
		// Client secrets are compared with bcrypt at its lowest cost: the
		// harness measures the login's routing, not a deliberately slow
		// hash, as with the portal's passwords.
		HashCost: bcrypt.MinCost,
	}
	store := storage.NewMemoryStore()
	for _, c := range cfg.Clients {
		hash, err := bcrypt.GenerateFromPassword([]byte(c.Secret), bcrypt.MinCost)
		if err != nil {
			return nil, fmt.Errorf("idp: client %s: %w", c.ID, err)
		}
		store.Clients[c.ID] = &fosite.DefaultClient{ID: c.ID, Secret: hash, RedirectURIs: c.RedirectURIs,
			GrantTypes: []string{"authorization_code"}, ResponseTypes: []string{"code"}, Scopes: []string{"openid", "profile"}}
	}
	keyGetter := func(context.Context) (any, error) { return priv, nil }
	oauth := compose.Compose(fc, store, &compose.CommonStrategy{
		CoreStrategy:               compose.NewOAuth2HMACStrategy(fc),
		OpenIDConnectTokenStrategy: compose.NewOpenIDConnectStrategy(keyGetter, fc),
		Signer:                     &jwt.DefaultSigner{GetPrivateKey: keyGetter},
	}, compose.OAuth2AuthorizeExplicitFactory, compose.OpenIDConnectExplicitFactory, compose.OAuth2PKCEFactory)
	p := &Provider{oauth: oauth, users: cfg.Users, issuer: strings.TrimSuffix(cfg.Issuer, "/"), mux: http.NewServeMux(),
		pending: map[string]pendingAuth{},
		keys:    jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: keyID, Algorithm: "RS256", Use: "sig"}}}}
	p.mux.HandleFunc("GET "+AuthorizePath, p.authorize)
	p.mux.HandleFunc("POST "+LoginPath, p.login)
	p.mux.HandleFunc("POST "+TokenPath, p.token)
	p.mux.HandleFunc("GET "+KeysPath, p.jwks)
	p.mux.HandleFunc("GET "+DiscoveryPath, p.discovery)
	p.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	return p, nil
}

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	p.mux.ServeHTTP(w, r)
}

// authorize checks an authorization request and shows the login page.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := p.oauth.NewAuthorizeRequest(ctx, r)
	if err != nil {
		p.oauth.WriteAuthorizeError(ctx, w, ar, err)
		return
	}
	browser := ""
	if c, err := r.Cookie(challengeCookie); err == nil {
		browser = c.Value
	}
	if browser == "" {
		browser = randomID()
		http.SetCookie(w, &http.Cookie{Name: challengeCookie, Value: browser, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	id := randomID()
	p.mu.Lock()
	p.prune(time.Now())
	p.pending[id] = pendingAuth{ar: ar, browser: browser, expires: time.Now().Add(loginTimeout)}
	p.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, struct{ Action, Challenge, Client string }{LoginPath, id, ar.GetClient().GetID()})
}

// login checks the user's credentials against the challenge's request and
// redirects to the relying party with a code.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PostFormValue("challenge")
	p.mu.Lock()
	pa, ok := p.pending[id]
	c, err := r.Cookie(challengeCookie)
	bound := ok && err == nil && c.Value == pa.browser && time.Now().Before(pa.expires)
	if bound {
		delete(p.pending, id) // one try per challenge, as a code is one use
	}
	p.mu.Unlock()
	if !bound {
		http.Error(w, "login expired or started in another browser: start again from the portal", http.StatusBadRequest)
		return
	}
	who, ok := p.users.Authenticate(r.PostFormValue("login"), r.PostFormValue("password"), r.PostFormValue("otp"))
	if !ok {
		p.oauth.WriteAuthorizeError(ctx, w, pa.ar, fosite.ErrAccessDenied.WithHint("Wrong login, password or one-time code."))
		return
	}
	for _, s := range pa.ar.GetRequestedScopes() {
		pa.ar.GrantScope(s)
	}
	now := time.Now().UTC()
	sess := &openid.DefaultSession{
		Claims:  &jwt.IDTokenClaims{Subject: who.Subject, Issuer: p.issuer, AuthTime: now, RequestedAt: now, Extra: who.Claims},
		Headers: &jwt.Headers{Extra: map[string]any{"kid": keyID}},
		Subject: who.Subject,
	}
	resp, err := p.oauth.NewAuthorizeResponse(ctx, pa.ar, sess)
	if err != nil {
		p.oauth.WriteAuthorizeError(ctx, w, pa.ar, err)
		return
	}
	p.oauth.WriteAuthorizeResponse(ctx, w, pa.ar, resp)
}

// token exchanges a code (with its PKCE verifier and the client's secret)
// for an ID token and an access token.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	ar, err := p.oauth.NewAccessRequest(ctx, r, openid.NewDefaultSession())
	if err != nil {
		p.oauth.WriteAccessError(ctx, w, ar, err)
		return
	}
	resp, err := p.oauth.NewAccessResponse(ctx, ar)
	if err != nil {
		p.oauth.WriteAccessError(ctx, w, ar, err)
		return
	}
	p.oauth.WriteAccessResponse(ctx, w, ar, resp)
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(p.keys)
}

// discovery serves the provider's metadata (OpenID Connect Discovery
// 1.0), relative to the issuer.
func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer": p.issuer, "authorization_endpoint": p.issuer + AuthorizePath, "token_endpoint": p.issuer + TokenPath,
		"jwks_uri": p.issuer + KeysPath, "response_types_supported": []string{"code"},
		"subject_types_supported": []string{"pairwise"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		"code_challenge_methods_supported": []string{"S256"}, "scopes_supported": []string{"openid", "profile"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

// prune forgets the challenges nobody answered in time; p.mu is held.
func (p *Provider) prune(now time.Time) {
	if len(p.pending) < 1024 {
		return
	}
	for id, pa := range p.pending {
		if now.After(pa.expires) {
			delete(p.pending, id)
		}
	}
}

// Pending returns how many login pages wait for an answer.
func (p *Provider) Pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

func randomID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Identification</title></head>
<body><h1>Identifiez-vous</h1><p>pour continuer vers {{.Client}}</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="challenge" value="{{.Challenge}}">
<label>Numero fiscal ou NIR <input name="login"></label>
<label>Mot de passe <input name="password" type="password"></label>
<label>Code a usage unique <input name="otp" inputmode="numeric"></label>
<button>Se connecter</button></form></body></html>
`))
