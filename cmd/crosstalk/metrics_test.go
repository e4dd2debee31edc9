package main

import (
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scrape is one scrape of the metrics endpoint: the value of each series
// the test follows.
type scrape struct {
	isolation, edgeReload, requests float64
	seen                            bool
}

// scrapeOnce reads /metrics as Prometheus does, with its own text parser.
func scrapeOnce(addr string) (scrape, error) {
	var s scrape
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return s, err
	}
	for _, m := range fams["crosstalk_violations_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "oracle" && l.GetValue() == "isolation" {
				s.isolation = m.GetCounter().GetValue()
			}
		}
	}
	for _, m := range fams["crosstalk_fault_active"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "fault" && l.GetValue() == "edge-reload(rules=cache-dynamic)" {
				s.edgeReload, s.seen = m.GetGauge().GetValue(), true
			}
		}
	}
	for _, m := range fams["crosstalk_requests_total"].GetMetric() {
		s.requests += m.GetCounter().GetValue()
	}
	return s, nil
}

// TestMetricsDuringARun scrapes --metrics-addr while the CAF scenario runs:
// the isolation violations rise, and the edge-reload gauge is 1 while the
// fault is active and 0 before or after.
func TestMetricsDuringARun(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	var mu sync.Mutex
	var scrapes []scrape
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if s, err := scrapeOnce(addr); err == nil {
					mu.Lock()
					scrapes = append(scrapes, s)
					mu.Unlock()
				}
			}
		}
	})
	dir := t.TempDir()
	code, out, errOut := crosstalk(t, "run", caf, "--out", dir, "--duration", "8s", "--quiet", "--metrics-addr", addr)
	close(stop)
	wg.Wait()
	require.Equal(t, exitFail, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
	assert.Contains(t, errOut, "live metrics on http://"+addr+"/metrics")

	require.NotEmpty(t, scrapes, "the endpoint answered during the run")
	var active, inactive, rises int
	for i, s := range scrapes {
		switch {
		case s.seen && s.edgeReload == 1:
			active++
		case s.seen:
			inactive++
		}
		if i > 0 && s.isolation > scrapes[i-1].isolation {
			rises++
		}
		if i > 0 {
			assert.GreaterOrEqual(t, s.requests, scrapes[i-1].requests, "a counter never goes down")
		}
	}
	assert.Positive(t, active, "edge-reload was 1 while active")
	assert.Positive(t, inactive, "and 0 outside its window")
	assert.GreaterOrEqual(t, rises, 2, "the isolation violations rose as the run went")
	r := report(t, dir)
	assert.InDelta(t, r["violations_by_oracle"].(map[string]any)["isolation"], scrapes[len(scrapes)-1].isolation,
		r["violations_by_oracle"].(map[string]any)["isolation"].(float64)*0.5, "the last scrape is near the final count")

	// The address is refused when it is not loopback, and when it is taken.
	code, _, errOut = crosstalk(t, "run", caf, "--out", filepath.Join(dir, "x"), "--metrics-addr", "0.0.0.0:9464", "--quiet")
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "not a loopback address")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	code, _, errOut = crosstalk(t, "run", caf, "--out", filepath.Join(dir, "y"), "--metrics-addr", busy.Addr().String(), "--quiet")
	assert.Equal(t, exitBadInput, code)
	assert.Contains(t, errOut, "address already in use")
}
