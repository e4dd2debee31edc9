package portal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
)

// SessionCookie is the name of the portal's session cookie.
const SessionCookie = "sid"

// ReplicaHeader names the replica that served a response.
const ReplicaHeader = "X-Replica"

// Replica is one portal application server. It is an http.Handler, safe for
// concurrent use.
type Replica struct {
	name     string
	accounts AccountStore
	sessions SessionStore
	advisers AdviserStore
	audit    AuditSink
	defects  DefectSet
	mux      *http.ServeMux
	version  atomic.Pointer[string]
	load     loadMeter
	lastGood atomic.Pointer[Session] // see defect_store_down_shared_session.go
	tokens   tokenRing               // see defect_migration_session_collision.go
	render   sharedRenderer          // see defect_shared_render_buffer.go
	blind    blindWriter             // see defect_blind_audit_log.go
	fc       *fcClient               // nil: no FranceConnect login
	fcLast   atomic.Pointer[string]  // see defect_franceconnect_crossed_callbacks.go
	errorLog atomic.Pointer[func(error)]
}

// SetErrorLog makes the replica report each store failure it answers 503 to.
func (r *Replica) SetErrorLog(f func(error)) { r.errorLog.Store(&f) }

// Stores are what replicas share: accounts and sessions, and optionally
// advisers and the audit log (without them the adviser pages answer 404).
type Stores struct {
	Accounts AccountStore
	Sessions SessionStore
	Advisers AdviserStore
	Audit    AuditSink
	// FranceConnect, if set, adds the login through an OpenID Connect
	// provider.
	FranceConnect *FranceConnect
}

// NewReplica returns replica name serving from the given stores.
func NewReplica(name string, st Stores, defects DefectSet) *Replica {
	r := &Replica{name: name, accounts: st.Accounts, sessions: st.Sessions, advisers: st.Advisers, audit: st.Audit,
		defects: defects, mux: http.NewServeMux()}
	r.SetVersion(V1)
	r.mux.HandleFunc("GET /{$}", r.home)
	r.mux.HandleFunc("GET /login", r.loginPage)
	r.mux.HandleFunc("POST /login", r.loginLegacy)
	r.mux.HandleFunc("POST /login/nir", r.loginNIR)
	r.mux.HandleFunc("GET /password", r.passwordPage)
	r.mux.HandleFunc("POST /password", r.passwordChange)
	r.mux.HandleFunc("GET /dossier", r.dossier)
	r.mux.HandleFunc("GET /api/dossier", r.dossierAPI)
	r.mux.HandleFunc("GET /attestation", r.attestation)
	r.mux.HandleFunc("POST /bank", r.bank)
	r.mux.HandleFunc("POST /logout", r.logout)
	if st.FranceConnect != nil {
		r.fc = newFCClient(st.FranceConnect)
		r.mux.HandleFunc("GET "+FranceConnectStartPath, r.fcStart)
		r.mux.HandleFunc("GET "+FranceConnectCallbackPath, r.fcCallback)
	}
	if r.advisers != nil && r.audit != nil {
		r.mux.HandleFunc("POST /adviser/login", r.adviserLogin)
		r.mux.HandleFunc("POST /adviser/mfa", r.adviserMFA)
		r.mux.HandleFunc("GET /adviser/caseload", r.adviserCaseload)
		r.mux.HandleFunc("GET /adviser/files/{caf}/{number}", r.adviserFile)
		r.mux.HandleFunc("POST /adviser/logout", r.adviserLogout)
	}
	r.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
	return r
}

// Name returns the replica's name.
func (r *Replica) Name() string { return r.name }

// SetVersion switches the release the replica runs (V1 or V2), as a restart
// on a new image does during a rolling deploy.
func (r *Replica) SetVersion(v string) { r.version.Store(&v) }

// Version returns the release the replica runs.
func (r *Replica) Version() string { return *r.version.Load() }

func (r *Replica) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.load.hit()
	w.Header().Set(ReplicaHeader, r.name)
	w.Header().Set(VersionHeader, r.Version())
	r.mux.ServeHTTP(w, req)
}

// VersionHeader names the release of the replica that served a response.
const VersionHeader = "X-Portal-Version"

func (r *Replica) home(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	render(w, http.StatusOK, homePage, nil)
}

func (r *Replica) loginPage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=60")
	render(w, http.StatusOK, loginPage, nil)
}

func (r *Replica) loginLegacy(w http.ResponseWriter, req *http.Request) {
	a, err := r.accounts.ByBeneficiary(req.Context(), req.PostFormValue("caf"), req.PostFormValue("number"))
	if r.failed(w, err) {
		return
	}
	if err != nil || a.State != StateLegacy || !CheckPassword(a, req.PostFormValue("password")) {
		r.denied(w)
		return
	}
	r.startSession(w, req, Session{Account: a.ID}, "/dossier")
}

func (r *Replica) loginNIR(w http.ResponseWriter, req *http.Request) {
	nir := strings.ReplaceAll(req.PostFormValue("nir"), " ", "")
	a, err := r.accounts.ByNIR(req.Context(), nir)
	if r.failed(w, err) {
		return
	}
	if err != nil || a.State == StateLegacy || !CheckPassword(a, req.PostFormValue("password")) {
		r.denied(w)
		return
	}
	if a.State == StatePending {
		r.startSession(w, req, Session{Account: a.ID, MustChange: true, Migration: true}, "/password")
		return
	}
	r.startSession(w, req, Session{Account: a.ID}, "/dossier")
}

func (r *Replica) startSession(w http.ResponseWriter, req *http.Request, s Session, next string) {
	token := r.sessionToken(s)
	if err := r.sessions.Put(req.Context(), token, encodeSession(r.Version(), s)); r.failed(w, err) {
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	w.Header().Set("Cache-Control", "private, no-store")
	http.Redirect(w, req, next, http.StatusSeeOther)
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// session returns the caller's session and account. It writes the response
// and returns ok=false when there is none, or when the temporary password
// must be changed first.
func (r *Replica) session(w http.ResponseWriter, req *http.Request, api, allowMustChange bool) (string, Session, Account, bool) {
	c, err := req.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		r.anonymous(w, req, api)
		return "", Session{}, Account{}, false
	}
	raw, err := r.sessions.Get(req.Context(), c.Value)
	var s Session
	switch {
	case errors.Is(err, ErrNotFound):
		r.anonymous(w, req, api)
		return "", Session{}, Account{}, false
	case err != nil:
		fallback, ok := r.storeDown(err)
		if !ok {
			r.failed(w, err)
			return "", Session{}, Account{}, false
		}
		s = fallback
	default:
		if s, err = r.decode(raw); err != nil || s.IsAdviser {
			r.anonymous(w, req, api) // an unreadable session, or an adviser's, is no beneficiary session
			return "", Session{}, Account{}, false
		}
		if !s.MustChange {
			r.remember(s) // a session that reaches pages, as cachetur's shared one did
		}
	}
	if s.MustChange && !allowMustChange {
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, req, "/password", http.StatusSeeOther)
		return "", Session{}, Account{}, false
	}
	a, err := r.accounts.Get(req.Context(), s.Account)
	if err != nil {
		r.failed(w, err)
		return "", Session{}, Account{}, false
	}
	return c.Value, s, a, true
}

func (r *Replica) anonymous(w http.ResponseWriter, req *http.Request, api bool) {
	w.Header().Set("Cache-Control", "no-store")
	if api {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "authentication required"})
		return
	}
	http.Redirect(w, req, "/login", http.StatusSeeOther)
}

func (r *Replica) passwordPage(w http.ResponseWriter, req *http.Request) {
	_, s, a, ok := r.session(w, req, false, true)
	if !ok {
		return
	}
	r.privateHeaders(w.Header(), s)
	render(w, http.StatusOK, passwordPage, a)
}

func (r *Replica) passwordChange(w http.ResponseWriter, req *http.Request) {
	token, s, a, ok := r.session(w, req, false, true)
	if !ok {
		return
	}
	pw := req.PostFormValue("new_password")
	if len(pw) < 8 {
		w.Header().Set("Cache-Control", "no-store")
		render(w, http.StatusBadRequest, errorPage, "Le mot de passe doit contenir au moins 8 caracteres.")
		return
	}
	if err := r.accounts.SetPassword(req.Context(), a.ID, HashPassword(a.Salt, pw)); r.failed(w, err) {
		return
	}
	s.MustChange = false
	if err := r.sessions.Put(req.Context(), token, encodeSession(r.Version(), s)); r.failed(w, err) {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, req, "/dossier", http.StatusSeeOther)
}

func (r *Replica) dossier(w http.ResponseWriter, req *http.Request) {
	_, s, a, ok := r.session(w, req, false, false)
	if !ok {
		return
	}
	r.privateHeaders(w.Header(), s)
	if r.dossierFastPath(w, a) {
		return
	}
	render(w, http.StatusOK, dossierPage, newDossierView(a))
}

// attestation serves the payment certificate (attestation de paiement) as
// plain text: the document a beneficiary prints for a landlord or a bank.
func (r *Replica) attestation(w http.ResponseWriter, req *http.Request) {
	_, s, a, ok := r.session(w, req, false, false)
	if !ok {
		return
	}
	r.privateHeaders(w.Header(), s)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write(r.render.document(r, a))
}

func (r *Replica) dossierAPI(w http.ResponseWriter, req *http.Request) {
	_, s, a, ok := r.session(w, req, true, false)
	if !ok {
		return
	}
	r.privateHeaders(w.Header(), s)
	writeJSON(w, http.StatusOK, dossierJSON{
		Name: a.First + " " + a.Last, NIR: a.NIR, CAF: a.CAF, Number: a.Number, Email: a.Email,
		Phone: a.Phone, Address: a.Street + ", " + a.PostalCode + " " + a.City, Salary: a.Salary,
		Family: a.Family, IBAN: a.IBAN, State: string(a.State),
	})
}

type dossierJSON struct {
	Name    string `json:"name"`
	NIR     string `json:"nir"`
	CAF     string `json:"caf"`
	Number  string `json:"beneficiary_number"`
	Email   string `json:"email"`
	Phone   string `json:"phone"`
	Address string `json:"address"`
	Salary  int    `json:"salary"`
	Family  string `json:"family"`
	IBAN    string `json:"iban"`
	State   string `json:"state"`
}

func (r *Replica) bank(w http.ResponseWriter, req *http.Request) {
	_, _, a, ok := r.session(w, req, false, false)
	if !ok {
		return
	}
	iban := strings.ToUpper(strings.ReplaceAll(req.PostFormValue("iban"), " ", ""))
	if !ValidIBAN(iban) {
		w.Header().Set("Cache-Control", "no-store")
		render(w, http.StatusBadRequest, errorPage, "IBAN invalide.")
		return
	}
	if err := r.accounts.SetIBAN(req.Context(), a.ID, iban); r.failed(w, err) {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, req, "/dossier", http.StatusSeeOther)
}

func (r *Replica) logout(w http.ResponseWriter, req *http.Request) {
	if c, err := req.Cookie(SessionCookie); err == nil {
		if err := r.sessions.Delete(req.Context(), c.Value); r.failed(w, err) {
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, req, "/", http.StatusSeeOther)
}

// privateHeaders marks a personal page as uncacheable by shared caches.
func (r *Replica) privateHeaders(h http.Header, s Session) {
	if r.migrationOmitsCacheControl(s) || r.originOmitsCacheControl() {
		return
	}
	h.Set("Cache-Control", "private, no-store")
}

func (r *Replica) denied(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	render(w, http.StatusUnauthorized, errorPage, "Identifiant ou mot de passe incorrect.")
}

// failed answers 503 with a page that carries no user data when a store
// fails (fail closed), and reports whether it did. ErrNotFound is not a
// failure.
func (r *Replica) failed(w http.ResponseWriter, err error) bool {
	if err == nil || errors.Is(err, ErrNotFound) {
		return false
	}
	w.Header().Set("Cache-Control", "no-store")
	if errors.Is(err, context.Canceled) {
		return true
	}
	if f := r.errorLog.Load(); f != nil {
		(*f)(err)
	}
	render(w, http.StatusServiceUnavailable, errorPage, "Service momentanement indisponible.")
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// ValidIBAN reports whether s (upper case, no spaces) has valid ISO 13616
// check digits.
func ValidIBAN(s string) bool {
	if len(s) < 15 || len(s) > 34 {
		return false
	}
	r := 0
	for _, c := range s[4:] + s[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = (r*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			r = (r*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
	}
	return r == 1
}
