package reports

import (
	"bytes"
	"fmt"
	"html/template"
	"io"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// HTML writes a self-contained page (no script, no external file): the
// verdict in words, a chart of the load per second with the faults shaded
// and the first violation marked, the thresholds, the steps and examples.
func HTML(w io.Writer, r *harness.Record) error {
	var sum bytes.Buffer
	if err := Summary(&sum, r); err != nil {
		return err
	}
	data := struct {
		R          *harness.Record
		Summary    string
		Chart      template.HTML
		Sentences  []string
		Comparison string
	}{R: r, Summary: sum.String(), Chart: chart(r), Comparison: Comparison(r)}
	for _, v := range r.Examples {
		data.Sentences = append(data.Sentences, Sentence(v))
	}
	return htmlPage.Execute(w, data)
}

// chart draws requests per second as an SVG polyline.
func chart(r *harness.Record) template.HTML {
	const width, height, pad = 800.0, 200.0, 30.0
	points := r.Timeline
	if n := len(points); n > 1 && float64(points[n-1].T)+1 > r.DurationS {
		points = points[:n-1] // the last second is partial: drawn whole it would plunge
	}
	n := len(points)
	if n == 0 {
		return ""
	}
	var peak uint64 = 1
	for _, p := range points {
		peak = max(peak, p.Requests)
	}
	span := max(r.DurationS, float64(n))
	x := func(t float64) float64 { return pad + t/span*(width-2*pad) }
	y := func(v uint64) float64 { return height - pad - float64(v)/float64(peak)*(height-2*pad) }
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" width="100%%" role="img" aria-label="requests per second">`, width, height)
	for _, f := range r.Faults {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.0f" width="%.1f" height="%.0f" fill="#f5d0a9"><title>%s</title></rect>`,
			x(f.StartS), pad, max(x(f.EndS)-x(f.StartS), 1), height-2*pad, template.HTMLEscapeString(f.Name))
	}
	b.WriteString(`<polyline fill="none" stroke="#1f5fa8" stroke-width="2" points="`)
	for _, p := range points {
		fmt.Fprintf(&b, "%.1f,%.1f ", x(float64(p.T)+0.5), y(p.Requests))
	}
	b.WriteString(`"/><polyline fill="none" stroke="#b00" stroke-width="1.5" points="`)
	for _, p := range points {
		fmt.Fprintf(&b, "%.1f,%.1f ", x(float64(p.T)+0.5), y(p.Errors))
	}
	b.WriteString(`"/>`)
	if r.FirstViolationAfterS != nil {
		fx := x(*r.FirstViolationAfterS)
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#b00" stroke-dasharray="4"/><text x="%.1f" y="%.0f" font-size="11" fill="#b00">first leak</text>`,
			fx, fx, pad, height-pad, fx+3, pad+12)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="11">%d req/s</text><text x="%.0f" y="%.0f" font-size="11">%.0f s</text></svg>`,
		pad, pad-8, peak, width-pad-20, height-8, span)
	return template.HTML(b.String()) // built from numbers and escaped names only
}

var htmlPage = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>crosstalk · {{.R.Scenario}} · {{.R.Verdict}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}
h1 span{padding:.1em .5em;border-radius:.3em;color:#fff}
.pass{background:#2a7a2a}.fail{background:#b00}.error{background:#a60}
pre{background:#f4f4f4;padding:1em;white-space:pre-wrap;overflow-wrap:anywhere}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3em;text-align:left;vertical-align:top}
code{word-break:break-all}
</style></head><body>
<h1>crosstalk · {{.R.Scenario}} <span class="{{.R.Verdict}}">{{.R.Verdict}}</span></h1>
<p>{{.R.Description}}</p>
{{if .Comparison}}<p><strong>{{.Comparison}}</strong></p>{{end}}
<pre>{{.Summary}}</pre>
<h2>Load over time</h2>
<p>Requests per second (blue), errors (red); shaded spans are faults.</p>
{{.Chart}}
<h2>Thresholds</h2>
{{if not .R.Thresholds}}<p>This scenario sets no threshold: the gate is the oracles alone.</p>{{else}}<table><tr><th>threshold</th><th>value</th><th>limit</th><th></th></tr>
{{range .R.Thresholds}}<tr><td>{{.Name}}</td><td>{{printf "%.4g" .Value}}</td><td>{{printf "%.4g" .Limit}}</td><td>{{if .Pass}}ok{{else}}<b>breached</b>{{end}}</td></tr>{{end}}
</table>{{end}}
<h2>Steps</h2>
<table><tr><th>step</th><th>requests</th><th>errors</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th><th>own values seen</th></tr>
{{range .R.Steps}}<tr><td>{{.Step}}</td><td>{{.Requests}}</td><td>{{.Errors}}</td><td>{{printf "%.2f" .LatencyMS.P50}}</td><td>{{printf "%.2f" .LatencyMS.P90}}</td><td>{{printf "%.2f" .LatencyMS.P99}}</td><td>{{printf "%.2f" .LatencyMS.Max}}</td><td>{{if .OwnPages}}{{.WithOwn}} of {{.OwnPages}} pages (floor {{.ExpectOwn}}){{end}}</td></tr>{{end}}
</table>
{{if .R.Examples}}<h2>Violations (first {{len .R.Examples}} of {{.R.Violations}})</h2>
<p>Every violation is in <code>evidence/violations.jsonl</code>; these are the first ones in full.</p>
<table><tr><th>#</th><th>oracle</th><th>what</th><th>excerpt</th><th>faults</th></tr>
{{range $i, $v := .R.Examples}}<tr><td>{{$v.Seq}}</td><td>{{$v.Oracle}}</td><td>{{index $.Sentences $i}}</td><td><code>{{$v.Excerpt}}</code></td><td>{{range $v.Faults}}{{.}} {{end}}</td></tr>{{end}}
</table>{{end}}
<p>Seed {{.R.Seed}} · target {{.R.Target}} · started {{.R.StartedAt.Format "2006-01-02 15:04:05 MST"}}</p>
</body></html>
`))
