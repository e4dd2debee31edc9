package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"slices"
	"strings"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// The charts of the HTML report are inline SVG written here: a page that
// needs no script and no network, that a browser draws as it is, and that
// prints. Every chart shares one time axis (the run's seconds) so that a
// leak, a latency spike and the fault that caused them line up.

const (
	chartWidth = 900.0
	chartLeft  = 70.0 // room for the y labels
	chartRight = 20.0
	// maxPoints bounds what is drawn: a day-long soak is down-sampled to
	// buckets of several seconds for drawing; the counts stay whole.
	maxPoints = 900
)

// axis maps the run's seconds to x.
type axis struct {
	span   float64 // seconds
	bucket int     // seconds per drawn point
}

func newAxis(r *harness.Record) axis {
	span := max(r.DurationS, float64(len(r.Timeline)), 1)
	return axis{span: span, bucket: max(1, int(math.Ceil(float64(len(r.Timeline))/maxPoints)))}
}

func (a axis) x(t float64) float64 {
	return chartLeft + min(max(t, 0), a.span)/a.span*(chartWidth-chartLeft-chartRight)
}

// point is one drawn bucket of the timeline.
type point struct {
	t                float64 // middle of the bucket, in seconds
	requests, errors float64 // per second, averaged over the bucket
	p50, p90, p99    float64 // the bucket's worst second
	violations       map[string]float64
	hasLatency       bool
}

// buckets down-samples the timeline to at most maxPoints points. The last
// second is dropped when it is partial: drawn whole, it would plunge.
func (a axis) buckets(r *harness.Record) []point {
	tl := r.Timeline
	if n := len(tl); n > 1 && float64(tl[n-1].T)+1 > r.DurationS {
		tl = tl[:n-1]
	}
	var out []point
	for i := 0; i < len(tl); i += a.bucket {
		b := tl[i:min(i+a.bucket, len(tl))]
		p := point{t: float64(b[0].T) + float64(len(b))/2, violations: map[string]float64{}}
		for _, s := range b {
			p.requests += float64(s.Requests) / float64(len(b))
			p.errors += float64(s.Errors) / float64(len(b))
			p.p50, p.p90, p.p99 = max(p.p50, float64(s.P50)), max(p.p90, float64(s.P90)), max(p.p99, float64(s.P99))
			p.hasLatency = p.hasLatency || s.P99 > 0
			for o, n := range s.Violations {
				p.violations[o] += float64(n)
			}
		}
		out = append(out, p)
	}
	return out
}

// series is one line of a chart.
type series struct {
	name  string
	color string
	value func(point) float64
}

// lineChart draws series over the points, with the faults shaded and the
// first leak marked.
func lineChart(r *harness.Record, a axis, pts []point, id, title, unit string, ss []series) string {
	const height, top, bottom = 190.0, 24.0, 26.0
	peak := 0.0
	for _, p := range pts {
		for _, s := range ss {
			peak = max(peak, s.value(p))
		}
	}
	peak = niceCeil(peak)
	y := func(v float64) float64 { return height - bottom - v/peak*(height-top-bottom) }
	var b strings.Builder
	fmt.Fprintf(&b, `<figure><figcaption>%s</figcaption><svg class="chart" id="%s" viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="%s">`,
		template.HTMLEscapeString(title), id, chartWidth, height, template.HTMLEscapeString(title))
	for _, f := range r.Faults {
		fmt.Fprintf(&b, `<rect class="fault" x="%.1f" y="%.0f" width="%.1f" height="%.0f" fill="#f5d0a9" opacity=".45"><title>%s</title></rect>`,
			a.x(f.StartS), top, max(a.x(f.EndS)-a.x(f.StartS), 1), height-top-bottom, template.HTMLEscapeString(f.Name))
	}
	for _, v := range []float64{0, peak / 2, peak} {
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%.0f" y="%.1f" font-size="11" text-anchor="end">%s</text>`,
			chartLeft, chartWidth-chartRight, y(v), y(v), chartLeft-6, y(v)+4, short(v))
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11" text-anchor="end">%s</text>`, chartLeft-6, top-10, template.HTMLEscapeString(unit))
	for i, s := range ss {
		fmt.Fprintf(&b, `<polyline class="series" fill="none" stroke="%s" stroke-width="1.6" points="`, s.color)
		for _, p := range pts {
			fmt.Fprintf(&b, "%.1f,%.1f ", a.x(p.t), y(s.value(p)))
		}
		fmt.Fprintf(&b, `"><title>%s</title></polyline>`, template.HTMLEscapeString(s.name))
		fmt.Fprintf(&b, `<rect x="%.0f" y="6" width="10" height="10" fill="%s"/><text x="%.0f" y="15" font-size="11">%s</text>`,
			chartLeft+float64(i)*150, s.color, chartLeft+float64(i)*150+14, template.HTMLEscapeString(s.name))
	}
	b.WriteString(firstLeak(r, a, top, height-bottom))
	timeTicks(&b, a, height-bottom)
	b.WriteString(`</svg></figure>`)
	return b.String()
}

// faultLanes draws one lane per fault, so that overlapping faults stay
// apart, with the first leak marked across them.
func faultLanes(r *harness.Record, a axis) string {
	const lane, top = 22.0, 8.0
	height := top + lane*float64(max(len(r.Faults), 1)) + 26
	var b strings.Builder
	fmt.Fprintf(&b, `<figure><figcaption>Faults, one lane each</figcaption><svg class="chart" id="faults" viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="faults">`,
		chartWidth, height)
	if len(r.Faults) == 0 {
		fmt.Fprintf(&b, `<text class="lane" x="%.0f" y="%.0f" font-size="12">no fault was injected</text>`, chartLeft, top+15)
	}
	for i, f := range r.Faults {
		y := top + lane*float64(i)
		x0, x1 := a.x(f.StartS), a.x(f.EndS)
		color := "#e8954a"
		if f.Error != "" {
			color = "#a60"
		}
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`, chartLeft, chartWidth-chartRight, y+lane/2, y+lane/2)
		fmt.Fprintf(&b, `<rect class="lane" x="%.1f" y="%.1f" width="%.1f" height="%.0f" rx="3" fill="%s"><title>%s: %.1f s to %.1f s%s</title></rect>`,
			x0, y+3, max(x1-x0, 2), lane-6, color, template.HTMLEscapeString(f.Name), f.StartS, f.EndS, template.HTMLEscapeString(errSuffix(f.Error)))
		anchor, tx := "start", x0+4
		if x0 > chartWidth*0.6 {
			anchor, tx = "end", x1-4
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="%s">%s</text>`, tx, y+lane/2+4, anchor, template.HTMLEscapeString(f.Name))
	}
	b.WriteString(firstLeak(r, a, top, height-26))
	timeTicks(&b, a, height-26)
	b.WriteString(`</svg></figure>`)
	return b.String()
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " (failed: " + e + ")"
}

// firstLeak marks the first violation on a chart.
func firstLeak(r *harness.Record, a axis, y0, y1 float64) string {
	if r.FirstViolationAfterS == nil {
		return ""
	}
	x := a.x(*r.FirstViolationAfterS)
	return fmt.Sprintf(`<line class="first-leak" x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#b00" stroke-width="1.5" stroke-dasharray="4"><title>first leak at %.2f s</title></line>`,
		x, x, y0, y1, *r.FirstViolationAfterS)
}

// timeTicks draws the shared time axis.
func timeTicks(b *strings.Builder, a axis, y float64) {
	step := niceCeil(a.span / 8)
	for t := 0.0; t <= a.span+1e-9; t += step {
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#999"/><text x="%.1f" y="%.0f" font-size="10" text-anchor="middle">%s</text>`,
			a.x(t), a.x(t), y, y+4, a.x(t), y+16, clock(t))
	}
}

// clock writes t seconds as 45s, 12m30s or 3h05m.
func clock(t float64) string {
	s := int(math.Round(t))
	switch {
	case s < 120:
		return fmt.Sprintf("%ds", s)
	case s < 7200:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	}
	return fmt.Sprintf("%dh%02dm", s/3600, s/60%60)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func short(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.3gk", v/1e3)
	}
	return fmt.Sprintf("%.3g", v)
}

// oracleColors give each oracle the same color on every report.
var oracleColors = []string{"#b00", "#7b3294", "#e66101", "#1b7837", "#2166ac", "#8c510a", "#c51b7d", "#4d4d4d", "#35978f"}

// charts returns the report's charts over one time axis.
func charts(r *harness.Record) template.HTML {
	if len(r.Timeline) == 0 {
		return template.HTML(`<p>The load did not run: nothing to draw.</p>`)
	}
	a := newAxis(r)
	pts := a.buckets(r)
	per := "per second"
	if a.bucket > 1 {
		per = fmt.Sprintf("per second, averaged over %d s", a.bucket)
	}
	var b bytes.Buffer
	b.WriteString(lineChart(r, a, pts, "load", "Requests and errors "+per, "req/s", []series{
		{"requests", "#1f5fa8", func(p point) float64 { return p.requests }},
		{"errors", "#b00", func(p point) float64 { return p.errors }},
	}))
	b.WriteString(lineChart(r, a, pts, "latency", "Latency of the responses of each second (worst second of each point)", "ms", []series{
		{"p50", "#74a9cf", func(p point) float64 { return p.p50 }},
		{"p90", "#2b8cbe", func(p point) float64 { return p.p90 }},
		{"p99", "#045a8d", func(p point) float64 { return p.p99 }},
	}))
	var ss []series
	for i, o := range oraclesOf(r) {
		ss = append(ss, series{o, oracleColors[i%len(oracleColors)], func(p point) float64 { return p.violations[o] }})
	}
	title := "Violations by oracle, per second"
	if a.bucket > 1 {
		title = fmt.Sprintf("Violations by oracle, per %d s", a.bucket)
	}
	if len(ss) == 0 {
		ss = []series{{"none", "#2a7a2a", func(point) float64 { return 0 }}}
	}
	b.WriteString(lineChart(r, a, pts, "violations", title, "violations", ss))
	b.WriteString(faultLanes(r, a))
	return template.HTML(b.String()) // built from numbers and escaped names only
}

// oraclesOf returns the oracles that found something, in the order of
// harness.Oracles.
func oraclesOf(r *harness.Record) []string {
	var out []string
	for _, o := range harness.Oracles {
		if r.ViolationsByOracle[o] > 0 {
			out = append(out, o)
		}
	}
	var extra []string
	for o, n := range r.ViolationsByOracle {
		if n > 0 && !slices.Contains(out, o) {
			extra = append(extra, o)
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}
