package reports

import (
	"bytes"
	"cmp"
	"html/template"
	"io"
	"slices"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

// HTML writes a self-contained page (no script, no external file): the
// verdict in words; over one time axis, the load and errors, the latency
// percentiles, the violations by oracle and the faults as lanes, the first
// leak marked on each; then the violations by replica, cache status, step
// and field, who saw whose data, the first violations, the thresholds and
// the steps.
func HTML(w io.Writer, r *harness.Record) error {
	var sum bytes.Buffer
	if err := Summary(&sum, r); err != nil {
		return err
	}
	data := struct {
		R          *harness.Record
		Summary    string
		Charts     template.HTML
		Sentences  []string
		Comparison string
		Breakdowns []breakdown
		Pairs      []pairRow
	}{R: r, Summary: sum.String(), Charts: charts(r), Comparison: Comparison(r), Breakdowns: breakdowns(r)}
	for _, v := range r.Examples {
		data.Sentences = append(data.Sentences, Sentence(v))
	}
	for _, p := range r.ViewerOwner {
		data.Pairs = append(data.Pairs, pairRow{Viewer: who(p.Viewer), Owner: who(p.Owner), Violations: p.Violations})
	}
	return htmlPage.Execute(w, data)
}

// breakdown is one table of violations by a dimension, most first.
type breakdown struct {
	Title string
	Rows  []countRow
}

type countRow struct {
	Key   string
	Count uint64
}

type pairRow struct {
	Viewer, Owner string
	Violations    uint64
}

var breakdownTitles = map[string]string{"replica": "by replica", "cache": "by cache status", "step": "by step", "field": "by field"}

func breakdowns(r *harness.Record) []breakdown {
	var out []breakdown
	for _, d := range evidence.Breakdowns {
		m := r.ViolationsBy[d]
		if len(m) == 0 {
			continue
		}
		b := breakdown{Title: breakdownTitles[d]}
		for k, n := range m {
			b.Rows = append(b.Rows, countRow{k, n})
		}
		slices.SortFunc(b.Rows, func(x, y countRow) int { return cmp.Or(cmp.Compare(y.Count, x.Count), cmp.Compare(x.Key, y.Key)) })
		out = append(out, b)
	}
	return out
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
figure{margin:1em 0}figcaption{font-weight:600;font-size:13px}
.grid{display:flex;flex-wrap:wrap;gap:1em}.grid table{width:auto;min-width:12em}
</style></head><body>
<h1>crosstalk · {{.R.Scenario}} <span class="{{.R.Verdict}}">{{.R.Verdict}}</span></h1>
<p>{{.R.Description}}</p>
{{if .Comparison}}<p><strong>{{.Comparison}}</strong></p>{{end}}
<pre>{{.Summary}}</pre>
<h2>Over time</h2>
<p>One time axis for every chart: shaded spans are faults, the dashed red line the first leak.</p>
{{.Charts}}
{{if .Breakdowns}}<h2>Where the violations were</h2>
<div class="grid">{{range .Breakdowns}}<table class="small"><tr><th>{{.Title}}</th><th>violations</th></tr>
{{range .Rows}}<tr><td>{{.Key}}</td><td>{{.Count}}</td></tr>{{end}}</table>{{end}}</div>{{end}}
{{if .Pairs}}<h2>Who saw whose data</h2>
<table><tr><th>viewer</th><th>owner of the data</th><th>violations</th></tr>
{{range .Pairs}}<tr><td>{{.Viewer}}</td><td>{{.Owner}}</td><td>{{.Violations}}</td></tr>{{end}}
</table>{{end}}
{{if .R.Faults}}<h2>Faults</h2>
<table><tr><th>fault</th><th>from</th><th>to</th><th></th></tr>
{{range .R.Faults}}<tr><td>{{.Name}}</td><td>{{printf "%.1f s" .StartS}}</td><td>{{printf "%.1f s" .EndS}}</td><td>{{if .Error}}<b>{{.Error}}</b>{{else}}healed{{end}}</td></tr>{{end}}
</table>{{end}}
<h2>Thresholds</h2>
{{if not .R.Thresholds}}<p>This scenario sets no threshold: the gate is the oracles alone.</p>{{else}}<table><tr><th>threshold</th><th>value</th><th>limit</th><th></th></tr>
{{range .R.Thresholds}}<tr><td>{{.Name}}</td><td>{{printf "%.4g" .Value}}</td><td>{{printf "%.4g" .Limit}}</td><td>{{if .Pass}}ok{{else}}<b>breached</b>{{end}}</td></tr>{{end}}
</table>{{end}}
<h2>Steps</h2>
<table><tr><th>step</th><th>requests</th><th>errors</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>max ms</th><th>own values seen</th></tr>
{{range .R.Steps}}<tr><td>{{.Step}}</td><td>{{.Requests}}</td><td>{{.Errors}}</td><td>{{printf "%.2f" .LatencyMS.P50}}</td><td>{{printf "%.2f" .LatencyMS.P90}}</td><td>{{printf "%.2f" .LatencyMS.P99}}</td><td>{{printf "%.2f" .LatencyMS.Max}}</td><td>{{if .OwnPages}}{{.WithOwn}} of {{.OwnPages}} pages (floor {{.ExpectOwn}}){{end}}</td></tr>{{end}}
</table>
{{if .R.Examples}}<h2>Violations (first {{len .R.Examples}} of {{.R.Violations}})</h2>
<p>Every violation is in <code>evidence/violations.jsonl</code>; these are the first ones in full.
{{if .R.Replay}}Each replays with the run's own command line, the same seed giving the same users and the same requests:</p>
<pre>{{.R.Replay}}</pre>{{else}}</p>{{end}}
<table><tr><th>#</th><th>at</th><th>oracle</th><th>what</th><th>excerpt</th><th>replica · cache</th><th>faults</th></tr>
{{range $i, $v := .R.Examples}}<tr><td>{{$v.Seq}}</td><td>{{printf "%.2f s" $v.AtS}}</td><td>{{$v.Oracle}}</td><td>{{index $.Sentences $i}}</td><td><code>{{$v.Excerpt}}</code></td><td>{{$v.Replica}} {{$v.Cache}}</td><td>{{range $v.Faults}}{{.}} {{end}}</td></tr>{{end}}
</table>{{end}}
<p>Seed {{.R.Seed}} · target {{.R.Target}} · started {{.R.StartedAt.Format "2006-01-02 15:04:05 MST"}}</p>
</body></html>
`))
