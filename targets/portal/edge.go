package portal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// EdgeConfigHeader carries the name and generation of the rules the edge
// served a response with, so that a reload is proven to have taken effect.
const EdgeConfigHeader = "X-Edge-Config"

// CacheHeader says whether the edge served a response from its cache.
const CacheHeader = "X-Cache"

// EdgeRules are the edge cache's rules, the knobs that real CDN and nginx
// configurations turn (proxy_cache, proxy_cache_key, proxy_ignore_headers,
// proxy_hide_header, proxy_cache_valid).
type EdgeRules struct {
	Name string
	// CacheDynamic caches any GET answered 200; otherwise only public pages
	// (/, /login, /static/) are cached.
	CacheDynamic bool
	// HonourOrigin refuses to store a response marked private, no-store or
	// no-cache, or one that sets a cookie (nginx's defaults).
	HonourOrigin bool
	// KeySession adds the session cookie to the cache key.
	KeySession bool
	// HideSetCookie strips Set-Cookie from stored responses.
	HideSetCookie bool
	TTL           time.Duration
}

var edgeVariants = map[string]EdgeRules{
	// default: only public pages are cached.
	"default": {Name: "default", HonourOrigin: true, HideSetCookie: true, TTL: 30 * time.Second},
	// cache-dynamic: the surge rule, micro-caching of "whatever the origin
	// allows" for one second, keyed on the URL alone (nginx:
	// proxy_cache_valid 200 1s with the default key). Safe with a correct origin.
	"cache-dynamic": {Name: "cache-dynamic", CacheDynamic: true, HonourOrigin: true, HideSetCookie: true, TTL: time.Second},
	// cache-dynamic-per-session: the same, keyed on the session cookie too.
	"cache-dynamic-per-session": {Name: "cache-dynamic-per-session", CacheDynamic: true, HonourOrigin: true, KeySession: true, HideSetCookie: true, TTL: time.Second},
}

// EdgeVariants returns the names of the rule sets the edge can be reloaded to.
func EdgeVariants() []string {
	var out []string
	for n := range edgeVariants {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// EdgeRulesOf returns the named rules as an edge deployed with defects
// runs them: the rules another edge (nginx in the container stack) renders.
func EdgeRulesOf(name string, defects DefectSet) (EdgeRules, error) {
	r, ok := edgeVariants[name]
	if !ok {
		return EdgeRules{}, fmt.Errorf("unknown edge rules %q (known: %s)", name, strings.Join(EdgeVariants(), ", "))
	}
	return deployedRules(name, r, defects), nil
}

// Edge is the reverse proxy and cache in front of the replicas. It is an
// http.Handler, safe for concurrent use.
//
// Written by hand rather than on httputil.ReverseProxy: its cache keying and
// storing rules are the thing under test, so they are spelled out here.
type Edge struct {
	upstreams []string // base URLs of the replicas
	defects   DefectSet
	next      atomic.Uint64
	client    *http.Client
	rules     atomic.Pointer[edgeState]
	gen       atomic.Uint64

	mu    sync.Mutex
	cache map[string]*cached
	// sweepAt is the size at which expired entries are next dropped.
	sweepAt int
}

type edgeState struct {
	EdgeRules
	header string // value of EdgeConfigHeader
}

type cached struct {
	status  int
	header  http.Header
	body    []byte
	expires time.Time
}

// NewEdge returns an edge in front of the given replica base URLs, with the
// default rules; defects that live in the edge's configuration apply.
func NewEdge(upstreams []string, defects DefectSet) *Edge {
	e := &Edge{
		upstreams: upstreams,
		defects:   defects,
		client: &http.Client{
			Transport: &http.Transport{MaxIdleConnsPerHost: 512, MaxConnsPerHost: 512,
				IdleConnTimeout: 30 * time.Second, DisableCompression: true},
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
			Timeout: 30 * time.Second,
		},
		cache:   make(map[string]*cached),
		sweepAt: 1024,
	}
	if _, err := e.Reload("default"); err != nil {
		panic(err) // the default variant is compiled in
	}
	return e
}

// Reload switches the edge to the named rules, keeping its cache as nginx
// does on reload, and returns the name of the rules it replaced.
func (e *Edge) Reload(name string) (previous string, err error) {
	r, ok := edgeVariants[name]
	if !ok {
		return "", fmt.Errorf("unknown edge rules %q (known: %s)", name, strings.Join(EdgeVariants(), ", "))
	}
	r = deployedRules(name, r, e.defects)
	g := e.gen.Add(1)
	old := e.rules.Swap(&edgeState{EdgeRules: r, header: name + "#" + strconv.FormatUint(g, 10)})
	if old != nil {
		previous = old.Name
	}
	return previous, nil
}

// Rules returns the rules in force and the value of EdgeConfigHeader that
// responses served with them carry.
func (e *Edge) Rules() (EdgeRules, string) {
	s := e.rules.Load()
	return s.EdgeRules, s.header
}

// sweepLocked drops the expired entries once the cache has doubled since
// the last sweep: an entry keyed by a session is never asked for again once
// its session ends, and would otherwise stay for the whole of a soak, as
// nginx's cache manager would not let it.
func (e *Edge) sweepLocked() {
	if len(e.cache) < e.sweepAt {
		return
	}
	now := time.Now()
	for k, c := range e.cache {
		if now.After(c.expires) {
			delete(e.cache, k)
		}
	}
	e.sweepAt = max(2*len(e.cache), 1024)
}

// Purge empties the cache.
func (e *Edge) Purge() {
	e.mu.Lock()
	e.cache = make(map[string]*cached)
	e.mu.Unlock()
}

func (e *Edge) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	st := e.rules.Load()
	w.Header().Set(EdgeConfigHeader, st.header)
	cacheable := req.Method == http.MethodGet && (st.CacheDynamic || isPublicPath(req.URL.Path))
	key := ""
	if cacheable {
		key = req.URL.RequestURI()
		if st.KeySession {
			if c, err := req.Cookie(SessionCookie); err == nil {
				key += "\x00" + c.Value
			}
		}
		if c := e.lookup(key); c != nil {
			writeCached(w, c, "HIT")
			return
		}
	}

	resp, err := e.forward(req)
	if err != nil {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return
	}
	c := &cached{status: resp.StatusCode, header: resp.Header, body: body}
	if cacheable && resp.StatusCode == http.StatusOK && storable(resp.Header, st.EdgeRules) {
		stored := &cached{status: c.status, header: c.header.Clone(), body: body, expires: time.Now().Add(st.TTL)}
		if st.HideSetCookie {
			stored.header.Del("Set-Cookie")
		}
		e.mu.Lock()
		e.cache[key] = stored
		e.sweepLocked()
		e.mu.Unlock()
	}
	writeCached(w, c, "MISS")
}

// forward sends req to the next replica; a replica that refuses the
// connection is skipped for the next one, as nginx's proxy_next_upstream
// error does, since nothing of the request reached it.
func (e *Edge) forward(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
	}
	var err error
	for range e.upstreams {
		var out *http.Request
		out, err = http.NewRequestWithContext(req.Context(), req.Method, e.pick()+req.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		out.Header = req.Header.Clone()
		out.Header.Set("X-Forwarded-Host", req.Host)
		var resp *http.Response
		if resp, err = e.client.Do(out); err == nil {
			return resp, nil
		}
		if op := (*net.OpError)(nil); !errors.As(err, &op) || op.Op != "dial" {
			return nil, err
		}
	}
	return nil, err
}

func (e *Edge) pick() string {
	return e.upstreams[e.next.Add(1)%uint64(len(e.upstreams))]
}

func (e *Edge) lookup(key string) *cached {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.cache[key]
	if c == nil {
		return nil
	}
	if time.Now().After(c.expires) {
		delete(e.cache, key)
		return nil
	}
	return c
}

func storable(h http.Header, r EdgeRules) bool {
	if !r.HonourOrigin {
		return true
	}
	if len(h["Set-Cookie"]) > 0 {
		return false
	}
	cc := strings.ToLower(strings.Join(h["Cache-Control"], ","))
	return !strings.Contains(cc, "private") && !strings.Contains(cc, "no-store") && !strings.Contains(cc, "no-cache")
}

func isPublicPath(p string) bool {
	return p == "/" || p == "/login" || strings.HasPrefix(p, "/static/")
}

var hopHeaders = map[string]bool{"Connection": true, "Keep-Alive": true, "Transfer-Encoding": true, "Content-Length": true}

func writeCached(w http.ResponseWriter, c *cached, status string) {
	h := w.Header()
	for k, v := range c.header {
		if !hopHeaders[k] {
			h[k] = v
		}
	}
	h.Set(CacheHeader, status)
	w.WriteHeader(c.status)
	_, _ = w.Write(c.body)
}
