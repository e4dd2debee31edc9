package portal

import (
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
)

// DefectRequestStateReuse reproduces the GitHub incident of February-March
// 2021 (INCIDENTS.md): a performance change made a background thread keep a
// request object that the server reused for the next request, so one user's
// session went to another. Here a fast path for hot replicas takes the page
// state from a pool, and an asynchronous last-seen update returns it to the
// pool while the handler is still rendering from it: another request on the
// same replica picks it up and overwrites the account being rendered.
const DefectRequestStateReuse = "request-state-reuse"

func init() {
	registerDefect(Defect{
		Name:      DefectRequestStateReuse,
		Incident:  "github-2021",
		Mechanism: "a pooled per-request page state is released by a background task while the handler still renders from it",
		Trigger:   "load-spike",
	})
}

type pageState struct{ account atomic.Pointer[Account] }

var pageStates = sync.Pool{New: func() any { return new(pageState) }}

// dossierFastPath renders the dossier on the pooled path when the defect is
// on and the replica is hot, and reports whether it did.
func (r *Replica) dossierFastPath(w http.ResponseWriter, a Account) bool {
	if !r.defects.Has(DefectRequestStateReuse) || !r.hot() {
		return false
	}
	st := pageStates.Get().(*pageState)
	st.account.Store(&a)
	go pageStates.Put(st) // the bug: the "last-seen update" releases st too early
	runtime.Gosched()     // rendering waits on I/O in a real server
	render(w, http.StatusOK, dossierPage, newDossierView(*st.account.Load()))
	return true
}
