package scenarios

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/targets/reference"
)

const valid = `name: t
seed: 7
duration: 20s
users: 100
rate:
  profile: spike
  base: 10
  peak: 50
  at: 25%
  for: 5s
faults:
  - type: edge-reload
    rules: cache-dynamic
    at: 10%
    for: 50%
thresholds:
  p99_ms: 200
`

func TestParseValid(t *testing.T) {
	sc, err := Parse("t.yaml", []byte(valid))
	require.NoError(t, err)
	assert.Equal(t, 20*time.Second, sc.Duration)
	assert.Equal(t, 5*time.Second, sc.Rate.For.Resolve(sc.Duration))
	assert.Equal(t, 5*time.Second, sc.Rate.At.Resolve(sc.Duration))
	require.Len(t, sc.Faults, 1)
	f := sc.Faults[0]
	assert.Equal(t, "edge-reload(rules=cache-dynamic)", f.Name())
	assert.Equal(t, 2*time.Second, f.At.Resolve(sc.Duration))
	assert.Equal(t, 5*time.Second, f.At.Resolve(50*time.Second), "fractions scale with the run")
	require.NotNil(t, sc.Thresholds.P99Ms)
	assert.Equal(t, 200.0, *sc.Thresholds.P99Ms)
}

func TestParseErrorsNameFileLineAndKey(t *testing.T) {
	cases := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"misspelled top-level key", func(s string) string { return strings.Replace(s, "users:", "usres:", 1) },
			[]string{`t.yaml:4: unknown key "usres" (did you mean "users"?)`}},
		{"misspelled nested key", func(s string) string { return strings.Replace(s, "  peak:", "  peek:", 1) },
			[]string{`t.yaml:8: unknown key "peek" (did you mean "peak"?)`}},
		{"unknown fault", func(s string) string { return strings.Replace(s, "edge-reload", "edge-reboot", 1) },
			[]string{`t.yaml:12: faults[0].type: unknown fault "edge-reboot" (known: `, "edge-reload"}},
		{"misspelled fault parameter", func(s string) string { return strings.Replace(s, "rules:", "rule:", 1) },
			[]string{`t.yaml:13: faults[0]: unknown key "rule" for fault edge-reload (did you mean "rules"?)`}},
		{"bad fault time", func(s string) string { return strings.Replace(s, "at: 10%", "at: 10 percent", 1) },
			[]string{`t.yaml:14: faults[0].at: "10 percent": want a duration`}},
		{"bad rate time", func(s string) string { return strings.Replace(s, "at: 25%", "at: soon", 1) },
			[]string{`t.yaml:9:`, `"soon"`}},
		{"validation error with line", func(s string) string { return strings.Replace(s, "users: 100", "users: 0", 1) },
			[]string{`t.yaml:4: users: 0: want between 1 and`}},
		{"unknown profile", func(s string) string { return strings.Replace(s, "profile: spike", "profile: sawtooth", 1) },
			[]string{`t.yaml:6: rate.profile: unknown profile "sawtooth"`}},
		{"wrong type", func(s string) string { return strings.Replace(s, "users: 100", "users: many", 1) },
			[]string{`t.yaml:4: cannot unmarshal`}},
		{"syntax error", func(s string) string { return s + "  - : :\n\t" },
			[]string{`t.yaml:`}},
		{"fault without type", func(s string) string { return strings.Replace(s, "thresholds:", "  - at: 5%\nthresholds:", 1) },
			[]string{`faults[1].type: missing`}},
		{"several problems at once", func(s string) string {
			return strings.Replace(strings.Replace(s, "users: 100", "users: -1", 1), "p99_ms: 200", "p99_ms: -5", 1)
		}, []string{`users: -1`, `thresholds.p99_ms: must be positive`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.edit(valid)))
			require.Error(t, err)
			assert.Equal(t, harness.ClassBadInput, harness.ClassOf(err))
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestShippedScenarios loads and validates every shipped scenario; the CLI
// tests run each of them for a short while.
func TestShippedScenarios(t *testing.T) {
	names := Names()
	require.Contains(t, names, "caf-2021")
	require.Contains(t, names, "smoke")
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			sc, err := Load(n)
			require.NoError(t, err)
			assert.Equal(t, n, sc.Name, "a shipped scenario is named after its file")
			assert.NotEmpty(t, sc.Description)
			for _, f := range sc.Faults {
				assert.False(t, f.At.Abs != 0, "shipped fault times are fractions, so --duration scales them")
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("no/such/scenario.yaml")
	require.Error(t, err)
	assert.Equal(t, harness.ClassBadInput, harness.ClassOf(err))
	assert.Contains(t, err.Error(), "caf-2021")
	// A path that does not exist is never the shipped scenario of its name.
	for _, p := range []string{"/no/such/caf-2021.yaml", "elsewhere/caf-2021"} {
		_, err = Load(p)
		require.Error(t, err, p)
		assert.Contains(t, err.Error(), "scenario "+p+": no such file")
	}
	sc, err := Load("caf-2021")
	require.NoError(t, err, "a shipped scenario by its bare name")
	assert.Equal(t, "caf-2021", sc.Name)
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(valid))
	f.Add([]byte("name: x\nfaults:\n  - type: edge-purge\n    at: 1s\n"))
	f.Add([]byte("{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := Parse("fuzz.yaml", b)
		if err != nil {
			require.Equal(t, harness.ClassBadInput, harness.ClassOf(err))
			return
		}
		require.NoError(t, sc.Validate())
	})
}

// TestFranceConnectScenarioDeclaresTheReferenceFlow: the worked example of
// an OIDC login in YAML is the reference portal's own FranceConnect journey,
// the one the detection matrix runs, step for step.
func TestFranceConnectScenarioDeclaresTheReferenceFlow(t *testing.T) {
	sc, err := Load("franceconnect")
	require.NoError(t, err)
	require.Len(t, sc.Flows, 1)
	assert.Equal(t, reference.FranceConnectFlow(), sc.Flows[0])
	assert.Equal(t, harness.HostFromTarget, sc.Portal.Hosts[reference.IdPHost])
}
