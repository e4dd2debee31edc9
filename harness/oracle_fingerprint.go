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
// another household is a violation: "the same page served to two
// sessions". A step whose pages are the same for everybody (a static help
// page) is not personal, and is not judged: only a step where most
// fingerprints belong to one viewer each is. Pages that change with every
// request (a CSRF token, a timestamp) never repeat, and are out of its
// reach.

// fingerprints is the oracle's state for one run. It is safe for
// concurrent use.
type fingerprints struct {
	seed   maphash.Seed
	shards [64]struct {
		sync.Mutex
		m map[uint64]*fpEntry
	}
	size atomic.Int64
	// by kind: distinct fingerprints, and those served to two viewers
	distinct, shared []atomic.Uint64

	mu      sync.Mutex
	pending []pendingFP // violations, judged once the steps are known personal
}

type fpEntry struct {
	viewer int32
	shared bool
}

type pendingFP struct {
	kind kind
	v    evidence.Violation
}

// maxFingerprints bounds the table (about 100 MB); past it new pages are
// not fingerprinted, and the run says so.
const (
	maxFingerprints = 1 << 20
	maxPendingFP    = 10_000
)

func newFingerprints(kinds int) *fingerprints {
	f := &fingerprints{seed: maphash.MakeSeed(), distinct: make([]atomic.Uint64, kinds), shared: make([]atomic.Uint64, kinds)}
	for i := range f.shards {
		f.shards[i].m = map[uint64]*fpEntry{}
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
		f.distinct[x.kind].Add(1)
		return
	}
	first, wasShared := en.viewer, en.shared
	other := first != uid && !(e.household > 0 && int(first)/e.household == int(uid)/e.household)
	if other {
		en.shared = true
	}
	s.Unlock()
	if !other {
		return
	}
	if !wasShared {
		f.shared[x.kind].Add(1)
	}
	v := e.evidence(OracleFingerprint, x, int(first), evidence.Violation{Field: "page", Where: "body",
		Value:   fmt.Sprintf("%d bytes", len(x.body)),
		Excerpt: evidence.Excerpt(x.body, 0, min(len(x.body), 60), 60),
		Detail:  fmt.Sprintf("the same private page (no canary on it) was served to user #%d first; ", first)})
	f.mu.Lock()
	if len(f.pending) < maxPendingFP {
		f.pending = append(f.pending, pendingFP{kind: x.kind, v: v})
	}
	f.mu.Unlock()
}

// fingerprintOracle judges the pending violations of the personal steps.
type fingerprintOracle struct{}

// personal reports whether most of a step's fingerprints belong to one
// viewer each: its pages differ by user.
func personal(distinct, shared uint64) bool {
	return distinct >= 4 && 2*shared < distinct
}

func (fingerprintOracle) judge(_ context.Context, j *judgement) error {
	f := j.e.fps
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.pending {
		if personal(f.distinct[p.kind].Load(), f.shared[p.kind].Load()) {
			j.e.rec.Add(p.v)
		}
	}
	if f.size.Load() >= maxFingerprints {
		j.note(fmt.Sprintf("fingerprint oracle: the first %d distinct private pages without a canary were fingerprinted, later ones not", maxFingerprints))
	}
	return nil
}
