// Package metrics serves a run's live figures as Prometheus metrics while
// the run goes (crosstalk run --metrics-addr): requests, errors and
// latency by step, logins, violations by oracle and field, victims and
// viewers, one gauge per fault, the target and achieved rates. It is a
// harness.Observer; the harness knows nothing of Prometheus.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// Run names the run the metrics are of; its fields are the labels of
// crosstalk_run_info.
type Run struct {
	Scenario, Target string
	Seed             uint64
}

// Exporter is a harness.Observer that serves what it sees on /metrics.
type Exporter struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	errors     *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	logins     *prometheus.CounterVec
	violations *prometheus.CounterVec
	byField    *prometheus.CounterVec
	victims    prometheus.Gauge
	viewers    prometheus.Gauge
	faults     *prometheus.GaugeVec
	target     prometheus.Gauge
	achieved   prometheus.Gauge
	elapsed    prometheus.Gauge

	mu        sync.Mutex
	scheduled []string // the faults whose gauges exist

	srv  *http.Server
	addr net.Addr
	done chan error
}

var _ harness.Observer = (*Exporter)(nil)

// New returns an exporter for run, not serving yet.
func New(run Run) *Exporter {
	x := &Exporter{reg: prometheus.NewRegistry()}
	f := registrar{x.reg}
	x.requests = f.counterVec("crosstalk_requests_total", "Responses received, by step and HTTP status (0: none came).", "step", "status")
	x.errors = f.counterVec("crosstalk_errors_total", "Failed requests (a transport error or a 5xx), by step.", "step")
	x.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "crosstalk_request_duration_seconds", Help: "Latency of the responses, by step.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms to 16 s
	}, []string{"step"})
	x.reg.MustRegister(x.latency)
	x.logins = f.counterVec("crosstalk_logins_total", "Login attempts, by outcome (succeeded or failed).", "outcome")
	x.violations = f.counterVec("crosstalk_violations_total", "Violations found, by oracle.", "oracle")
	x.byField = f.counterVec("crosstalk_violations_by_field_total", "Violations found, by oracle and field.", "oracle", "field")
	x.victims = f.gauge("crosstalk_victims", "Distinct users whose data reached someone else.")
	x.viewers = f.gauge("crosstalk_viewers", "Distinct users who received someone else's data.")
	x.faults = f.gaugeVec("crosstalk_fault_active", "1 while the fault is applied, 0 otherwise, one series per fault of the schedule.", "fault")
	x.target = f.gauge("crosstalk_target_rate", "Requests per second the rate profile asks for now.")
	x.achieved = f.gauge("crosstalk_achieved_rate", "Requests per second achieved over the last half second.")
	x.elapsed = f.gauge("crosstalk_elapsed_seconds", "Seconds since the load started.")
	info := f.gaugeVec("crosstalk_run_info", "The run: scenario, target and seed.", "scenario", "target", "seed")
	info.WithLabelValues(run.Scenario, run.Target, strconv.FormatUint(run.Seed, 10)).Set(1)
	for _, o := range harness.Oracles {
		x.violations.WithLabelValues(o) // every oracle from 0: a rate() needs a start
	}
	for _, o := range []string{"succeeded", "failed"} {
		x.logins.WithLabelValues(o)
	}
	x.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return x
}

// registrar makes and registers the exporter's metrics.
type registrar struct{ r prometheus.Registerer }

func (r registrar) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.r.MustRegister(v)
	return v
}

func (r registrar) gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	r.r.MustRegister(v)
	return v
}

func (r registrar) gauge(name, help string) prometheus.Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	r.r.MustRegister(g)
	return g
}

// Response implements harness.Observer.
func (x *Exporter) Response(step string, status int, latency time.Duration, failed bool) {
	x.requests.WithLabelValues(step, strconv.Itoa(status)).Inc()
	if failed {
		x.errors.WithLabelValues(step).Inc()
	}
	if status != 0 {
		x.latency.WithLabelValues(step).Observe(latency.Seconds())
	}
}

// Login implements harness.Observer.
func (x *Exporter) Login(ok bool) {
	if ok {
		x.logins.WithLabelValues("succeeded").Inc()
	} else {
		x.logins.WithLabelValues("failed").Inc()
	}
}

// Violation implements harness.Observer.
func (x *Exporter) Violation(oracle, field string) {
	x.violations.WithLabelValues(oracle).Inc()
	x.byField.WithLabelValues(oracle, field).Inc()
}

// Progress implements harness.Observer.
func (x *Exporter) Progress(p harness.Progress) {
	x.victims.Set(float64(p.Victims))
	x.viewers.Set(float64(p.Viewers))
	x.target.Set(p.TargetRate)
	x.achieved.Set(p.Rate)
	x.elapsed.Set(p.Elapsed.Seconds())
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, f := range p.Scheduled {
		if !slices.Contains(x.scheduled, f) {
			x.scheduled = append(x.scheduled, f)
		}
	}
	for _, f := range x.scheduled {
		v := 0.0
		if slices.Contains(p.Faults, f) {
			v = 1
		}
		x.faults.WithLabelValues(f).Set(v)
	}
}

// Handler serves the metrics in the Prometheus exposition format.
func (x *Exporter) Handler() http.Handler {
	return promhttp.HandlerFor(x.reg, promhttp.HandlerOpts{Registry: x.reg})
}

// Listen starts serving /metrics on addr. The address must be a loopback
// one unless its host is in allow: the metrics name the portal's users and
// faults.
func (x *Exporter) Listen(addr string, allow []string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return harness.BadInput("--metrics-addr %q: want HOST:PORT, such as 127.0.0.1:9464", addr)
	}
	if ip := net.ParseIP(host); !(host == "localhost" || ip != nil && ip.IsLoopback() || slices.Contains(allow, host)) {
		return harness.BadInput("--metrics-addr %q: not a loopback address; add --allow-host %s to serve the metrics there", addr, host)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return harness.BadInput("--metrics-addr %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", x.Handler())
	x.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	x.addr, x.done = ln.Addr(), make(chan error, 1)
	go func() { x.done <- x.srv.Serve(ln) }()
	return nil
}

// Addr is the address the metrics are served on, once listening.
func (x *Exporter) Addr() net.Addr { return x.addr }

// Close stops serving, within ctx.
func (x *Exporter) Close(ctx context.Context) error {
	if x.srv == nil {
		return nil
	}
	err := x.srv.Shutdown(ctx)
	if serr := <-x.done; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serving the metrics: %w", serr))
	}
	return err
}
