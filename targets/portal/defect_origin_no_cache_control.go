package portal

// DefectOriginNoCacheControl reproduces the Railway incident of 30 March 2026
// (INCIDENTS.md): authenticated GET responses carried no Cache-Control, which
// was harmless until a CDN change enabled caching where it should have been
// off; the edge then cached and served users' pages to others. Here every
// personal page is sent without Cache-Control, and the edge-reload fault to
// the cache-dynamic rules plays the CDN change.
const DefectOriginNoCacheControl = "origin-no-cache-control"

func init() {
	registerDefect(Defect{
		Name:      DefectOriginNoCacheControl,
		Incident:  "railway-2026",
		Mechanism: "authenticated pages carry no Cache-Control, so an edge that starts caching stores them and serves them to others",
		Trigger:   "edge-reload",
	})
}

func (r *Replica) originOmitsCacheControl() bool { return r.defects.Has(DefectOriginNoCacheControl) }
