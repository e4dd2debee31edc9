package harness

import (
	"fmt"
	"net/http"
	"net/url"
	"time"
	"unsafe"

	"github.com/crosstalk-dev/crosstalk/harness/canary"
	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

// exchange is one request and what came back for it, as the oracles see
// it.
type exchange struct {
	seq  uint64
	at   time.Duration
	lat  time.Duration
	id   actorID
	who  viewer
	kind kind
	req  *http.Request
	resp *http.Response // nil when nothing came back
	wire int            // bytes of the body on the wire
	body []byte         // the body as decoded, as far as it arrived
	err  error
	// login is the outcome of a login step: 1 it succeeded, -1 it failed,
	// 0 not a login.
	login int8
	// refusedTokens are the session tokens of other users this response
	// tried to hand its viewer: the actor never adopts them.
	refusedTokens []string
}

// refused reports whether the session oracle refused v.
func (x *exchange) refused(v string) bool {
	for _, r := range x.refusedTokens {
		if r == v {
			return true
		}
	}
	return false
}

// status returns the response's status, 0 when none came.
func (x *exchange) status() int {
	if x.resp == nil {
		return 0
	}
	return x.resp.StatusCode
}

// responseOracle judges each response as it arrives.
type responseOracle interface {
	check(e *engine, x *exchange)
}

// canaryOracle is one of the oracles that judge the canaries of other users
// found in a response (isolation, fail-closed, breadth): each one owns the
// responses it applies to, and judges whether an owner's data is lawful.
type canaryOracle interface {
	id() string
	applies(x *exchange) bool
	// lawful reports whether x's viewer may see owner's data (an adviser's
	// own caseload); detail prefixes the evidence.
	lawful(e *engine, x *exchange, owner int) (ok bool, detail string)
}

// judgeCanaries scans every part of x (body, each header value) and records
// one violation per other user whose data a part carries, through the
// first of oracles that applies to x. A dossier leaking four values of one
// person is one leaked response, its evidence naming every field. A value
// of a field too common at this population size to be judged alone counts
// only beside a value of the same owner in a field judged alone.
//
// It returns the fields of the viewer's own values it met, for coverage,
// and whether the body carried any canary at all.
func (e *engine) judgeCanaries(x *exchange, o canaryOracle) (own uint8, canaries bool) {
	var buf [16]canary.Match
	ms := e.scanner.Scan(buf[:0], x.body)
	for _, m := range ms {
		canaries = canaries || m.Owner != canary.NoOwner
	}
	own = e.foreign(x, o, ms, "body", x.body)
	for name, vs := range x.resp.Header {
		for _, v := range vs {
			b := unsafe.Slice(unsafe.StringData(v), len(v)) // read-only view, no copy
			own |= e.foreign(x, o, e.scanner.Scan(buf[:0], b), "header "+name, b)
		}
	}
	return own, canaries
}

func (e *engine) foreign(x *exchange, o canaryOracle, ms []canary.Match, where string, b []byte) (own uint8) {
	who := x.who
	for i, m := range ms {
		if m.Owner == canary.NoOwner {
			e.bounds.Nobody(m.Field) // a value that is not a canary: a chance for a false match
			continue
		}
		if m.Owner == who.uid {
			own |= 1 << m.Field
			continue
		}
		if seenOwner(ms[:i], m.Owner) {
			continue
		}
		if e.household > 0 && who.uid >= 0 && who.uid/e.household == m.Owner/e.household && e.sharedOnly(ms, m.Owner) {
			continue // household members may see these fields of each other
		}
		lead, ok := e.leading(ms[i:], m.Owner)
		if !ok {
			continue // nothing of this owner that is judged and sensitive
		}
		lawful, detail := o.lawful(e, x, m.Owner)
		if lawful {
			continue
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
		e.rec.Add(e.evidence(o.id(), x, m.Owner, evidence.Violation{
			Field: lead.Field.String(), Value: string(b[lead.Start:lead.End]), Where: where,
			Excerpt: evidence.Excerpt(b, lead.Start, lead.End, 80),
			Detail:  detail + "fields of the other user in this response: " + fields,
		}))
	}
	return own
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

// evidence completes v with what every violation found in a response
// carries: its oracle, the response's own sequence number and time, who
// saw and whose it was, the request, the replica, the cache, the faults.
func (e *engine) evidence(o string, x *exchange, owner int, v evidence.Violation) evidence.Violation {
	v.Oracle, v.Seq, v.AtS, v.Viewer, v.Owner, v.Seed = o, x.seq, x.at.Seconds(), x.who.uid, owner, e.seed
	req := x.req
	if req == nil {
		req = &http.Request{Method: "?", URL: &url.URL{}}
	}
	v.Request = req.Method + " " + req.URL.Path
	v.Faults = e.faults()
	if x.resp != nil {
		v.Status = x.resp.StatusCode
		v.Replica = x.resp.Header.Get("X-Replica")
		v.Cache = x.resp.Header.Get("X-Cache")
	}
	if v.Faults == nil {
		v.Faults = []string{}
	}
	return v
}

// adviserDetail says which adviser received a file it should not have.
func (e *engine) adviserDetail(adv, owner int) string {
	return fmt.Sprintf("adviser %s received the file of user #%d, whom it does not follow; ", e.staff.staff.Login(adv), owner)
}
