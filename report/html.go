package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"time"
)

// WriteHTML writes the report as one self-contained HTML page: inline CSS
// and inline SVG plots, no script and nothing fetched, so that it can be
// mailed, attached to a review or opened from disk.
func WriteHTML(w io.Writer, r Report) error {
	data := struct {
		Report
		Title        string
		RecoveryPlot template.HTML
		TimelinePlot template.HTML
	}{Report: r, Title: title(r), RecoveryPlot: recoveryPlot(r), TimelinePlot: timelinePlot(r)}
	if err := page.Execute(w, data); err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}

func title(r Report) string {
	span := "everything kept"
	if !r.From.IsZero() {
		span = r.From.UTC().Format("2006-01-02 15:04") + " → " + r.To.UTC().Format("2006-01-02 15:04") + " UTC"
	}
	if r.Policy != "" {
		return "tumult resilience report: " + r.Policy + ", " + span
	}
	return "tumult resilience report, " + span
}

// Secs formats seconds for people: "850ms", "12.3s", "4m05s", "2h10m".
func Secs(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"secs": Secs,
	"when": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	"stats": func(s Stats) string {
		if s.N == 0 {
			return "—"
		}
		return fmt.Sprintf("%s / %s / %s (n=%d)", Secs(s.P50), Secs(s.P95), Secs(s.Max), s.N)
	},
	"orDash": func(s string) string {
		if s == "" {
			return "—"
		}
		return s
	},
	"join": strings.Join,
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1100px; padding: 16px; color: #1d232a; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; border-bottom: 1px solid #d8dde3; padding-bottom: 4px; }
.sub { color: #5b6670; margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 8px; }
.card { border: 1px solid #d8dde3; border-radius: 6px; padding: 8px 14px; min-width: 90px; }
.card b { display: block; font-size: 22px; }
.ok { color: #1a7f37; } .bad { color: #c62828; } .warn { color: #9a6700; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eceff2; vertical-align: top; }
th { font-weight: 600; color: #3b4650; background: #f6f8fa; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.wrap { overflow-x: auto; }
svg { max-width: 100%; height: auto; }
.empty { color: #5b6670; font-style: italic; }
</style>
</head>
<body>
<h1>{{.Title}}</h1>
<p class="sub">Generated from the ledger's history{{if .Policy}} of policy {{.Policy}}{{end}}. Times in UTC; recovery times are p50 / p95 / max.</p>
<div class="cards">
<div class="card">experiments<b>{{.Totals.Run}}</b></div>
<div class="card">passed<b class="ok">{{.Totals.Passed}}</b></div>
<div class="card">failed<b class="bad">{{.Totals.Failed}}</b></div>
<div class="card">cut short<b>{{.Totals.Restored}}</b></div>
<div class="card">errors<b class="warn">{{.Totals.Errors}}</b></div>
<div class="card">halts<b class="bad">{{len .Halts}}</b></div>
<div class="card">skipped<b>{{.Totals.Skipped}}</b></div>
</div>

<h2>Experiments and halts over time</h2>
{{.TimelinePlot}}

<h2>Per policy</h2>
{{if .Policies}}<div class="wrap"><table>
<tr><th>policy</th><th>fault</th><th>run</th><th>passed</th><th>failed</th><th>cut short</th><th>errors</th><th>skipped</th><th>manual</th><th>to healthy</th><th>to steady state</th></tr>
{{range .Policies}}<tr><td>{{.Name}}</td><td>{{join .Kinds ", "}}</td><td class="n">{{.Counts.Run}}</td><td class="n ok">{{.Counts.Passed}}</td><td class="n bad">{{.Counts.Failed}}</td><td class="n">{{.Counts.Restored}}</td><td class="n">{{.Counts.Errors}}</td><td class="n">{{.Counts.Skipped}}</td><td class="n">{{.Counts.Manual}}</td><td>{{stats .ToHealthy}}</td><td>{{stats .ToSteady}}</td></tr>
{{end}}</table></div>{{else}}<p class="empty">No records in this span.</p>{{end}}

<h2>Recovery-time distribution per policy</h2>
{{.RecoveryPlot}}

<h2>Time to recover per fault kind</h2>
{{if .Recovery}}<div class="wrap"><table>
<tr><th>fault kind</th><th>to healthy (p50 / p95 / max)</th><th>to steady state</th><th>not recovered</th></tr>
{{range .Recovery}}<tr><td>{{.Kind}}</td><td>{{stats .ToHealthy}}</td><td>{{stats .ToSteady}}</td><td class="n{{if .NotRecovered}} bad{{end}}">{{.NotRecovered}}</td></tr>
{{end}}</table></div>{{else}}<p class="empty">No experiments in this span.</p>{{end}}

<h2>Failed experiments</h2>
{{$any := false}}{{range .Policies}}{{if .Failures}}{{$any = true}}{{end}}{{end}}
{{if $any}}<div class="wrap"><table>
<tr><th>when</th><th>policy</th><th>member</th><th>reason</th><th>record</th></tr>
{{range $p := .Policies}}{{range .Failures}}<tr><td>{{when .At}}</td><td>{{$p.Name}}</td><td>{{.Member}}</td><td>{{.Reason}}</td><td>{{.ID}}</td></tr>
{{end}}{{end}}</table></div>{{else}}<p class="empty">No experiment failed.</p>{{end}}

<h2>Halts and what tripped them</h2>
{{if .Halts}}<div class="wrap"><table>
<tr><th>when</th><th>scope</th><th>source</th><th>actor</th><th>reason</th><th>held</th></tr>
{{range .Halts}}<tr><td>{{when .At}}</td><td>{{if .Policy}}{{.Policy}}{{else}}global{{end}}</td><td>{{orDash .Source}}</td><td>{{orDash .Actor}}</td><td>{{.Reason}}</td><td>{{secs .Seconds}}{{if .Ongoing}} (still halted){{end}}</td></tr>
{{end}}</table></div>{{else}}<p class="empty">No halt in this span.</p>{{end}}

<h2>Top reasons faults were skipped</h2>
{{if .SkipReasons}}<div class="wrap"><table>
<tr><th>reason</th><th>count</th><th>latest</th></tr>
{{range .SkipReasons}}<tr><td>{{.Reason}}</td><td class="n">{{.Count}}</td><td>{{.Example}}</td></tr>
{{end}}</table></div>{{else}}<p class="empty">Nothing was skipped.</p>{{end}}
</body>
</html>
`))

// esc escapes text for SVG inside HTML.
func esc(s string) string { return template.HTMLEscapeString(s) }

// recoveryPlot draws one row per policy on a shared time axis: every
// experiment's time to healthy as a dot, its p50 and p95 as ticks.
func recoveryPlot(r Report) template.HTML {
	type row struct {
		name string
		p    Policy
	}
	var rows []row
	maxS := 0.0
	for _, p := range r.Policies {
		if len(p.Samples) == 0 {
			continue
		}
		rows = append(rows, row{p.Name, p})
		maxS = math.Max(maxS, p.ToHealthy.Max)
	}
	if len(rows) == 0 {
		return `<p class="empty">No recovery was measured in this span.</p>`
	}
	const (
		width, left, right, top, rowH, bottom = 1000, 200, 30, 14, 40, 40
	)
	height := top + len(rows)*rowH + bottom
	axisMax := niceCeil(maxS)
	plotW := float64(width - left - right)
	x := func(s float64) float64 { return left + plotW*s/axisMax }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="recovery-time distribution per policy" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`, width, height, width, height)
	axisY := top + len(rows)*rowH
	for i := 0; i <= 5; i++ {
		s := axisMax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e6e9ec"/>`, x(s), top, x(s), axisY)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#5b6670">%s</text>`, x(s), axisY+16, esc(Secs(s)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#3b4650">time from injection to the member healthy again</text>`, left+plotW/2, axisY+34)
	for i, rw := range rows {
		cy := top + i*rowH + rowH/2
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end" dominant-baseline="middle">%s</text>`, left-10, cy, esc(rw.name))
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#f0f2f4"/>`, left, cy, width-right, cy)
		for j, s := range rw.p.Samples {
			// A small deterministic jitter keeps equal times apart.
			jy := float64(cy) + float64((j*7)%11-5)
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="4" fill="#2f6fdf" fill-opacity="0.55"><title>%s</title></circle>`, x(s), jy, esc(Secs(s)))
		}
		st := rw.p.ToHealthy
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#1d232a" stroke-width="2"><title>p50 %s</title></line>`, x(st.P50), cy-12, x(st.P50), cy+12, esc(Secs(st.P50)))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c62828" stroke-width="2" stroke-dasharray="3 2"><title>p95 %s</title></line>`, x(st.P95), cy-12, x(st.P95), cy+12, esc(Secs(st.P95)))
	}
	b.WriteString(`</svg>`)
	b.WriteString(`<p class="sub">Dots: experiments; black tick: p50; red dashed tick: p95.</p>`)
	return template.HTML(b.String())
}

// timelinePlot draws the timeline as stacked bars (passed, failed, other
// experiments) with halts as red markers above them.
func timelinePlot(r Report) template.HTML {
	bs := r.Timeline.Buckets
	if len(bs) == 0 {
		return `<p class="empty">Nothing in this span.</p>`
	}
	const (
		width, left, right, top, plotH, bottom = 1000, 50, 20, 24, 180, 60
	)
	height := top + plotH + bottom
	maxN := 1
	for _, bk := range bs {
		maxN = max(maxN, bk.Passed+bk.Failed+bk.Other)
	}
	yMax := int(niceCeil(float64(maxN)))
	plotW := float64(width - left - right)
	bw := plotW / float64(len(bs))
	y := func(n int) float64 { return float64(top+plotH) - float64(plotH)*float64(n)/float64(yMax) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="experiments and halts over time" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`, width, height, width, height)
	// yMax is 1, 2, 5, 10, 20, 50…: five gridlines split it evenly from
	// 5 up, one per unit below.
	lines := min(yMax, 5)
	for i := 0; i <= lines; i++ {
		n := yMax * i / lines
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e6e9ec"/>`, left, y(n), width-right, y(n))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle" fill="#5b6670">%d</text>`, left-6, y(n), n)
	}
	step := time.Duration(r.Timeline.Step * float64(time.Second))
	labelEvery := max(1, len(bs)/10)
	for i, bk := range bs {
		x0 := float64(left) + bw*float64(i)
		base := 0
		for _, part := range []struct {
			n     int
			color string
			what  string
		}{{bk.Passed, "#1a7f37", "passed"}, {bk.Failed, "#c62828", "failed"}, {bk.Other, "#8c959f", "cut short or error"}} {
			if part.n == 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %d %s</title></rect>`,
				x0+1, y(base+part.n), math.Max(bw-2, 1), y(base)-y(base+part.n), part.color, esc(bk.Start.UTC().Format("2006-01-02 15:04")), part.n, part.what)
			base += part.n
		}
		if bk.Halts > 0 {
			cx := x0 + bw/2
			fmt.Fprintf(&b, `<path d="M%.1f %d l6 -10 l-12 0 z" fill="#c62828"><title>%d halt(s)</title></path>`, cx, top-2, bk.Halts)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#c62828" stroke-dasharray="2 3"/>`, cx, top, cx, top+plotH)
		}
		if i%labelEvery == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#5b6670">%s</text>`, x0+bw/2, top+plotH+16, esc(tickLabel(bk.Start, step)))
		}
	}
	fmt.Fprintf(&b, `<g transform="translate(%d %d)">`, left, top+plotH+36)
	for i, l := range []struct{ color, what string }{{"#1a7f37", "passed"}, {"#c62828", "failed"}, {"#8c959f", "cut short / error"}, {"#c62828", "▼ halt"}} {
		fmt.Fprintf(&b, `<rect x="%d" y="0" width="12" height="12" fill="%s"/><text x="%d" y="10">%s</text>`, i*150, l.color, i*150+18, esc(l.what))
	}
	b.WriteString(`</g></svg>`)
	fmt.Fprintf(&b, `<p class="sub">One bar per %s.</p>`, esc(Secs(r.Timeline.Step)))
	return template.HTML(b.String())
}

func tickLabel(t time.Time, step time.Duration) string {
	t = t.UTC()
	if step >= 24*time.Hour {
		return t.Format("Jan 2")
	}
	if step >= time.Hour {
		return t.Format("Jan 2 15h")
	}
	return t.Format("15:04")
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
