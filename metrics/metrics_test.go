package metrics

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// TestExporterServesWhatItSees: each kind of event shows on /metrics, the
// fault gauges follow the schedule, and the endpoint is loopback only.
func TestExporterServesWhatItSees(t *testing.T) {
	x := New(Run{Scenario: "caf-2021", Target: "embedded", Seed: 7})
	require.NoError(t, x.Listen("127.0.0.1:0", nil))
	defer x.Close(t.Context())
	x.Response("first-login/password-form", 200, 3*time.Millisecond, false)
	x.Response("dossier", 502, time.Millisecond, true)
	x.Response("dossier", 0, time.Second, true)
	x.Login(true)
	x.Violation(harness.OracleIsolation, "nir")
	x.Progress(harness.Progress{Rate: 590, TargetRate: 600, Victims: 1, Viewers: 2, Elapsed: 3 * time.Second,
		Faults: []string{"edge-reload(rules=cache-dynamic)"}, Scheduled: []string{"edge-reload(rules=cache-dynamic)", "service-kill(replica-2)"}})

	body := scrapeText(t, "http://"+x.Addr().String()+"/metrics")
	for _, want := range []string{
		`crosstalk_requests_total{status="200",step="first-login/password-form"} 1`,
		`crosstalk_requests_total{status="0",step="dossier"} 1`,
		`crosstalk_errors_total{step="dossier"} 2`,
		`crosstalk_request_duration_seconds_count{step="dossier"} 1`,
		`crosstalk_logins_total{outcome="succeeded"} 1`,
		`crosstalk_logins_total{outcome="failed"} 0`,
		`crosstalk_violations_total{oracle="isolation"} 1`,
		`crosstalk_violations_total{oracle="session"} 0`,
		`crosstalk_violations_by_field_total{field="nir",oracle="isolation"} 1`,
		`crosstalk_victims 1`, `crosstalk_viewers 2`,
		`crosstalk_fault_active{fault="edge-reload(rules=cache-dynamic)"} 1`,
		`crosstalk_fault_active{fault="service-kill(replica-2)"} 0`,
		`crosstalk_target_rate 600`, `crosstalk_achieved_rate 590`,
		`crosstalk_run_info{scenario="caf-2021",seed="7",target="embedded"} 1`,
	} {
		assert.Contains(t, body, want)
	}
	x.Progress(harness.Progress{Scheduled: []string{"edge-reload(rules=cache-dynamic)"}})
	assert.Contains(t, scrapeText(t, "http://"+x.Addr().String()+"/metrics"), `crosstalk_fault_active{fault="edge-reload(rules=cache-dynamic)"} 0`, "healed")

	for _, addr := range []string{"0.0.0.0:9464", "10.1.2.3:9464", "nonsense"} {
		err := New(Run{}).Listen(addr, nil)
		require.Error(t, err, addr)
		assert.Equal(t, harness.ClassBadInput, harness.ClassOf(err))
	}
}

func scrapeText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// TestDashboardQueriesExist: every metric the Grafana dashboard queries is
// one the exporter serves.
func TestDashboardQueriesExist(t *testing.T) {
	raw, err := os.ReadFile("../examples/grafana/crosstalk.json")
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal(raw, &d))
	x := New(Run{})
	x.Response("s", 200, time.Millisecond, true)
	x.Login(true)
	x.Violation("isolation", "nir")
	x.Progress(harness.Progress{Scheduled: []string{"f"}})
	fams, err := x.reg.Gather()
	require.NoError(t, err)
	served := map[string]bool{}
	for _, f := range fams {
		served[f.GetName()] = true
	}
	name := regexp.MustCompile(`crosstalk_[a-z_]+`)
	queries := 0
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			queries++
			for _, m := range name.FindAllString(q.Expr, -1) {
				m = strings.TrimSuffix(m, "_bucket")
				assert.True(t, served[m], "panel %q queries %s, which the exporter does not serve", p.Title, m)
			}
		}
	}
	assert.GreaterOrEqual(t, queries, 10)
}
