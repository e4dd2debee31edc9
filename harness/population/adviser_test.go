package population

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAdvisers(t *testing.T) {
	p := testPop(t, 10_000)
	adv, err := p.Advisers(40)
	require.NoError(t, err)
	seen := make([]int, p.Size())
	for a := 0; a < adv.Count(); a++ {
		n := 0
		adv.Caseload(a, func(i int) bool {
			assert.Equal(t, a, adv.Of(i), "user %d is in adviser %d's caseload", i, a)
			assert.Equal(t, i, adv.CaseloadAt(a, n))
			seen[i]++
			n++
			return true
		})
		assert.InDelta(t, 250, n, 1, "caseloads are even")
		assert.Equal(t, n, adv.CaseloadSize(a))
		got, ok := adv.DecodeLogin(adv.Login(a))
		require.True(t, ok)
		assert.Equal(t, a, got)
		assert.Len(t, adv.MFACode(a), 6)
	}
	for i, n := range seen {
		require.Equal(t, 1, n, "user %d has exactly one adviser", i)
	}
	more, err := p.Advisers(200)
	require.NoError(t, err)
	_, ok := adv.DecodeLogin(more.Login(150))
	assert.False(t, ok, "a login beyond the advisers does not decode")
	_, err = p.Advisers(0)
	assert.Error(t, err)
	assert.NotEqual(t, adv.Password(1), adv.Password(2))
}
