package harness

import (
	"sync"
	"sync/atomic"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// An actor is one synthetic user (a beneficiary) or one adviser account,
// as the harness sees it. An actor takes one step at a time and is owned by
// whoever holds its id (the targeter, then the transport, then a queue),
// so its state needs no lock.
type actor struct {
	flow  int16  // the flow under way, -1 between journeys
	step  int16  // the step under way
	rep   int32  // repetitions of the step done so far
	hops  int8   // redirects followed for the step
	cycle uint32 // journeys begun
	ran   uint64 // steps of this journey that ran (bit i: step i)

	state    population.State
	pwGen    uint8 // password generation the harness believes is current
	pwUnsure bool  // a password change's outcome is unknown: either may hold

	touched    bool   // the actor wrote its bank details at least once
	ibanUnsure bool   // the last write's outcome is unknown
	ibanGen    uint16 // generation of the IBAN last written and confirmed
	ibanAlt    uint16 // with ibanUnsure: the generation that may hold instead

	reads int32 // files read (advisers): the cursor of their subjects

	guesses, failures int32 // credential stuffing: guesses made, refused as such
	done              bool  // credential stuffing over: locked, taken over, out of guesses

	lastLocation string            // the previous response's redirect, for if_location
	follow       string            // a redirect to follow next, as an absolute URL
	vars         map[string]string // values extracted by earlier steps
	jar          map[string]string // cookies, keyed host name + "\x00" + cookie name
	session      []uint64          // hashes of the session tokens the actor holds
}

// begin resets the actor for a new journey of flow f.
func (a *actor) begin(f int) {
	a.flow, a.step, a.rep, a.ran, a.hops = int16(f), 0, 0, 0, 0
	a.lastLocation, a.follow = "", ""
}

// end closes the actor's journey: its session and cookies are gone.
func (a *actor) end() {
	a.flow, a.step, a.rep, a.ran, a.hops, a.cycle = -1, 0, 0, 0, 0, a.cycle+1
	a.vars, a.jar, a.follow, a.lastLocation = nil, nil, "", ""
}

// actorPage is how many beneficiaries' states are allocated at once: a run
// allocates the pages of the users it reaches, not of the population, so a
// worker's memory does not grow with the population's size.
const actorPage = 4096

// beneficiaries holds the state of the beneficiaries a run reached. It is
// safe for concurrent use by distinct actors; one actor is touched by one
// goroutine at a time.
type beneficiaries struct {
	pop   *population.Population
	pages []atomic.Pointer[[actorPage]actor]
}

func newBeneficiaries(pop *population.Population) *beneficiaries {
	return &beneficiaries{pop: pop, pages: make([]atomic.Pointer[[actorPage]actor], (pop.Size()+actorPage-1)/actorPage)}
}

// initialActor returns user i's state before the run: its account state and
// the password generation that goes with it.
func initialActor(pop *population.Population, i int) actor {
	a := actor{flow: -1, state: pop.State(i)}
	if a.state != population.MigrationPending {
		a.pwGen = 1
	}
	return a
}

// get returns user i's state, allocating its page on first use.
func (b *beneficiaries) get(i int) *actor {
	p := &b.pages[i/actorPage]
	page := p.Load()
	if page == nil {
		fresh := new([actorPage]actor)
		base := i / actorPage * actorPage
		for k := range fresh {
			if u := base + k; u < b.pop.Size() {
				fresh[k] = initialActor(b.pop, u)
			}
		}
		if !p.CompareAndSwap(nil, fresh) {
			fresh = p.Load()
		}
		page = fresh
	}
	return &page[i%actorPage]
}

// each calls f for every user whose page was allocated, after the load.
func (b *beneficiaries) each(f func(i int, a *actor)) {
	for pi := range b.pages {
		page := b.pages[pi].Load()
		if page == nil {
			continue
		}
		for k := range page {
			if i := pi*actorPage + k; i < b.pop.Size() {
				f(i, &page[k])
			}
		}
	}
}

// queue is an unbounded FIFO of actor ids, safe for concurrent use: the
// actors mid-journey and between journeys wait in queues as large as the
// number of actors the run reached, which no fixed channel can size.
type queue struct {
	mu    sync.Mutex
	items []int32
	head  int
}

func (q *queue) push(i int32) {
	q.mu.Lock()
	if q.head > 1024 && q.head*2 > len(q.items) { // compact the consumed front
		n := copy(q.items, q.items[q.head:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, i)
	q.mu.Unlock()
}

func (q *queue) pop() (int32, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.head == len(q.items) {
		return 0, false
	}
	i := q.items[q.head]
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	return i, true
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) - q.head
}
