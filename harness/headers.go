package harness

import (
	"net/http"
	"strings"
)

// BrowserHeaders returns the headers a current desktop browser sends with a
// page request, which crosstalk sends by default: edges vary their caches
// and compress on them (Accept-Encoding above all), and a harness that asks
// for identity encoding tests a stack production never sees. A scenario
// changes them for every request (portal.headers) and a flow step for its
// own; a header set to "" is not sent.
func BrowserHeaders() http.Header {
	return http.Header{
		"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
		"Accept":          {"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"},
		"Accept-Encoding": {"gzip, deflate, br, zstd"},
		"Accept-Language": {"fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7"},
	}
}

// withHeaders returns base with every header of over set, canonicalised;
// an empty value removes the header.
func withHeaders(base http.Header, over map[string]string) http.Header {
	h := base.Clone()
	for k, v := range over {
		k = http.CanonicalHeaderKey(k)
		if strings.TrimSpace(v) == "" {
			h[k] = []string{""} // kept as a marker: a request never sends it
			continue
		}
		h[k] = []string{v}
	}
	return h
}

// browserHeaders completes h, a request's headers, with the run's defaults
// and drops the headers a scenario or a step set to "" (not sent). The
// defaults' value slices are shared, never written to.
func (e *engine) browserHeaders(h http.Header) {
	for k, v := range e.defaults {
		if _, set := h[k]; !set {
			h[k] = v
		}
	}
	for k, v := range h {
		if len(v) == 1 && v[0] == "" {
			delete(h, k)
		}
	}
}
