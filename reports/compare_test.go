package reports

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness"
)

func TestCompare(t *testing.T) {
	frac := func(f float64) *harness.Fraction { v := harness.Fraction(f); return &v }

	t.Run("a run with itself", func(t *testing.T) {
		c := Compare(passedRecord(), passedRecord(), nil)
		assert.False(t, c.Regressed())
		var b bytes.Buffer
		require.NoError(t, CompareText(&b, c))
		assert.Contains(t, b.String(), "no regression against the baseline")
	})

	t.Run("new violations", func(t *testing.T) {
		c := Compare(passedRecord(), failedRecord(), nil)
		require.True(t, c.Regressed())
		var names []string
		for _, b := range c.Breaches {
			names = append(names, b.Name)
		}
		assert.Contains(t, names, "regression violations isolation")
		assert.Contains(t, names, "regression violations fail-closed")
		var b bytes.Buffer
		require.NoError(t, CompareText(&b, c))
		assert.Regexp(t, `violations isolation\s+0\s+3635\s+new`, b.String())
		assert.Contains(t, b.String(), "REGRESSED")
	})

	t.Run("latency beyond the tolerance", func(t *testing.T) {
		base, next := passedRecord(), passedRecord()
		next.Regression = &harness.Regression{P99: frac(0.2)}
		next.LatencyMS.P99 = base.LatencyMS.P99*1.2 + 2 // +2 ms: past 20% and the 1 ms floor
		c := Compare(base, next, nil)
		require.True(t, c.Regressed())
		assert.Equal(t, "regression p99", c.Breaches[0].Name)

		next.LatencyMS.P99 = base.LatencyMS.P99 + 0.5 // +50%, but half a millisecond: noise
		assert.False(t, Compare(base, next, nil).Regressed(), "below the noise floor")

		next.Steps[0].LatencyMS.P99 = base.Steps[0].LatencyMS.P99 + 5
		c = Compare(base, next, nil)
		require.True(t, c.Regressed(), "a step's p99 counts too")
		assert.Equal(t, "regression dossier p99", c.Breaches[0].Name)
	})

	t.Run("rates", func(t *testing.T) {
		base, next := passedRecord(), passedRecord()
		tol := 0.01
		next.Regression = &harness.Regression{ErrorRate: &tol, LoginSuccess: &tol, Throughput: frac(0.1)}
		next.Errors = next.Requests / 50 // 2 points
		next.Logins.Succeeded = next.Logins.Attempted * 97 / 100
		next.ThroughputRPS = base.ThroughputRPS * 0.85
		c := Compare(base, next, nil)
		var names []string
		for _, b := range c.Breaches {
			names = append(names, b.Name)
		}
		assert.ElementsMatch(t, []string{"regression error rate", "regression login success", "regression throughput"}, names)
	})

	t.Run("other scenario or seed", func(t *testing.T) {
		other := passedRecord()
		other.Seed++
		assert.Contains(t, SameRun(passedRecord(), other), "different seeds")
		other.Scenario = "x"
		assert.Contains(t, SameRun(passedRecord(), other), "different scenarios")
		assert.Empty(t, SameRun(passedRecord(), passedRecord()))
	})
}
