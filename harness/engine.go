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

	"github.com/crosstalk-dev/crosstalk/harness/canary"
	"github.com/crosstalk-dev/crosstalk/harness/content"
	"github.com/crosstalk-dev/crosstalk/harness/evidence"
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
	scanner    *canary.Scanner
	rec        *evidence.Recorder
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

	decoder  *content.Decoder
	maxBody  int         // bound on a body as it comes off the wire
	defaults http.Header // sent with every request that does not set them
	bounds   *canary.Bounds

	bufs, decoded sync.Pool
}

func newEngine(pop *population.Population) *engine {
	n := pop.Size()
	e := &engine{
		pop:      pop,
		journey:  portalJourney{},
		scanner:  canary.NewScanner(pop),
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
	e.decoded.New = func() any { b := make([]byte, 0, 32<<10); return &b }
	e.decoder = content.New(content.DefaultLimit)
	e.maxBody = DefaultMaxBody
	e.defaults = BrowserHeaders()
	e.bounds = canary.NewBounds(pop)
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
	// The request is built by vegeta for this hit and never reused, so
	// editing its headers in place is safe.
	delete(req.Header, attrHeader)
	e.browserHeaders(req.Header)
	uid, adv := evidence.Anonymous, -1
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
	wire := (*bp)[:0]
	if err == nil {
		wire, err = readAll(resp.Body, wire, e.maxBody)
		resp.Body.Close()
	}
	lat := time.Since(start)
	// What arrived is judged even when the read failed (a replica killed
	// mid-response, a timeout): the headers and the part of the body that
	// came are what a browser would have shown.
	body := wire
	var dp *[]byte
	if resp != nil && len(resp.Header["Content-Encoding"]) > 0 {
		dp = e.decoded.Get().(*[]byte)
		var derr error
		body, derr = e.decoder.Decode((*dp)[:0], resp.Header["Content-Encoding"], wire)
		if err == nil {
			err = derr // a bomb or a corrupt body is an error of this response
		}
	}
	e.observe(uid, adv, k, req, resp, exchange{wire: len(wire), body: body}, lat, err)
	if dp != nil {
		*dp = body[:0]
		e.decoded.Put(dp)
	}
	*bp = wire[:0]
	e.bufs.Put(bp)
	if err != nil {
		return nil, err
	}
	// vegeta only needs the status and headers: the body was read, scanned
	// and recycled here, which spares vegeta a copy of every page.
	resp.Body, resp.ContentLength = http.NoBody, 0
	return resp, nil
}

// exchange is what came back for one request: the body as decoded for the
// oracles, and its size on the wire.
type exchange struct {
	wire int
	body []byte
}

// DefaultMaxBody bounds a response body as it comes off the wire; past it
// the response is an error and what arrived is still judged.
const DefaultMaxBody = 64 << 20

// errBodyTooLarge is the error of a body longer than the bound.
var errBodyTooLarge = errors.New("response body exceeds the bound")

// readAll appends r to b until EOF, an error or max bytes; what was read
// is returned in every case.
func readAll(r io.Reader, b []byte, max int) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := min(cap(b), max+1)
		n, err := r.Read(b[len(b):room])
		b = b[:len(b)+n]
		if len(b) > max {
			return b[:max], fmt.Errorf("%w (%d bytes)", errBodyTooLarge, max)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return b, nil
			}
			return b, err
		}
	}
}

func (e *engine) observe(uid, adv int, k kind, req *http.Request, resp *http.Response, x exchange, lat time.Duration, err error) {
	seq := e.seq.Add(1)
	at := time.Since(e.start)
	status, replica, token := 0, "", ""
	if resp != nil {
		status = resp.StatusCode
		replica = resp.Header.Get("X-Replica")
		token = e.check(seq, at, viewer{uid, adv}, k, req, resp, x.body)
	}
	if err != nil {
		resp = nil // the journey sees a failed request
	}
	switch {
	case adv >= 0:
		e.staffAdvance(adv, k, resp, token, seq, at)
	case uid >= 0:
		e.journey.advance(e, uid, resp, x.body, token)
	}
	failed := err != nil || status >= 500
	e.stats.observe(k, at, lat, failed)
	e.sink.write(seq, at, uid, k, req, status, lat, x.wire, len(x.body), replica, err)
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
	var buf [16]canary.Match
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
		e.rec.Add(e.evidence(OracleSession, seq, at, who.uid, owner, req, resp, evidence.Violation{
			Field: "session-token", Value: token, Where: where,
			Detail: "a session token issued to another user was delivered to this one",
		}))
		return ""
	case !known && uid != evidence.Anonymous:
		// A new token: issued at login, or rotated; either way it is this
		// viewer's from now on.
		e.tokens.add(token, uid)
	}
	return token
}

// foreign records one violation per other user whose data the matches in b
// (one part of a response) carry: a dossier leaking four values of one
// person is one leaked response, its evidence naming every field. A value
// of a field too common at this population size to be judged alone counts
// only beside a value of the same owner in a field that is judged alone.
func (e *engine) foreign(seq uint64, at time.Duration, who viewer, req *http.Request, resp *http.Response, ms []canary.Match, where string, b []byte) {
	for i, m := range ms {
		if m.Owner == canary.NoOwner {
			e.bounds.Nobody(m.Field) // a value that is not a canary: a chance for a false match
			continue
		}
		if m.Owner == who.uid || seenOwner(ms[:i], m.Owner) {
			continue
		}
		if e.household > 0 && who.uid >= 0 && who.uid/e.household == m.Owner/e.household && e.sharedOnly(ms, m.Owner) {
			continue // household members may see these fields of each other
		}
		lead, ok := e.leading(ms[i:], m.Owner)
		if !ok {
			continue // nothing of this owner that is judged and sensitive
		}
		o, detail := OracleIsolation, ""
		switch {
		case who.adv >= 0:
			if e.staff.staff.Of(m.Owner) == who.adv {
				continue // a beneficiary the adviser follows: lawful
			}
			o = OracleBreadth
			detail = fmt.Sprintf("adviser %s received the file of user #%d, whom it does not follow; ", e.staff.staff.Login(who.adv), m.Owner)
		case who.uid == evidence.Anonymous || resp.StatusCode >= 400:
			o = OracleFailClosed
		}
		fields := ""
		for _, n := range ms[i:] {
			if n.Owner == m.Owner && e.sensitive[n.Field] {
				if fields != "" {
					fields += ", "
				}
				fields += n.Field.String()
			}
		}
		e.rec.Add(e.evidence(o, seq, at, who.uid, m.Owner, req, resp, evidence.Violation{
			Field: lead.Field.String(), Value: string(b[lead.Start:lead.End]), Where: where,
			Excerpt: evidence.Excerpt(b, lead.Start, lead.End, 80),
			Detail:  detail + "fields of the other user in this response: " + fields,
		}))
	}
}

// leading returns the match of owner among ms that makes the evidence: the
// first sensitive one in a field judged alone. Without one, the owner's
// sensitive values (of fields too common to judge alone) are counted as
// uncorroborated and ok is false.
func (e *engine) leading(ms []canary.Match, owner int) (lead canary.Match, ok bool) {
	for _, m := range ms {
		if m.Owner == owner && e.sensitive[m.Field] && e.bounds.Alone(m.Field) {
			return m, true
		}
	}
	for _, m := range ms {
		if m.Owner == owner && e.sensitive[m.Field] {
			e.bounds.Uncorroborated(m.Field)
		}
	}
	return canary.Match{}, false
}

// sharedOnly reports whether every field of owner among ms is one household
// members share.
func (e *engine) sharedOnly(ms []canary.Match, owner int) bool {
	for _, m := range ms {
		if m.Owner == owner && e.sensitive[m.Field] && !e.shares[m.Field] {
			return false
		}
	}
	return true
}

func seenOwner(ms []canary.Match, owner int) bool {
	for _, m := range ms {
		if m.Owner == owner {
			return true
		}
	}
	return false
}

func (e *engine) evidence(o string, seq uint64, at time.Duration, viewer, owner int, req *http.Request, resp *http.Response, v evidence.Violation) evidence.Violation {
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
