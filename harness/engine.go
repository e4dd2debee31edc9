package harness

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/crosstalk-dev/crosstalk/harness/oracle"
	"github.com/crosstalk-dev/crosstalk/harness/population"
)

type vegetaTarget = vegeta.Target

// engine is one run's per-request machinery: the targeter vegeta calls for
// each tick, and the http.RoundTripper vegeta's client sends through, which
// attributes each response to its user, runs the oracles on every byte and
// moves the user's journey on. All of it runs on vegeta's workers, in
// parallel; the shared parts are atomics, sharded maps and channels.
type engine struct {
	pop        *population.Population
	journey    journey
	scanner    *oracle.Scanner
	rec        *oracle.Recorder
	next       http.RoundTripper
	base       string
	cookie     string
	seed       uint64
	bankChange float64
	documents  float64
	think      time.Duration // mean pause between a user's steps
	probeEvery uint64        // every n-th request is an anonymous probe (0: none)
	start      time.Time
	loadEnd    time.Time       // when the load stopped
	faults     func() []string // the faults active now
	stats      *stats
	sink       *resultSink

	staff    *staffEngine // nil when the scenario has no advisers
	users    []user
	inFlight chan int32 // users mid-journey, ready for their next step
	idle     chan int32 // users between journeys
	fresh    atomic.Int64
	calls    atomic.Uint64
	seq      atomic.Uint64
	tokens   tokenTable

	loginAttempts, loginOK atomic.Uint64

	flowFailures     atomic.Uint64
	firstFlowFailure atomic.Pointer[flowFailure]
	sensitive        [5]bool // by population.Field; all true unless the portal says otherwise
	household        int     // household size, 0 for none
	shares           [5]bool // fields household members may see of each other

	bufs sync.Pool
}

func newEngine(pop *population.Population) *engine {
	n := pop.Size()
	e := &engine{
		pop:      pop,
		journey:  portalJourney{},
		scanner:  oracle.NewScanner(pop),
		users:    make([]user, n),
		inFlight: make(chan int32, n),
		idle:     make(chan int32, n),
		cookie:   "sid",
		faults:   func() []string { return nil },
	}
	e.tokens.init()
	for i := range e.sensitive {
		e.sensitive[i] = true
	}
	e.bufs.New = func() any { b := make([]byte, 0, 32<<10); return &b }
	for i := range e.users {
		u := &e.users[i]
		u.state = pop.State(i)
		if u.state != population.MigrationPending {
			u.pwGen = 1
		}
	}
	return e
}

// target is the vegeta.Targeter. It never returns an error: vegeta stops the
// whole attack on one, and "no user ready" is not a reason to stop.
func (e *engine) target(t *vegeta.Target) error {
	n := e.calls.Add(1)
	if e.probeEvery > 0 && n%e.probeEvery == 0 {
		e.probe(t, n/e.probeEvery)
		return nil
	}
	if a, ok := e.pickStaff(n); ok {
		e.staffRequest(t, a)
		return nil
	}
	// Users mid-journey first, so journeys complete; then users never seen
	// (the surge of first logins); then users starting another journey.
	select {
	case i := <-e.inFlight:
		e.journey.request(e, t, int(i))
		return nil
	default:
	}
	if f := e.fresh.Add(1) - 1; f < int64(len(e.users)) {
		e.journey.request(e, t, int(f))
		return nil
	}
	select {
	case i := <-e.idle:
		e.journey.request(e, t, int(i))
	default:
		e.probe(t, n) // every user is busy: probe instead of idling
	}
	return nil
}

// ready hands user i, mid-journey, back for its next step, after its think
// time: a pause of think ± 50%, reproducible from the seed.
func (e *engine) ready(i int) {
	if e.think <= 0 {
		e.inFlight <- int32(i)
		return
	}
	u := &e.users[i]
	h := mixHash(e.seed ^ uint64(i)<<24 ^ uint64(u.cycle)<<8 ^ uint64(u.step))
	d := e.think/2 + time.Duration(h%uint64(e.think))
	time.AfterFunc(d, func() { e.inFlight <- int32(i) })
}

// RoundTrip implements http.RoundTripper.
func (e *engine) RoundTrip(req *http.Request) (*http.Response, error) {
	attr := req.Header[attrHeader]
	// The request is built by vegeta for this one hit and never reused, so
	// deleting the attribution header in place is safe.
	delete(req.Header, attrHeader)
	uid, adv := oracle.Anonymous, -1
	k := kindProbe
	if len(attr) == 1 && attr[0] != "-" {
		if attr[0][0] == 'a' {
			adv, _ = strconv.Atoi(attr[0][1:])
			k = e.staff.kind(adv)
		} else {
			uid, _ = strconv.Atoi(attr[0])
			k = e.journey.kind(&e.users[uid])
		}
	}

	start := time.Now()
	resp, err := e.next.RoundTrip(req)
	bp := e.bufs.Get().(*[]byte)
	body := (*bp)[:0]
	if err == nil {
		body, err = readAll(resp.Body, body)
		resp.Body.Close()
	}
	lat := time.Since(start)
	if err != nil {
		resp = nil
	}
	e.observe(uid, adv, k, req, resp, body, lat, err)
	*bp = body[:0]
	e.bufs.Put(bp)
	if err != nil {
		return nil, err
	}
	// vegeta only needs the status and headers: the body was read, scanned
	// and recycled here, which spares vegeta a copy of every page.
	resp.Body, resp.ContentLength = http.NoBody, 0
	return resp, nil
}

func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				return b, nil
			}
			return b, err
		}
	}
}

func (e *engine) observe(uid, adv int, k kind, req *http.Request, resp *http.Response, body []byte, lat time.Duration, err error) {
	seq := e.seq.Add(1)
	at := time.Since(e.start)
	status, replica, token := 0, "", ""
	if resp != nil {
		status = resp.StatusCode
		replica = resp.Header.Get("X-Replica")
		token = e.check(seq, at, viewer{uid, adv}, k, req, resp, body)
	}
	switch {
	case adv >= 0:
		e.staffAdvance(adv, k, resp, token, seq, at)
	case uid >= 0:
		e.journey.advance(e, uid, resp, body, token)
	}
	failed := err != nil || status >= 500
	e.stats.observe(k, at, lat, failed)
	e.sink.write(seq, at, uid, k, req, status, lat, len(body), replica, err)
}

// viewer is who a response went to: a beneficiary (uid), an adviser (adv),
// or nobody (an anonymous probe: both are negative).
type viewer struct{ uid, adv int }

// id is the viewer's key in the token table: beneficiaries by index,
// advisers below -1, anonymous -1.
func (v viewer) id() int {
	if v.adv >= 0 {
		return -2 - v.adv
	}
	return v.uid
}

// check runs the isolation, fail-closed and session oracles on one response
// and returns the session token it set, if any.
func (e *engine) check(seq uint64, at time.Duration, who viewer, k kind, req *http.Request, resp *http.Response, body []byte) string {
	var buf [8]oracle.Match
	e.foreign(seq, at, who, req, resp, e.scanner.Scan(buf[:0], body), "body", body)
	token := ""
	for name, vs := range resp.Header {
		for _, v := range vs {
			b := unsafe.Slice(unsafe.StringData(v), len(v)) // read-only view, no copy
			e.foreign(seq, at, who, req, resp, e.scanner.Scan(buf[:0], b), "header "+name, b)
			if name == "Set-Cookie" {
				if t := cookieValue(v, e.cookie); t != "" {
					token = t
				}
			}
		}
	}
	if token == "" {
		return ""
	}
	return e.claimToken(seq, at, who, resp, token, "header Set-Cookie")
}

// claimToken is the session oracle: a session token (a cookie, or a value a
// flow extracted) is recorded as the viewer's when first seen; seen again by
// another viewer, it is a violation, and it is never adopted. It returns the
// token the viewer may use.
func (e *engine) claimToken(seq uint64, at time.Duration, who viewer, resp *http.Response, token, where string) string {
	uid := who.id()
	owner, known := e.tokens.owner(token)
	switch {
	case known && owner != uid:
		req := resp.Request
		if req == nil {
			req = &http.Request{Method: "?", URL: &url.URL{}}
		}
		e.rec.Add(e.evidence(oracle.Session, seq, at, who.uid, owner, req, resp, oracle.Violation{
			Field: "session-token", Value: token, Where: where,
			Detail: "a session token issued to another user was delivered to this one",
		}))
		return ""
	case !known && uid != oracle.Anonymous:
		// A new token: issued at login, or rotated; either way it is this
		// viewer's from now on.
		e.tokens.add(token, uid)
	}
	return token
}

// foreign records one violation per other user whose data the matches in b
// (one part of a response) carry: a dossier leaking four values of one
// person is one leaked response, its evidence naming every field.
func (e *engine) foreign(seq uint64, at time.Duration, who viewer, req *http.Request, resp *http.Response, ms []oracle.Match, where string, b []byte) {
	for i, m := range ms {
		if m.Owner == who.uid || seenOwner(ms[:i], m.Owner) || !e.sensitive[m.Field] {
			continue
		}
		if e.household > 0 && who.uid >= 0 && who.uid/e.household == m.Owner/e.household && e.sharedOnly(ms, m.Owner) {
			continue // household members may see these fields of each other
		}
		o, detail := oracle.Isolation, ""
		switch {
		case who.adv >= 0:
			if e.staff.staff.Of(m.Owner) == who.adv {
				continue // a beneficiary the adviser follows: lawful
			}
			o = oracle.Breadth
			detail = fmt.Sprintf("adviser %s received the file of user #%d, whom it does not follow; ", e.staff.staff.Login(who.adv), m.Owner)
		case who.uid == oracle.Anonymous || resp.StatusCode >= 400:
			o = oracle.FailClosed
		}
		fields := m.Field.String()
		for _, n := range ms[i+1:] {
			if n.Owner == m.Owner {
				fields += ", " + n.Field.String()
			}
		}
		e.rec.Add(e.evidence(o, seq, at, who.uid, m.Owner, req, resp, oracle.Violation{
			Field: m.Field.String(), Value: string(b[m.Start:m.End]), Where: where,
			Excerpt: oracle.Excerpt(b, m.Start, m.End, 80),
			Detail:  detail + "fields of the other user in this response: " + fields,
		}))
	}
}

// sharedOnly reports whether every field of owner among ms is one household
// members share.
func (e *engine) sharedOnly(ms []oracle.Match, owner int) bool {
	for _, m := range ms {
		if m.Owner == owner && e.sensitive[m.Field] && !e.shares[m.Field] {
			return false
		}
	}
	return true
}

func seenOwner(ms []oracle.Match, owner int) bool {
	for _, m := range ms {
		if m.Owner == owner {
			return true
		}
	}
	return false
}

func (e *engine) evidence(o string, seq uint64, at time.Duration, viewer, owner int, req *http.Request, resp *http.Response, v oracle.Violation) oracle.Violation {
	v.Oracle, v.Seq, v.AtS, v.Viewer, v.Owner, v.Seed = o, seq, at.Seconds(), viewer, owner, e.seed
	v.Request = req.Method + " " + req.URL.Path
	v.Faults = e.faults()
	if resp != nil {
		v.Status = resp.StatusCode
		v.Replica = resp.Header.Get("X-Replica")
		v.Cache = resp.Header.Get("X-Cache")
	}
	return v
}

// cookieValue returns the value of cookie name in a Set-Cookie header value.
func cookieValue(setCookie, name string) string {
	if len(setCookie) <= len(name) || setCookie[len(name)] != '=' || !strings.HasPrefix(setCookie, name) {
		return ""
	}
	v := setCookie[len(name)+1:]
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// tokenTable records which user each session token was issued to. It keeps
// a 64-bit hash of the token, not the token: 16 bytes a login.
type tokenTable struct {
	shards [64]struct {
		sync.Mutex
		m map[uint64]int32
	}
}

func (t *tokenTable) init() {
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]int32)
	}
}

func tokenHash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return mixHash(h)
}

func (t *tokenTable) owner(token string) (int, bool) {
	h := tokenHash(token)
	s := &t.shards[h%64]
	s.Lock()
	defer s.Unlock()
	o, ok := s.m[h]
	return int(o), ok
}

func (t *tokenTable) add(token string, uid int) {
	h := tokenHash(token)
	s := &t.shards[h%64]
	s.Lock()
	s.m[h] = int32(uid)
	s.Unlock()
}
