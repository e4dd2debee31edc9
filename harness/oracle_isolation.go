package harness

import "strings"

// isolationOracle: no response to user A carries a datum of user B, in its
// body, its headers, its cookies or its redirect.
type isolationOracle struct{}

func (isolationOracle) id() string { return OracleIsolation }

// applies to the responses a logged-in beneficiary was served (not errors:
// those are fail-closed's).
func (isolationOracle) applies(x *exchange) bool { return x.who.uid >= 0 && x.status() < 400 }

func (isolationOracle) lawful(*engine, *exchange, int) (bool, string) { return false, "" }

func (o isolationOracle) check(e *engine, x *exchange) {
	if o.applies(x) {
		own, canaries := e.judgeCanaries(x, o)
		e.noteCoverage(x, own)
		if e.afterLogin[x.kind] && x.status() >= 200 && x.status() <= 299 {
			e.noteSharedCache(x)
			if !canaries {
				e.notePage(x)
			}
		}
	}
}

// noteSharedCache counts an authenticated page answered from a shared
// cache (X-Cache or CF-Cache-Status HIT, or an Age): a cache that keys a
// private page without the session serves one user's page to the next,
// whether or not the page carries a canary.
func (e *engine) noteSharedCache(x *exchange) {
	h := x.resp.Header
	hit := ""
	for _, name := range []string{"X-Cache", "Cf-Cache-Status", "X-Cache-Status"} {
		if v := h.Get(name); strings.Contains(strings.ToUpper(v), "HIT") {
			hit = name + ": " + v
			break
		}
	}
	if age := h.Get("Age"); hit == "" && age != "" && age != "0" {
		hit = "Age: " + age
	}
	if hit == "" {
		return
	}
	if e.cachedPrivate.Add(1) == 1 {
		e.firstCached.Store(&cachedPage{seq: x.seq, request: x.req.Method + " " + x.req.URL.Path, header: hit})
	}
}

// cachedPage is the first authenticated page served from a shared cache.
type cachedPage struct {
	seq     uint64
	request string
	header  string
}
