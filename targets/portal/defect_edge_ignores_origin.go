package portal

import "time"

// DefectEdgeIgnoresOrigin reproduces the Steam incident of 25 December 2015
// and the Klarna incident of 27 May 2021 (INCIDENTS.md), and is one CAF
// hypothesis: the caching rule an operator deploys under pressure ignores the
// origin's Cache-Control and Set-Cookie and keys on the URL alone (nginx:
// proxy_ignore_headers Cache-Control Set-Cookie, the default proxy_cache_key,
// no proxy_hide_header Set-Cookie). With it, reloading the edge to the
// cache-dynamic rules caches private pages, session cookies included.
const DefectEdgeIgnoresOrigin = "edge-ignores-origin"

func init() {
	registerDefect(Defect{
		Name:      DefectEdgeIgnoresOrigin,
		Incident:  "steam-2015",
		Mechanism: "the edge's cache-dynamic rules ignore Cache-Control and Set-Cookie and key on the URL alone, so private pages and their cookies are cached for everyone",
		Trigger:   "edge-reload",
	})
}

// ignoresOrigin is what the cache-dynamic rules become with the defect.
var ignoresOrigin = EdgeRules{Name: "cache-dynamic", CacheDynamic: true, TTL: time.Second}

// deployedRules returns the rules the edge really installs for name.
func deployedRules(name string, r EdgeRules, d DefectSet) EdgeRules {
	if name == "cache-dynamic" && d.Has(DefectEdgeIgnoresOrigin) {
		return ignoresOrigin
	}
	return r
}
