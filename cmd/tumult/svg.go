package main

import (
	"fmt"
	"html"
	"io"
	"time"

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
)

// writeSVG draws the plan as a timeline: one row per policy, window spans
// as pale bars, open (fault-eligible) time solid, freezes hatched, sampled
// faults as red ticks, and a time axis in loc.
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

	// Axis: grid lines at a step that gives at most ~24 labels.
	step := axisStep(span)
	axisY := svgTop + rows*svgRowH
	for t := firstTick(p.From, step, loc); !t.After(p.To); t = nextTick(t, step, loc) {
		if t.Before(p.From) {
			continue
		}
		xt := x(t)
		fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e2e2e2"/>`+"\n", xt, svgTop-6, xt, axisY)
		label := t.In(loc).Format("15:04")
		if step >= 24*time.Hour || (t.In(loc).Hour() == 0 && t.In(loc).Minute() == 0) {
			label = t.In(loc).Format("Mon 02")
		}
		fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle" fill="#444">%s</text>`+"\n", xt, axisY+16, label)
	}
	fmt.Fprintf(w, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`+"\n", svgLeft, axisY, svgWidth-svgRight, axisY)

	for i, pp := range p.Policies {
		y := svgTop + i*svgRowH
		barY := y + (svgRowH-svgBarH)/2
		name := pp.Name
		if !pp.Enabled {
			name += " (disabled)"
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", svgLeft-10, barY+svgBarH/2+4, html.EscapeString(name))
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#fafafa" stroke="#ddd"/>`+"\n", svgLeft, barY, plotW, svgBarH)
		for _, iv := range pp.Windows {
			fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="#cfe3f7"><title>window %s</title></rect>`+"\n",
				x(iv.Start), barY, x(iv.End)-x(iv.Start), svgBarH, html.EscapeString(spanText(iv.Start, iv.End, loc)))
		}
		fill := "#3b82c4"
		if !pp.Enabled {
			fill = "#9bb4cc"
		}
		for _, iv := range pp.Open {
			fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>open %s</title></rect>`+"\n",
				x(iv.Start), barY+4, x(iv.End)-x(iv.Start), svgBarH-8, fill, html.EscapeString(spanText(iv.Start, iv.End, loc)))
		}
		for _, f := range pp.Freezes {
			fmt.Fprintf(w, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="url(#hatch)" stroke="#555"><title>freeze %s %s</title></rect>`+"\n",
				x(f.Start), barY, x(f.End)-x(f.Start), svgBarH, html.EscapeString(spanText(f.Start, f.End, loc)), html.EscapeString(f.Reason))
		}
		for _, t := range pp.Sample {
			fmt.Fprintf(w, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d62728" stroke-width="2"><title>fault %s</title></line>`+"\n",
				x(t), barY-5, x(t), barY+svgBarH+5, t.In(loc).Format(stamp))
		}
		fmt.Fprintf(w, `<text x="%d" y="%d" font-size="10" fill="#666">expected %.1f</text>`+"\n", svgLeft+4, barY-2, pp.Expected)
	}

	// Legend.
	ly := axisY + 44
	items := []struct{ swatch, text string }{
		{`<rect width="18" height="12" fill="#cfe3f7"/>`, "window"},
		{`<rect y="2" width="18" height="8" fill="#3b82c4"/>`, "open for faults"},
		{`<rect width="18" height="12" fill="url(#hatch)" stroke="#555"/>`, "freeze"},
		{`<line x1="9" y1="-3" x2="9" y2="15" stroke="#d62728" stroke-width="2"/>`, "sampled fault"},
	}
	lx := svgLeft
	for _, it := range items {
		fmt.Fprintf(w, `<g transform="translate(%d,%d)">%s<text x="24" y="11">%s</text></g>`+"\n", lx, ly, it.swatch, it.text)
		lx += 150
	}
	fmt.Fprintln(w, "</svg>")
}

func spanText(a, b time.Time, loc *time.Location) string {
	return a.In(loc).Format(stamp) + " → " + b.In(loc).Format(stamp)
}

func axisStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 48 * time.Hour, 7 * 24 * time.Hour} {
		if span/s <= 24 {
			return s
		}
	}
	return 14 * 24 * time.Hour
}

// firstTick is the first wall-clock multiple of step at or after t in loc.
func firstTick(t time.Time, step time.Duration, loc *time.Location) time.Time {
	l := t.In(loc)
	if step >= 24*time.Hour {
		d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
		if d.Before(t) {
			d = time.Date(l.Year(), l.Month(), l.Day()+1, 0, 0, 0, 0, loc)
		}
		return d
	}
	h := int(step / time.Hour)
	d := time.Date(l.Year(), l.Month(), l.Day(), (l.Hour()/h)*h, 0, 0, 0, loc)
	for d.Before(t) {
		d = nextTick(d, step, loc)
	}
	return d
}

// nextTick steps on the wall clock, so ticks stay on round hours across
// DST changes.
func nextTick(t time.Time, step time.Duration, loc *time.Location) time.Time {
	l := t.In(loc)
	if step >= 24*time.Hour {
		return time.Date(l.Year(), l.Month(), l.Day()+int(step/(24*time.Hour)), 0, 0, 0, 0, loc)
	}
	n := time.Date(l.Year(), l.Month(), l.Day(), l.Hour()+int(step/time.Hour), 0, 0, 0, loc)
	if !n.After(t) {
		n = t.Add(step)
	}
	return n
}
