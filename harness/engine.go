package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/crosstalk-dev/crosstalk/harness/canary"
	"github.com/crosstalk-dev/crosstalk/harness/content"
	"github.com/crosstalk-dev/crosstalk/harness/evidence"
	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// engine is one run's per-request machinery: the targeter vegeta calls for
// each tick, and the http.RoundTripper vegeta's client sends through, which
// attributes each response to its actor, runs the oracles on every byte and
// moves the actor's flow on. All of it runs on vegeta's workers, in
// parallel; the shared parts are atomics, sharded maps and queues. It knows
// no route of any portal: what actors do is in the flows.
type engine struct {
	engineConfig

	scanner *canary.Scanner
	bounds  *canary.Bounds
	decoder *content.Decoder
	kinds   []string // the name of each kind of request, by kind
	// by kind: whether its responses are authenticated, its coverage
	// floor and its coverage counts
	afterLogin []bool
	expectOwn  []float64
	cov        []coverage
	fps        *fingerprints
	oracles    []responseOracle
	users      *beneficiaries
	staff      *staffEngine // nil when the scenario has no advisers
	ready      queue        // beneficiaries mid-journey, ready for their next step
	idle       queue        // beneficiaries between journeys
	fresh      atomic.Int64 // the next beneficiary never seen, from the shard's first
	probes     []probe
	byActor    map[string][]int // flow indexes by actor
	hostName   map[string]string
	tokens     tokenTable
	borrowed   sessionRing // recent sessions, for probes that borrow them

	rec   *evidence.Recorder
	stats *stats
	sink  *resultSink
	start time.Time
	// loadEnd is when the load stopped.
	loadEnd time.Time
	// faults returns the faults active now.
	faults func() []string

	calls, seq             atomic.Uint64
	loginAttempts, loginOK atomic.Uint64
	flowFailures           atomic.Uint64
	panics                 panicked
	// closed is set when the run stopped counting responses (a load
	// abandoned at the end of the shutdown budget).
	closed atomic.Bool
	// abort ends the requests in flight (an interrupted run).
	abortCtx         context.Context
	abortStart       context.CancelFunc
	cachedPrivate    atomic.Uint64
	firstCached      atomic.Pointer[cachedPage]
	firstFlowFailure atomic.Pointer[flowFailure]

	bufs, decoded sync.Pool
}

// engineConfig is everything an engine is built from; newEngine sets the
// rest.
type engineConfig struct {
	pop   *population.Population
	seed  uint64
	base  string            // the target's base URL
	hosts map[string]string // the other declared hosts' base URLs, by name
	next  http.RoundTripper // the loopback-checked transport
	flows []flowPlan
	// journeys are the scenario's knobs (chances of optional steps, think
	// time, probes).
	journeys JourneyMix
	// shard is the range of beneficiaries this engine drives: every user
	// of the population is judged, only these act.
	shard      [2]int
	advisers   *AdviserPlan
	audited    bool     // the target's audit log can be read back
	observer   Observer // sees every response, login and violation (nil: none)
	cookie     string   // the session cookie's name
	sessionVar string   // the extracted value that is a session, if any
	sensitive  [8]bool
	household  int
	shares     [8]bool
	defaults   http.Header // sent with every request that does not set them
	maxBody    int
	// results and evid receive the streamed results and violations (nil:
	// none); keep is how many violations the record keeps in full.
	results, evid io.Writer
	keep          int
}

// newEngine builds the engine of a run from c; every field is set here.
func newEngine(c engineConfig) *engine {
	if c.shard == [2]int{} {
		c.shard = [2]int{0, c.pop.Size()}
	}
	if c.cookie == "" {
		c.cookie = "sid"
	}
	if c.maxBody == 0 {
		c.maxBody = DefaultMaxBody
	}
	if c.defaults == nil {
		c.defaults = BrowserHeaders()
	}
	if c.sensitive == [8]bool{} {
		c.sensitive = allFields()
	}
	if c.keep == 0 {
		c.keep = 20
	}
	e := &engine{
		engineConfig: c,
		scanner:      canary.NewScanner(c.pop),
		bounds:       canary.NewBounds(c.pop),
		decoder:      content.New(content.DefaultLimit),
		users:        newBeneficiaries(c.pop),
		byActor:      map[string][]int{},
		hostName:     map[string]string{},
		faults:       func() []string { return nil },
		stats:        newStats(),
		start:        time.Now(),
	}
	e.kinds, e.afterLogin, e.expectOwn = []string{kindProbe: "anonymous-probe"}, []bool{false}, []float64{0}
	for fi, f := range c.flows {
		e.byActor[f.actor] = append(e.byActor[f.actor], fi)
		for si := range f.steps {
			s := &f.steps[si]
			e.kinds = append(e.kinds, f.name+"/"+s.Name)
			e.afterLogin = append(e.afterLogin, s.afterLogin)
			e.expectOwn = append(e.expectOwn, s.expectOwn)
		}
	}
	e.cov = make([]coverage, len(e.kinds))
	e.fps = newFingerprints(len(e.kinds))
	e.stats.kinds(len(e.kinds))
	e.fresh.Store(int64(c.shard[0]))
	e.hostName[hostOf(c.base)] = ""
	for name, u := range c.hosts {
		e.hostName[hostOf(u)] = name
	}
	if c.advisers != nil && c.pop.Staff() != nil {
		e.staff = newStaffEngine(*c.advisers, c.pop)
		e.staff.audited = c.audited
	}
	e.tokens.init()
	e.abortCtx, e.abortStart = context.WithCancel(context.Background())
	e.oracles = []responseOracle{isolationOracle{}, failClosedOracle{}, breadthOracle{}, sessionOracle{}}
	e.probes = e.probeSteps()
	e.bufs.New = func() any { b := make([]byte, 0, 32<<10); return &b }
	e.decoded.New = func() any { b := make([]byte, 0, 32<<10); return &b }
	e.rec = evidence.NewRecorder(c.pop.Size(), c.evid, c.keep, Oracles)
	if obs := c.observer; obs != nil {
		e.rec.Watch(func(v evidence.Violation) { obs.Violation(v.Oracle, v.Field) })
	}
	if c.results != nil {
		e.sink = newResultSink(c.results)
	}
	return e
}

// kind is what a request does, for per-step statistics: kindProbe, or
// the index of a flow step in the run's table.
type kind uint16

const (
	kindProbe     kind = 0
	firstFlowKind kind = 1
)

// target is the vegeta.Targeter. It never returns an error: vegeta stops the
// whole attack on one, and "no actor ready" is not a reason to stop.
func (e *engine) target(t *vegeta.Target) error {
	n := e.calls.Add(1)
	if every := e.probeEvery(); every > 0 && n%every == 0 {
		e.probe(t, n/every)
		return nil
	}
	if e.staff != nil {
		if a, ok := e.staff.pick(e.seed, n); ok {
			if e.request(t, adviserID(a)) {
				return nil
			}
		}
	}
	// Actors mid-journey first, so journeys complete; then users never seen
	// (the surge of first logins); then users starting another journey.
	for range 4 {
		i, ok := e.ready.pop()
		if !ok {
			if f := e.fresh.Add(1) - 1; f < int64(e.shard[1]) {
				i, ok = int32(f), true
			} else {
				i, ok = e.idle.pop()
			}
		}
		if !ok {
			break
		}
		if e.request(t, actorID(i)) {
			return nil
		}
	}
	e.probe(t, n) // every actor is busy: probe instead of idling
	return nil
}

func (e *engine) probeEvery() uint64 {
	if p := e.journeys.Probes; p > 0 {
		return uint64(1 / p)
	}
	return 0
}

// actorID identifies who a request is for: beneficiary i (i >= 0), adviser
// a (-2-a), or nobody (-1).
type actorID int32

const nobody actorID = -1

func adviserID(a int) actorID { return actorID(-2 - a) }

// viewer returns who a response to id goes to.
func (id actorID) viewer() viewer {
	switch {
	case id >= 0:
		return viewer{uid: int(id), adv: -1}
	case id == nobody:
		return viewer{uid: evidence.Anonymous, adv: -1}
	}
	return viewer{uid: evidence.Anonymous, adv: int(-2 - id)}
}

// actor returns the state of id.
func (e *engine) actor(id actorID) *actor {
	if id >= 0 {
		return e.users.get(int(id))
	}
	return &e.staff.actors[-2-id]
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

// ready hands id, mid-journey, back for its next step, after its think
// time: a pause of think ± 50%, reproducible from the seed.
func (e *engine) readyAgain(id actorID) {
	a := e.actor(id)
	think := e.journeys.Think
	if a.flow >= 0 && e.flows[a.flow].think != nil {
		think = *e.flows[a.flow].think
	}
	if think <= 0 {
		e.requeue(id)
		return
	}
	h := mixHash(e.seed ^ uint64(uint32(id))<<24 ^ uint64(a.cycle)<<8 ^ uint64(a.step)<<2 ^ uint64(a.rep))
	d := think/2 + time.Duration(h%uint64(think))
	time.AfterFunc(d, func() { e.requeue(id) })
}

func (e *engine) requeue(id actorID) {
	if id >= 0 {
		e.ready.push(int32(id))
		return
	}
	a := int(-2 - id)
	e.staff.ready[e.staff.role[a]].push(int32(a))
}

// idleAgain hands id back between journeys.
func (e *engine) idleAgain(id actorID) {
	if id >= 0 {
		e.idle.push(int32(id))
		return
	}
	a := int(-2 - id)
	if !e.staff.actors[a].done {
		e.staff.ready[e.staff.role[a]].push(int32(a))
	}
}

// attrHeader carries the actor from the targeter to the transport, which
// strips it before the request leaves: attribution never changes the URL,
// so it never changes what a cache keys on.
const attrHeader = "X-Crosstalk-Actor"

// RoundTrip implements http.RoundTripper. It runs on vegeta's workers: a
// panic in it is recovered, recorded and made the error of that request,
// so that the run still heals, reports and stops.
func (e *engine) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	defer func() {
		if perr := e.panics.recovered("a request worker", recover()); perr != nil {
			resp, err = nil, perr
		}
	}()
	if testHookRoundTrip != nil {
		testHookRoundTrip()
	}
	return e.roundTrip(req)
}

// abortInFlight ends the requests in flight: the run was interrupted.
func (e *engine) abortInFlight() { e.abortStart() }

func (e *engine) roundTrip(req *http.Request) (*http.Response, error) {
	if e.abortCtx.Err() != nil {
		return nil, context.Canceled
	}
	ctx, cancel := context.WithCancel(req.Context())
	defer context.AfterFunc(e.abortCtx, cancel)()
	defer cancel()
	req = req.WithContext(ctx)
	attr := req.Header[attrHeader]
	// The request is built by vegeta for this hit and never reused, so
	// editing its headers in place is safe.
	delete(req.Header, attrHeader)
	e.browserHeaders(req.Header)
	id, who, _ := parseAttr(attr)
	k := kindProbe
	if id != nobody {
		k = e.kindOf(id)
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
	x := exchange{who: who, id: id, kind: k, req: req, resp: resp, wire: len(wire), body: body, err: err, lat: lat}
	e.observe(&x)
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

// kindOf returns the kind of id's request in flight.
func (e *engine) kindOf(id actorID) kind {
	a := e.actor(id)
	if a.flow < 0 || int(a.flow) >= len(e.flows) {
		return kindProbe
	}
	steps := e.flows[a.flow].steps
	return steps[min(int(a.step), len(steps)-1)].kind
}

// observe judges one response and moves its actor on.
func (e *engine) observe(x *exchange) {
	if e.closed.Load() {
		return
	}
	x.seq = e.seq.Add(1)
	x.at = time.Since(e.start)
	if x.resp != nil {
		for _, o := range e.oracles {
			o.check(e, x)
		}
	}
	if x.id != nobody {
		e.advance(x)
	}
	status, replica := 0, ""
	if x.resp != nil {
		status, replica = x.resp.StatusCode, x.resp.Header.Get("X-Replica")
	}
	failed := x.err != nil || status >= 500
	e.stats.observe(x.kind, x.at, x.lat, failed, x.who.uid >= 0 && e.afterLogin[x.kind])
	if e.observer != nil {
		e.observer.Response(e.kinds[x.kind], status, x.lat, failed)
	}
	e.sink.write(x.seq, x.at, x.who.uid, e.kinds[x.kind], x.req, status, x.lat, x.wire, len(x.body), replica, x.login, x.err)
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

// attacker returns a vegeta attacker whose client sends through the engine.
func (e *engine) attacker(timeout time.Duration, workers, maxWorkers uint64) *vegeta.Attacker {
	client := &http.Client{Transport: e, Timeout: timeout}
	// vegeta.Client replaces the whole client: options that change it
	// (Redirects, Timeout) must come after.
	return vegeta.NewAttacker(vegeta.Client(client), vegeta.Redirects(vegeta.NoFollow),
		vegeta.Timeout(timeout), vegeta.Workers(workers), vegeta.MaxWorkers(maxWorkers))
}

// vegetaTarget is the request vegeta sends, which the engine fills.
type vegetaTarget = vegeta.Target

// mixHash is the splitmix64 finalizer.
func mixHash(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func itoa(i int) string { return strconv.Itoa(i) }

// flowFailed remembers the first failure of a flow, for the preflight and
// the report.
func (e *engine) flowFailed(id actorID, step, why string) {
	e.flowFailures.Add(1)
	e.firstFlowFailure.CompareAndSwap(nil, &flowFailure{actor: id, step: step, why: why})
}

type flowFailure struct {
	actor     actorID
	step, why string
}
