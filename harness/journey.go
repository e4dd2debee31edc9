package harness

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// The reference portal's journeys, as per-user state machines. A user is in
// exactly one step at a time and is owned by whoever holds its index (the
// targeter, then the transport, then a ready queue), so its state needs no
// lock.

// step is where a user is in its journey.
type step uint8

const (
	stepLogin step = iota
	stepPasswordForm
	stepPasswordChange
	stepDossier
	stepDossierAPI
	stepAttestation
	stepBank
	stepDossierCheck
	stepLogout
)

// kind is what a request does, for per-step statistics.
type kind uint16

const (
	kindLoginLegacy kind = iota
	kindLoginNIR
	kindPasswordForm
	kindPasswordChange
	kindDossier
	kindDossierAPI
	kindAttestation
	kindBank
	kindDossierCheck
	kindLogout
	kindProbe
	kindAdviserLogin
	kindAdviserMFA
	kindCaseload
	kindAdviserFile
	kindTakeoverFile
	kindAdviserLogout
	kindStuffing
	numKinds
)

var kindNames = [numKinds]string{
	"login-legacy", "login-nir", "password-form", "password-change", "dossier",
	"dossier-api", "attestation", "bank-change", "dossier-after-bank", "logout", "anonymous-probe",
	"adviser-login", "adviser-mfa", "adviser-caseload", "adviser-file", "takeover-file", "adviser-logout",
	"credential-stuffing",
}

func (k kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	names := *flowKindNames.Load()
	if int(k-numKinds) < len(names) {
		return names[k-numKinds]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// maxKinds bounds the kinds of request a run can tell apart in its
// statistics: the built-in ones and the declared flows' steps.
const maxKinds = 512

// flowKindNames are the names of the declared flows' steps, "flow/step",
// registered once per name; copy-on-write, read without a lock.
var (
	flowKindNames = func() *atomic.Pointer[[]string] {
		p := new(atomic.Pointer[[]string])
		p.Store(&[]string{})
		return p
	}()
	flowKindMu sync.Mutex
)

// flowKind returns the kind of a declared step, registering its name.
func flowKind(name string) (kind, error) {
	flowKindMu.Lock()
	defer flowKindMu.Unlock()
	names := *flowKindNames.Load()
	for i, n := range names {
		if n == name {
			return numKinds + kind(i), nil
		}
	}
	if int(numKinds)+len(names) >= maxKinds {
		return 0, fmt.Errorf("too many flow steps (at most %d)", maxKinds-int(numKinds))
	}
	next := append(append([]string(nil), names...), name)
	flowKindNames.Store(&next)
	return numKinds + kind(len(names)), nil
}

func (k kind) isLogin() bool { return k == kindLoginLegacy || k == kindLoginNIR }

// user is the harness's view of one synthetic user: O(1) memory each.
type user struct {
	token      string // session token while logged in
	step       step
	state      population.State
	pwGen      uint8 // password generation the harness believes is current
	pwUnsure   bool  // a password change timed out: either generation may hold
	touched    bool  // the user wrote its bank details at least once
	ibanGen    uint16
	ibanAlt    uint16 // with ibanUnsure: the other generation that may hold
	ibanUnsure bool
	cycle      uint32

	// declared flows only (see flow.go)
	flow   int16             // the flow under way, -1 between journeys
	vars   map[string]string // values extracted by earlier steps
	jar    map[string]string // the user's cookies
	follow string            // a redirect to follow next
}

// journey is a protocol the synthetic users follow: it builds each user's
// next request and moves the user on after the response. Implementations run
// on vegeta's workers, one user at a time each.
type journey interface {
	// kind says what user u's next request does.
	kind(u *user) kind
	// request fills t with user i's next request.
	request(e *engine, t *vegetaTarget, i int)
	// advance moves user i on after its response (nil when the request
	// failed; body is only valid during the call) and hands it to
	// e.inFlight or e.idle.
	advance(e *engine, i int, resp *http.Response, body []byte, token string)
}

// portalJourney is the reference portal's protocol: legacy or identifier-
// migration login, forced password change, dossier page and API, bank-detail
// change, logout.
type portalJourney struct{}

func (portalJourney) kind(u *user) kind {
	if u.step == stepLogin {
		if u.state == population.Legacy {
			return kindLoginLegacy
		}
		return kindLoginNIR
	}
	return stepKinds[u.step]
}

var stepKinds = [...]kind{
	stepPasswordForm: kindPasswordForm, stepPasswordChange: kindPasswordChange, stepDossier: kindDossier,
	stepDossierAPI: kindDossierAPI, stepAttestation: kindAttestation, stepBank: kindBank,
	stepDossierCheck: kindDossierCheck, stepLogout: kindLogout,
}

const (
	formType = "application/x-www-form-urlencoded"
	// attrHeader carries the user index from the targeter to the transport,
	// which strips it before the request leaves: attribution never changes
	// the URL, so it never changes what a cache keys on.
	attrHeader = "X-Crosstalk-User"
)

// userHeader returns the headers of user i's request: its attribution and
// its session cookie.
func (e *engine) userHeader(i int) http.Header {
	h := make(http.Header, 3)
	h[attrHeader] = []string{strconv.Itoa(i)}
	if tok := e.users[i].token; tok != "" {
		h["Cookie"] = []string{e.cookie + "=" + tok}
	}
	return h
}

func (portalJourney) request(e *engine, t *vegetaTarget, i int) {
	u := &e.users[i]
	t.Header = e.userHeader(i)
	switch u.step {
	case stepLogin:
		v := url.Values{"password": {e.pop.Password(i, int(u.pwGen))}}
		if u.state == population.Legacy {
			caf, num := e.pop.Beneficiary(i)
			v.Set("caf", caf)
			v.Set("number", num)
			e.post(t, "/login", v)
		} else {
			v.Set("nir", e.pop.NIR(i))
			e.post(t, "/login/nir", v)
		}
	case stepPasswordForm:
		e.get(t, "/password")
	case stepPasswordChange:
		e.post(t, "/password", url.Values{"new_password": {e.pop.Password(i, int(u.pwGen)+1)}})
	case stepDossier, stepDossierCheck:
		e.get(t, "/dossier")
	case stepDossierAPI:
		e.get(t, "/api/dossier")
	case stepAttestation:
		e.get(t, "/attestation")
	case stepBank:
		gen := max(u.ibanGen, u.ibanAlt) + 1
		e.post(t, "/bank", url.Values{"iban": {e.pop.IBAN(i, int(gen))}})
	case stepLogout:
		e.post(t, "/logout", nil)
	}
}

func (e *engine) get(t *vegetaTarget, path string) {
	t.Method, t.URL, t.Body = http.MethodGet, e.base+path, nil
}

func (e *engine) post(t *vegetaTarget, path string, v url.Values) {
	t.Method, t.URL, t.Body = http.MethodPost, e.base+path, []byte(v.Encode())
	t.Header["Content-Type"] = []string{formType}
}

func (portalJourney) advance(e *engine, i int, resp *http.Response, _ []byte, token string) {
	u := &e.users[i]
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	next, ok := u.step, false
	switch u.step {
	case stepLogin:
		e.loginAttempts.Add(1)
		if status == http.StatusSeeOther && token != "" {
			e.loginOK.Add(1)
			u.token, u.pwUnsure = token, false
			if resp.Header.Get("Location") == "/password" {
				next, ok = stepPasswordForm, true
			} else {
				next, ok = stepDossier, true
			}
		} else if u.pwUnsure && status == http.StatusUnauthorized {
			// A password change timed out earlier: try the other generation.
			u.pwGen ^= 1
			if u.pwGen == 1 {
				u.state = population.Migrated
			} else {
				u.state = population.MigrationPending
			}
		}
	case stepPasswordForm:
		next, ok = stepPasswordChange, status == http.StatusOK
	case stepPasswordChange:
		switch {
		case redirectedTo(resp, "/dossier"):
			u.pwGen, u.state = 1, population.Migrated
			next, ok = stepDossier, true
		case resp == nil || status >= 500:
			u.pwUnsure = true
		}
	case stepDossier:
		next, ok = stepDossierAPI, status == http.StatusOK
	case stepDossierAPI, stepAttestation:
		ok = status == http.StatusOK
		switch {
		case u.step == stepDossierAPI && e.plans(i, u.cycle, 1, e.documents):
			next = stepAttestation
		case e.plans(i, u.cycle, 2, e.bankChange):
			next = stepBank
		default:
			next = stepLogout
		}
	case stepBank:
		gen := max(u.ibanGen, u.ibanAlt) + 1
		u.touched = true
		switch {
		case redirectedTo(resp, "/dossier"):
			u.ibanGen, u.ibanAlt, u.ibanUnsure = gen, 0, false
			next, ok = stepDossierCheck, true
		case resp == nil || status >= 500:
			// The write may or may not have landed: accept either.
			if !u.ibanUnsure {
				u.ibanAlt = gen
			} else {
				u.ibanAlt = max(u.ibanAlt, gen)
			}
			u.ibanUnsure = true
		}
	case stepDossierCheck:
		next, ok = stepLogout, status == http.StatusOK
	case stepLogout:
		u.token, u.step, u.cycle = "", stepLogin, u.cycle+1
		e.idle <- int32(i)
		return
	}
	if !ok { // the journey broke: start over with a fresh login
		u.token, u.step, u.cycle = "", stepLogin, u.cycle+1
		e.idle <- int32(i)
		return
	}
	u.step = next
	e.ready(i)
}

// redirectedTo reports whether resp is the See Other to path by which the
// reference portal confirms a write. A See Other elsewhere is not a success:
// a session lost to a store flush or restart answers a write with a redirect
// to /login, and the write never happened.
func redirectedTo(resp *http.Response, path string) bool {
	return resp != nil && resp.StatusCode == http.StatusSeeOther && resp.Header.Get("Location") == path
}

// pageJourney has every user fetch one page again and again with its own
// session cookie: the trivial load the benchmarks compare with raw vegeta.
type pageJourney struct{ path string }

func (pageJourney) kind(*user) kind { return kindDossier }

func (j pageJourney) request(e *engine, t *vegetaTarget, i int) {
	t.Header = e.userHeader(i)
	e.get(t, j.path)
}

func (pageJourney) advance(e *engine, i int, _ *http.Response, _ []byte, _ string) {
	e.idle <- int32(i)
}

// plans decides, reproducibly from the seed, whether user i takes an
// optional step (tag) with probability p in its journey number cycle.
func (e *engine) plans(i int, cycle uint32, tag uint64, p float64) bool {
	if p <= 0 {
		return false
	}
	h := mixHash(e.seed ^ uint64(i)<<32 ^ uint64(cycle) ^ tag<<60)
	return float64(h>>11)/(1<<53) < p
}

// mixHash is the splitmix64 finalizer.
func mixHash(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

var probePaths = []string{"/dossier", "/api/dossier", "/", "/password", "/login"}

// probe fills t with an anonymous request: no session, no user.
func (e *engine) probe(t *vegetaTarget, n uint64) {
	t.Header = http.Header{attrHeader: {"-"}}
	e.get(t, probePaths[n%uint64(len(probePaths))])
}
