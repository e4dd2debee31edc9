package portal

import "net/http"

// DefectFranceConnectCrossedCallbacks is the login class of the identity
// federations: a relying party that binds the identity the provider
// asserted to the wrong browser. Here, on a busy replica, the FranceConnect
// callback upgrades in place the pre-login session the replica handed out
// last (a replica-wide "current login", kept to spare the session store a
// read) instead of the browser's own: the user whose login started after
// continues as the one whose callback came first. The correct portal
// takes the pending login from the browser's cookie and issues a new
// session token at the callback.
const DefectFranceConnectCrossedCallbacks = "franceconnect-crossed-callbacks"

func init() {
	registerDefect(Defect{
		Name:      DefectFranceConnectCrossedCallbacks,
		Incident:  "franceconnect",
		Mechanism: "on a busy replica, the FranceConnect callback binds the identity to the pre-login session the replica opened last, not to the browser's own",
		Trigger:   "load-spike",
	})
}

// fcRemember notes the pre-login session a replica opened last, which only
// the defect reads.
func (r *Replica) fcRemember(token string) {
	if r.defects.Has(DefectFranceConnectCrossedCallbacks) {
		r.fcLast.Store(&token)
	}
}

// fcBindCrossed is the defect: it writes s under the session the replica
// opened last and reports whether it did. The browser whose cookie that is
// is now logged in as s's account.
func (r *Replica) fcBindCrossed(w http.ResponseWriter, req *http.Request, own string, s Session) bool {
	if !r.defects.Has(DefectFranceConnectCrossedCallbacks) || !r.hot() {
		return false
	}
	last := r.fcLast.Load()
	if last == nil || *last == own {
		return false
	}
	if err := r.sessions.Put(req.Context(), *last, encodeSession(r.Version(), s)); r.failed(w, err) {
		return true
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, req, "/dossier", http.StatusSeeOther)
	return true
}
