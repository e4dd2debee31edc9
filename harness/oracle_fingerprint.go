package harness

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"

	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

// The fingerprint oracle needs no canary: a private page that carries none
// (a profile with a nickname, an inbox, a settings page with the user's
// choices) can still be served to the wrong session, whole. It keeps a
// fingerprint of every authenticated 2xx page without a canary, by step,
// and who was served it first. The same fingerprint served to a user of
// another household is a violation, "the same page served to two
// sessions", when that user was also served a page of its own on that
// step, which nobody else got: its page differs from the other's, so
// receiving the other's was a leak. Two users whose pages are alike (the
// same first name on a greeting, a static help page) never had a page of
// their own, and are not judged. Pages that change with every request (a
// CSRF token, a timestamp) never repeat, and are out of its reach.

// fingerprints is the oracle's state for one run. It is safe for
// concurrent use.
type fingerprints struct {
	seed   maphash.Seed
	shards [64]struct {
		sync.Mutex
		m map[uint64]*fpEntry
	}
	size atomic.Int64
	// own holds, by step and viewer, the first page a viewer was the first
	// to be served.
	own [64]struct {
		sync.Mutex
		m map[uint64]uint64
	}

	mu      sync.Mutex
	pending []pendingFP // violations, judged once the steps are known personal
}

type fpEntry struct {
	viewer int32
	shared bool
}

type pendingFP struct {
	key uint64 // the step and the viewer, as in own
	fp  uint64 // the page it received
	v   evidence.Violation
}

func ownKey(k kind, uid int32) uint64 { return uint64(k)<<32 | uint64(uint32(uid)) }

// maxFingerprints bounds the table (about 100 MB); past it new pages are
// not fingerprinted, and the run says so.
const (
	maxFingerprints = 1 << 20
	maxPendingFP    = 10_000
)

func newFingerprints(kinds int) *fingerprints {
	f := &fingerprints{seed: maphash.MakeSeed()}
	for i := range f.shards {
		f.shards[i].m = map[uint64]*fpEntry{}
		f.own[i].m = map[uint64]uint64{}
	}
	return f
}

// notePage fingerprints x's page, an authenticated 2xx page without a
// canary.
func (e *engine) notePage(x *exchange) {
	f := e.fps
	if len(x.body) == 0 || f.size.Load() >= maxFingerprints {
		return
	}
	h := maphash.Bytes(f.seed, x.body) ^ uint64(x.kind)*0x9e3779b97f4a7c15
	s := &f.shards[h%64]
	uid := int32(x.who.uid)
	s.Lock()
	en, seen := s.m[h]
	if !seen {
		s.m[h] = &fpEntry{viewer: uid}
		s.Unlock()
		f.size.Add(1)
		key := ownKey(x.kind, uid)
		o := &f.own[key%64]
		o.Lock()
		if _, ok := o.m[key]; !ok {
			o.m[key] = h
		}
		o.Unlock()
		return
	}
	first := en.viewer
	other := first != uid && !(e.household > 0 && int(first)/e.household == int(uid)/e.household)
	if other {
		en.shared = true
	}
	s.Unlock()
	if !other {
		return
	}
	v := e.evidence(OracleFingerprint, x, int(first), evidence.Violation{Field: "page", Where: "body",
		Value:   fmt.Sprintf("%d bytes", len(x.body)),
		Excerpt: evidence.Excerpt(x.body, 0, min(len(x.body), 60), 60),
		Detail:  fmt.Sprintf("the same private page (no canary on it) was served to user #%d first; ", first)})
	f.mu.Lock()
	if len(f.pending) < maxPendingFP {
		f.pending = append(f.pending, pendingFP{key: ownKey(x.kind, uid), fp: h, v: v})
	}
	f.mu.Unlock()
}

// fingerprintOracle judges the pending violations once the load is over:
// the viewer's own page on the step is known then.
type fingerprintOracle struct{}

// ownPage reports whether the viewer of key was served, on that step, a
// page of its own other than fp, which nobody else was served.
func (f *fingerprints) ownPage(key, fp uint64) bool {
	o := &f.own[key%64]
	o.Lock()
	mine, ok := o.m[key]
	o.Unlock()
	if !ok || mine == fp {
		return false
	}
	s := &f.shards[mine%64]
	s.Lock()
	defer s.Unlock()
	en := s.m[mine]
	return en != nil && !en.shared
}

func (fingerprintOracle) judge(_ context.Context, j *judgement) error {
	f := j.e.fps
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pending {
		if f.ownPage(p.key, p.fp) {
			j.e.rec.Add(p.v)
		}
	}
	if f.size.Load() >= maxFingerprints {
		j.note(fmt.Sprintf("fingerprint oracle: the first %d distinct private pages without a canary were fingerprinted, later ones not", maxFingerprints))
	}
	return nil
}
