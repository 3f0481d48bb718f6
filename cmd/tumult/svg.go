package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/scheduler"
)

// SVG layout, in pixels.
const (
	svgWidth  = 1200
	svgLeft   = 220 // policy names
	svgRight  = 30
	svgTop    = 70
	svgRowH   = 44
	svgBarH   = 22
	svgBottom = 80

	// svgCharW is the width of a character of the 12px sans-serif text as a
	// fraction of its size: generous, so that labels placed by it do not
	// touch in any common font.
	svgCharW = 0.62
	// svgTickGap is the least distance between two fault ticks: closer
	// than that they touch and merge into a bar, and the row shows the
	// density of faults per hour instead.
	svgTickGap = 3.0
	// svgLabelGap is the least space between two axis labels.
	svgLabelGap = 10.0
)

const faultRed = "#d62728"

// textWidth estimates how wide s is drawn at size px.
func textWidth(s string, size float64) float64 {
	return float64(utf8.RuneCountInString(s)) * size * svgCharW
}

// writeSVG draws the plan as a timeline: one row per policy, window spans
// as pale bars, open (fault-eligible) time solid, freezes hatched, sampled
// faults as red ticks — or, when ticks would touch, as the number of
// faults per hour — and a time axis in loc. Its size follows the picture's
// width, not the number of windows or faults: spans closer than a pixel
// are drawn as one.
func writeSVG(w io.Writer, p scheduler.Plan, loc *time.Location) {
	rows := max(1, len(p.Policies))
	height := svgTop + rows*svgRowH + svgBottom
	span := p.To.Sub(p.From)
	plotW := float64(svgWidth - svgLeft - svgRight)
	x := func(t time.Time) float64 {
		if t.Before(p.From) {
			t = p.From
		}
		if t.After(p.To) {
			t = p.To
		}
		return svgLeft + plotW*float64(t.Sub(p.From))/float64(span)
	}

	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgWidth, height, svgWidth, height)
	fmt.Fprint(w, `<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">`+
		`<rect width="6" height="6" fill="#f3f3f3"/><line x1="0" y1="0" x2="0" y2="6" stroke="#555" stroke-width="2"/></pattern></defs>`+"\n")
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgWidth, height)
	title := fmt.Sprintf("tumult plan: %s → %s (%s)", p.From.In(loc).Format(stamp), p.To.In(loc).Format(stamp), loc)
	if p.Seed != nil {
		title += fmt.Sprintf(", seed %d", *p.Seed)
	}
	fmt.Fprintf(w, `<text x="%d" y="28" font-size="16" font-weight="bold">%s</text>`+"\n", 12, html.EscapeString(title))

	axisY := svgTop + rows*svgRowH
	for _, tk := range axisTicks(p.From, p.To, loc, plotW) {
		xt := x(tk.at)
		stroke := "#e2e2e2"
		if tk.day {
			stroke = "#c4c4c4"
		}
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>`+"\n", xt, svgTop-6, xt, axisY, stroke)
		if tk.label != "" {
			fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle" fill="#444">%s</text>`+"\n", xt, axisY+16, tk.label)
		}
	}
	fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`+"\n", svgLeft, axisY, svgWidth-svgRight, axisY)

	anyDensity := false
	for i, pp := range p.Policies {
		y := svgTop + i*svgRowH
		barY := y + (svgRowH-svgBarH)/2
		name := pp.Name
		if !pp.Enabled {
			name += " (disabled)"
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end">%s<title>%s</title></text>`+"\n", svgLeft-10, barY+9, html.EscapeString(fitText(name, 12, svgLeft-20)), html.EscapeString(name))
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#fafafa" stroke="#ddd"/>`+"\n", svgLeft, barY, plotW, svgBarH)
		for _, g := range coalesce(pp.Windows, x) {
			fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#cfe3f7"><title>%s</title></rect>`+"\n",
				x(g.Start), barY, max(x(g.End)-x(g.Start), 0.5), svgBarH, html.EscapeString(g.describe("window", loc)))
		}
		fill := "#3b82c4"
		if !pp.Enabled {
			fill = "#9bb4cc"
		}
		for _, g := range coalesce(pp.Open, x) {
			fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
				x(g.Start), barY+4, max(x(g.End)-x(g.Start), 0.5), svgBarH-8, fill, html.EscapeString(g.describe("open", loc)))
		}
		for _, f := range pp.Freezes {
			fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="url(#hatch)" stroke="#555"><title>freeze %s %s</title></rect>`+"\n",
				x(f.Start), barY, x(f.End)-x(f.Start), svgBarH, html.EscapeString(spanText(f.Start, f.End, loc)), html.EscapeString(f.Reason))
		}
		note := fmt.Sprintf("expected %.1f", pp.Expected)
		if tooDense(pp.Sample, plotW) {
			anyDensity = true
			peak := drawDensity(w, pp.Sample, p.From, p.To, x, plotW, barY, loc)
			note += fmt.Sprintf(" · peak %s/h", formatRate(peak))
		} else {
			for _, t := range pp.Sample {
				fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2"><title>fault %s</title></line>`+"\n",
					x(t), barY-3, x(t), barY+svgBarH+3, faultRed, t.In(loc).Format(stamp))
			}
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end" font-size="10" fill="#666">%s</text>`+"\n", svgLeft-10, barY+svgBarH+1, html.EscapeString(fitText(note, 10, svgLeft-20)))
	}

	// Legend, each item as wide as its text.
	ly := axisY + 44
	items := []struct{ swatch, text string }{
		{`<rect x="%[1]d" y="%[2]d" width="18" height="12" fill="#cfe3f7"/>`, "window"},
		{`<rect x="%[1]d" y="%[3]d" width="18" height="8" fill="#3b82c4"/>`, "open for faults"},
		{`<rect x="%[1]d" y="%[2]d" width="18" height="12" fill="url(#hatch)" stroke="#555"/>`, "freeze"},
		{`<line x1="%[4]d" y1="%[5]d" x2="%[4]d" y2="%[6]d" stroke="` + faultRed + `" stroke-width="2"/>`, "sampled fault"},
	}
	if anyDensity {
		items = append(items, struct{ swatch, text string }{`<path d="M%[1]d %[6]dV%[5]dh6v6h6v3h6V%[6]dZ" fill="` + faultRed + `" fill-opacity="0.7"/>`, "faults per hour (height; peak at the left)"})
	}
	lx := svgLeft
	for _, it := range items {
		fmt.Fprintf(w, it.swatch+"\n", lx, ly, ly+2, lx+9, ly-3, ly+15)
		fmt.Fprintf(w, `<text x="%d" y="%d">%s</text>`+"\n", lx+24, ly+11, html.EscapeString(it.text))
		lx += 24 + int(math.Ceil(textWidth(it.text, 12))) + 24
	}
	fmt.Fprintln(w, "</svg>")
}

func spanText(a, b time.Time, loc *time.Location) string {
	return a.In(loc).Format(stamp) + " → " + b.In(loc).Format(stamp)
}

// fitText cuts s with an ellipsis to fit width px at size px.
func fitText(s string, size float64, width int) string {
	if textWidth(s, size) <= float64(width) {
		return s
	}
	r := []rune(s)
	n := max(1, int(float64(width)/(size*svgCharW))-1)
	return string(r[:min(n, len(r))]) + "…"
}

// spanGroup is one or more spans drawn as one rectangle.
type spanGroup struct {
	policies.Interval
	n int
}

func (g spanGroup) describe(what string, loc *time.Location) string {
	if g.n == 1 {
		return what + " " + spanText(g.Start, g.End, loc)
	}
	return fmt.Sprintf("%d %s spans %s", g.n, what, spanText(g.Start, g.End, loc))
}

// coalesce joins spans less than a pixel apart: drawn apart they would
// look the same and cost a rectangle each.
func coalesce(ivs []policies.Interval, x func(time.Time) float64) []spanGroup {
	var out []spanGroup
	for _, iv := range ivs {
		if n := len(out); n > 0 && x(iv.Start)-x(out[n-1].End) < 1 {
			if iv.End.After(out[n-1].End) {
				out[n-1].End = iv.End
			}
			out[n-1].n++
			continue
		}
		out = append(out, spanGroup{Interval: iv, n: 1})
	}
	return out
}

// tooDense reports whether a row's sampled faults are drawn as density
// rather than ticks: when there are more than half as many as ticks fit
// side by side, so that most would touch and merge into a bar. A sparse
// row with a few close pairs keeps its ticks.
func tooDense(ts []time.Time, plotW float64) bool {
	return float64(len(ts)) > plotW/svgTickGap/2
}

// drawDensity draws faults per hour as one shape rising from the bottom of
// the bar, its highest step (the peak, returned) filling it. Steps are an
// hour wide, or a few hours when an hour is narrower than svgTickGap.
func drawDensity(w io.Writer, ts []time.Time, from, to time.Time, x func(time.Time) float64, plotW float64, barY int, loc *time.Location) float64 {
	bin := time.Hour
	for _, b := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		bin = b
		if plotW*float64(b)/float64(to.Sub(from)) >= svgTickGap {
			break
		}
	}
	n := int((to.Sub(from) + bin - 1) / bin)
	counts := make([]int, n)
	for _, t := range ts {
		if i := int(t.Sub(from) / bin); i >= 0 && i < n {
			counts[i]++
		}
	}
	most, at := 0, 0
	for i, c := range counts {
		if c > most {
			most, at = c, i
		}
	}
	hours := bin.Hours()
	bottom := float64(barY + svgBarH)
	var d strings.Builder
	fmt.Fprintf(&d, "M%.1f %.1f", x(from), bottom)
	for i, c := range counts {
		y := bottom - float64(svgBarH)*float64(c)/float64(max(most, 1))
		fmt.Fprintf(&d, "V%.1fH%.1f", y, x(from.Add(time.Duration(i+1)*bin)))
	}
	fmt.Fprintf(&d, "V%.1fZ", bottom)
	peakAt := from.Add(time.Duration(at) * bin)
	fmt.Fprintf(w, `<path d="%s" fill="%s" fill-opacity="0.7"><title>%d faults, peak %s/h (%s)</title></path>`+"\n",
		d.String(), faultRed, len(ts), formatRate(float64(most)/hours), html.EscapeString(spanText(peakAt, peakAt.Add(bin), loc)))
	return float64(most) / hours
}

func formatRate(r float64) string {
	if r == math.Trunc(r) {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}

// axisTick is a grid line of the time axis, labelled when there is room.
type axisTick struct {
	at    time.Time
	label string
	day   bool // at the start of a calendar day
}

// axisSteps are the spacings the axis may use; the smallest whose labels
// do not touch wins.
var axisSteps = []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour,
	24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour, 14 * 24 * time.Hour, 28 * 24 * time.Hour}

// axisTicks places grid lines on round readings of loc's clock (whole
// hours, midnights), resolved by the wall-clock rule, so that they stay
// round across clock changes; a reading the clocks skip is not drawn, and
// a label that would touch the previous one is left off.
func axisTicks(from, to time.Time, loc *time.Location, plotW float64) []axisTick {
	span := to.Sub(from)
	step := axisSteps[len(axisSteps)-1]
	for _, s := range axisSteps {
		if plotW*float64(s)/float64(span) >= textWidth("Mon 02", 12)+svgLabelGap {
			step = s
			break
		}
	}
	var ticks []axisTick
	add := func(t time.Time, day bool) {
		if t.Before(from) || t.After(to) || (len(ticks) > 0 && !t.After(ticks[len(ticks)-1].at)) {
			return
		}
		ticks = append(ticks, axisTick{at: t, day: day})
	}
	start := from.In(loc)
	for d := 0; ; d++ {
		y, m, dd := start.Date()
		midnight := policies.WallTime(y, m, dd+d, 0, 0, loc)
		if midnight.After(to) {
			break
		}
		if step >= 24*time.Hour {
			if d%int(step/(24*time.Hour)) == 0 {
				add(midnight, true)
			}
			continue
		}
		h := int(step / time.Hour)
		for hour := 0; hour < 24; hour += h {
			t := policies.WallTime(y, m, dd+d, hour, 0, loc)
			if l := t.In(loc); hour != 0 && (l.Hour() != hour || l.Minute() != 0) {
				continue // skipped by the clocks: it would be drawn at the wrong reading
			}
			add(t, hour == 0)
		}
	}
	plotX := func(t time.Time) float64 { return plotW * float64(t.Sub(from)) / float64(span) }
	lastRight := math.Inf(-1)
	for i := range ticks {
		l := ticks[i].at.In(loc)
		label := l.Format("15:04")
		switch {
		case step >= 7*24*time.Hour:
			label = l.Format("Jan 02")
		case ticks[i].day:
			label = l.Format("Mon 02")
		}
		w := textWidth(label, 12)
		left := plotX(ticks[i].at) - w/2
		if left < lastRight+svgLabelGap {
			continue
		}
		ticks[i].label, lastRight = label, left+w
	}
	return ticks
}
