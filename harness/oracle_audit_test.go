package harness

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness/population"
)

// stepAuditor is an audit log read by position: entries up to visible are
// readable, and Complete is what the test says.
type stepAuditor struct {
	entries  []AuditEntry
	visible  int
	complete time.Time
	reads    []int64
}

func (a *stepAuditor) Audit(_ context.Context, after int64) (AuditTrail, error) {
	a.reads = append(a.reads, after)
	return AuditTrail{Entries: a.entries[after:a.visible], Next: int64(a.visible), Complete: a.complete}, nil
}

// TestAuditReadInSteps: the audit log is read in steps during the load; an
// access is judged once a read is complete past it, an entry read before
// its access was recorded still matches it, and what was judged is
// dropped on both sides.
func TestAuditReadInSteps(t *testing.T) {
	pop, err := population.New(4, 1000, population.DefaultMix, population.WithAdvisers(4))
	require.NoError(t, err)
	e := newEngine(engineConfig{pop: pop, seed: 9, base: "http://127.0.0.1:1", next: mustTransport(t), audited: true,
		advisers: &AdviserPlan{Count: 4, Share: 0.5}})
	e.start = time.Now()
	staff := pop.Staff()
	entry := func(adv, subject int) AuditEntry {
		return AuditEntry{At: time.Now(), Reader: staff.Login(adv), Subject: subject, Granted: true}
	}
	log := &stepAuditor{}
	// Three accesses served and logged, one served and never logged.
	for _, s := range []int{10, 11, 12} {
		log.entries = append(log.entries, entry(0, s))
		e.staff.read(0, s, 200)
	}
	e.staff.read(1, 20, 200)
	// A fourth logged entry whose response is still in flight.
	log.entries = append(log.entries, entry(2, 30))
	log.visible = len(log.entries)

	// The first read is complete only up to before the accesses: the
	// three logged ones match, the fourth is not judged yet, and the entry
	// of the response in flight waits for its access.
	log.complete = e.start.Add(-time.Second)
	l := &e.staff.ledger
	require.NoError(t, l.read(context.Background(), e, log))
	assert.Equal(t, 3, l.audited)
	assert.Zero(t, l.missing)
	assert.Len(t, l.pending, 1)
	assert.Len(t, l.logged, 1)
	assert.Empty(t, e.staff.accesses, "the oracle took the accesses it was handed")

	// The response in flight arrives; the next read is complete.
	e.staff.read(2, 30, 200)
	log.complete = time.Now()
	require.NoError(t, l.settle(context.Background(), e, log))
	assert.Equal(t, 5, l.audited)
	assert.Equal(t, 1, l.missing, "adviser 1's read of user 20 is in no entry")
	assert.Equal(t, uint64(1), e.rec.Total())
	assert.Empty(t, l.pending)
	assert.Empty(t, l.logged, "every entry matched its access")
	assert.Equal(t, []int64{0, 4}, log.reads, "the second read starts where the first ended")
}

// TestAuditOrphansExpire: an entry whose access never reached the harness
// (the response timed out) is dropped after orphanAge, not kept for the
// whole run.
func TestAuditOrphansExpire(t *testing.T) {
	pop, err := population.New(4, 1000, population.DefaultMix, population.WithAdvisers(4))
	require.NoError(t, err)
	e := newEngine(engineConfig{pop: pop, seed: 9, base: "http://127.0.0.1:1", next: mustTransport(t), audited: true,
		advisers: &AdviserPlan{Count: 4, Share: 0.5}})
	old := time.Now().Add(-orphanAge - time.Minute)
	log := &stepAuditor{entries: []AuditEntry{{At: old, Reader: pop.Staff().Login(0), Subject: 1, Granted: true}}, visible: 1, complete: time.Now()}
	l := &e.staff.ledger
	require.NoError(t, l.read(context.Background(), e, log))
	assert.Empty(t, l.logged)
	assert.Zero(t, e.rec.Total(), "an entry with no access is no violation")
}
