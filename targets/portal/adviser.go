package portal

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp/totp"
)

// Adviser is a conseiller: an agent who reads the files of the
// beneficiaries it follows.
type Adviser struct {
	ID       int
	Login    string
	First    string
	Last     string
	Salt     string
	PassHash string
	// TOTPSecret is the adviser's second factor: its authenticator app
	// shows the time-based one-time password (RFC 6238) of this secret.
	TOTPSecret string
}

// AdviserStore holds advisers and their failed-login counters.
// Implementations are safe for concurrent use.
type AdviserStore interface {
	ByLogin(ctx context.Context, login string) (Adviser, error)
	ByID(ctx context.Context, id int) (Adviser, error)
	// Failures returns the failed logins since the last success.
	Failures(ctx context.Context, id int) (int, error)
	// Failed records a failed login and returns the failures so far.
	Failed(ctx context.Context, id int) (int, error)
	// Succeeded resets the counter.
	Succeeded(ctx context.Context, id int) error
}

// MemAdvisers is an in-memory AdviserStore. Load it with Add before serving.
type MemAdvisers struct {
	advisers []Adviser
	byLogin  map[string]int
	failures []atomic.Int32
}

var _ AdviserStore = (*MemAdvisers)(nil)

// NewMemAdvisers returns a store for the given advisers, whose IDs must be
// their positions.
func NewMemAdvisers(advisers []Adviser) (*MemAdvisers, error) {
	m := &MemAdvisers{advisers: advisers, byLogin: map[string]int{}, failures: make([]atomic.Int32, len(advisers))}
	for i, a := range advisers {
		if a.ID != i {
			return nil, errors.New("memstore: adviser ids must be their positions")
		}
		m.byLogin[a.Login] = i
	}
	return m, nil
}

// ByLogin implements AdviserStore.
func (m *MemAdvisers) ByLogin(_ context.Context, login string) (Adviser, error) {
	i, ok := m.byLogin[login]
	if !ok {
		return Adviser{}, ErrNotFound
	}
	return m.advisers[i], nil
}

// ByID implements AdviserStore.
func (m *MemAdvisers) ByID(_ context.Context, id int) (Adviser, error) {
	if id < 0 || id >= len(m.advisers) {
		return Adviser{}, ErrNotFound
	}
	return m.advisers[id], nil
}

// Failures implements AdviserStore.
func (m *MemAdvisers) Failures(_ context.Context, id int) (int, error) {
	return int(m.failures[id].Load()), nil
}

// Failed implements AdviserStore.
func (m *MemAdvisers) Failed(_ context.Context, id int) (int, error) {
	return int(m.failures[id].Add(1)), nil
}

// Succeeded implements AdviserStore.
func (m *MemAdvisers) Succeeded(_ context.Context, id int) error {
	m.failures[id].Store(0)
	return nil
}

// LockoutAfter is how many failed logins lock an adviser account in the
// correct portal (the CNIL found France Travail's 50 far too many).
const LockoutAfter = 5

// caseloadPage is how many beneficiaries the caseload page lists.
const caseloadPage = 30

func (r *Replica) adviserLogin(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ctx := req.Context()
	adv, err := r.advisers.ByLogin(ctx, req.PostFormValue("login"))
	if errors.Is(err, ErrNotFound) {
		r.denied(w)
		return
	}
	if r.failed(w, err) {
		return
	}
	n, err := r.advisers.Failures(ctx, adv.ID)
	if r.failed(w, err) {
		return
	}
	if n >= r.lockoutAfter() {
		render(w, http.StatusLocked, errorPage, "Compte verrouille apres trop de tentatives. Contactez votre support.")
		return
	}
	if !CheckPassword(Account{Salt: adv.Salt, PassHash: adv.PassHash}, req.PostFormValue("password")) {
		if _, err := r.advisers.Failed(ctx, adv.ID); r.failed(w, err) {
			return
		}
		r.denied(w)
		return
	}
	if err := r.advisers.Succeeded(ctx, adv.ID); r.failed(w, err) {
		return
	}
	if r.requiresMFA() {
		r.startSession(w, req, Session{IsAdviser: true, Adviser: adv.ID, MFAPending: true}, "/adviser/mfa")
		return
	}
	r.startSession(w, req, Session{IsAdviser: true, Adviser: adv.ID}, "/adviser/caseload")
}

func (r *Replica) adviserMFA(w http.ResponseWriter, req *http.Request) {
	token, s, ok := r.adviserSession(w, req, true)
	if !ok {
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	adv := r.adviserByID(req.Context(), s.Adviser)
	if adv == nil || !totp.Validate(req.PostFormValue("code"), adv.TOTPSecret) {
		r.denied(w)
		return
	}
	s.MFAPending = false
	if err := r.sessions.Put(req.Context(), token, encodeSession(r.Version(), s)); r.failed(w, err) {
		return
	}
	http.Redirect(w, req, "/adviser/caseload", http.StatusSeeOther)
}

func (r *Replica) adviserByID(ctx context.Context, id int) *Adviser {
	a, err := r.advisers.ByID(ctx, id)
	if err != nil {
		return nil
	}
	return &a
}

// adviserSession returns the caller's adviser session, answering 401 when
// there is none (or when its second factor is pending and mfaStep is false).
func (r *Replica) adviserSession(w http.ResponseWriter, req *http.Request, mfaStep bool) (string, Session, bool) {
	c, err := req.Cookie(SessionCookie)
	var s Session
	if err == nil && c.Value != "" {
		var raw string
		raw, err = r.sessions.Get(req.Context(), c.Value)
		if err != nil && !errors.Is(err, ErrNotFound) {
			r.failed(w, err)
			return "", Session{}, false
		}
		if err == nil {
			s, err = decodeSession(raw)
		}
	}
	if err != nil || !s.IsAdviser || (s.MFAPending && !mfaStep) {
		w.Header().Set("Cache-Control", "no-store")
		render(w, http.StatusUnauthorized, errorPage, "Authentification requise.")
		return "", Session{}, false
	}
	return c.Value, s, true
}

var caseloadTmpl = mustPage(`<h1>Mon portefeuille</h1><table><tr><th>Allocataire</th><th>Numero</th></tr>
{{range .}}<tr><td>{{.First}} {{.Last}}</td><td><a href="/adviser/files/{{.CAF}}/{{.Number}}">{{.CAF}} {{.Number}}</a></td></tr>
{{end}}</table>`)

func (r *Replica) adviserCaseload(w http.ResponseWriter, req *http.Request) {
	_, s, ok := r.adviserSession(w, req, false)
	if !ok {
		return
	}
	list, err := r.accounts.Caseload(req.Context(), s.Adviser, caseloadPage)
	if r.failed(w, err) {
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	render(w, http.StatusOK, caseloadTmpl, list)
}

// adviserFile serves a beneficiary's file to an adviser who follows it, and
// records the access in the audit log either way.
func (r *Replica) adviserFile(w http.ResponseWriter, req *http.Request) {
	_, s, ok := r.adviserSession(w, req, false)
	if !ok {
		return
	}
	a, err := r.accounts.ByBeneficiary(req.Context(), req.PathValue("caf"), req.PathValue("number"))
	if errors.Is(err, ErrNotFound) {
		w.Header().Set("Cache-Control", "no-store")
		render(w, http.StatusNotFound, errorPage, "Dossier introuvable.")
		return
	}
	if r.failed(w, err) {
		return
	}
	granted := a.Adviser == s.Adviser || r.readsAnyFile()
	adv := r.adviserByID(req.Context(), s.Adviser)
	reader := ""
	if adv != nil {
		reader = adv.Login
	}
	err = r.record(req.Context(), AuditEntry{At: time.Now(), Reader: reader, Subject: a.ID, Granted: granted,
		Outside: a.Adviser != s.Adviser, Replica: r.name, From: req.RemoteAddr})
	if r.failed(w, err) {
		return
	}
	if !granted {
		w.Header().Set("Cache-Control", "no-store")
		render(w, http.StatusForbidden, errorPage, "Ce dossier ne fait pas partie de votre portefeuille.")
		return
	}
	w.Header().Set("Cache-Control", "private, no-store")
	render(w, http.StatusOK, dossierPage, newDossierView(a))
}

func (r *Replica) adviserLogout(w http.ResponseWriter, req *http.Request) { r.logout(w, req) }
