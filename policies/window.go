package policies

import (
	"fmt"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser accepts standard 5-field cron expressions and descriptors such
// as @daily. Seconds are not allowed: windows are minutes apart at best.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Window is a recurring span in which faults may happen: it opens at every
// firing of Cron in Location and stays open for Duration.
//
// Duration is added to the wall clock of the opening, not to the instant:
// a window opening at 22:00 for 8h closes at 06:00 local time even on the
// night the clocks change, which is what the author of such a window means.
type Window struct {
	Cron     string
	Duration time.Duration
	Location *time.Location

	schedule cron.Schedule
}

// NewWindow compiles a window. It is the only way to build a usable Window.
func NewWindow(expr string, d time.Duration, loc *time.Location) (Window, error) {
	if loc == nil {
		loc = time.UTC
	}
	if d <= 0 {
		return Window{}, fmt.Errorf("duration must be positive, got %s", d)
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return Window{}, err
	}
	if _, ok := s.(cron.ConstantDelaySchedule); ok {
		return Window{}, fmt.Errorf("@every is not a calendar time; use a cron expression")
	}
	return Window{Cron: expr, Duration: d, Location: loc, schedule: s}, nil
}

// Interval is a half-open span of time [Start, End).
type Interval struct {
	Start, End time.Time
}

// Contains reports whether t is in [Start, End).
func (i Interval) Contains(t time.Time) bool { return !t.Before(i.Start) && t.Before(i.End) }

// Len is the interval's length.
func (i Interval) Len() time.Duration { return i.End.Sub(i.Start) }

// next is the first opening strictly after t. The cron schedule reads
// the wall clock of its argument, so t is put in the window's zone first.
func (w Window) next(t time.Time) time.Time { return w.schedule.Next(t.In(w.Location)) }

// closeOf returns the end of a window that opened at start.
func (w Window) closeOf(start time.Time) time.Time {
	s := start.In(w.Location)
	wall := time.Date(s.Year(), s.Month(), s.Day(), s.Hour(), s.Minute(), s.Second(), s.Nanosecond(), time.UTC).Add(w.Duration)
	end := time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), w.Location)
	if !end.After(start) { // a wall time swallowed by a DST gap
		end = start.Add(w.Duration)
	}
	return end
}

// lookback is how far before t an opening can lie and still cover t.
func (w Window) lookback() time.Duration { return w.Duration + 2*time.Hour }

// Intervals returns the spans of this window that overlap [from, to),
// clipped to it, merged where they touch, in order.
func (w Window) Intervals(from, to time.Time) []Interval {
	var out []Interval
	// cron's Next is strictly after its argument.
	for s := w.next(from.Add(-w.lookback()).Add(-time.Second)); s.Before(to); s = w.next(s) {
		if s.IsZero() {
			break
		}
		iv := Interval{Start: s, End: w.closeOf(s)}
		if !iv.End.After(from) {
			continue
		}
		out = append(out, iv)
	}
	return clip(merge(out), from, to)
}

// OpenAt reports whether the window is open at t, and if so the span of
// the openings that cover t (unclipped; overlapping openings joined).
func (w Window) OpenAt(t time.Time) (Interval, bool) {
	var found Interval
	open := false
	for s := w.next(t.Add(-w.lookback()).Add(-time.Second)); !s.IsZero() && !s.After(t); s = w.next(s) {
		iv := Interval{Start: s, End: w.closeOf(s)}
		switch {
		case !iv.Contains(t):
		case !open:
			found, open = iv, true
		case iv.End.After(found.End):
			found.End = iv.End
		}
	}
	return found, open
}

// merge sorts intervals and joins those that overlap or touch.
func merge(ivs []Interval) []Interval {
	if len(ivs) < 2 {
		return ivs
	}
	sort.Slice(ivs, func(i, j int) bool { return ivs[i].Start.Before(ivs[j].Start) })
	out := []Interval{ivs[0]}
	for _, iv := range ivs[1:] {
		last := &out[len(out)-1]
		if !iv.Start.After(last.End) {
			if iv.End.After(last.End) {
				last.End = iv.End
			}
			continue
		}
		out = append(out, iv)
	}
	return out
}

// clip cuts intervals to [from, to) and drops empty ones.
func clip(ivs []Interval, from, to time.Time) []Interval {
	out := ivs[:0]
	for _, iv := range ivs {
		if iv.Start.Before(from) {
			iv.Start = from
		}
		if iv.End.After(to) {
			iv.End = to
		}
		if iv.End.After(iv.Start) {
			out = append(out, iv)
		}
	}
	return out
}

// subtract removes the cut intervals from ivs. Both must be merged and
// sorted.
func subtract(ivs, cuts []Interval) []Interval {
	var out []Interval
	for _, iv := range ivs {
		rest := []Interval{iv}
		for _, c := range cuts {
			var next []Interval
			for _, r := range rest {
				if !c.Start.Before(r.End) || !c.End.After(r.Start) {
					next = append(next, r)
					continue
				}
				if c.Start.After(r.Start) {
					next = append(next, Interval{Start: r.Start, End: c.Start})
				}
				if c.End.Before(r.End) {
					next = append(next, Interval{Start: c.End, End: r.End})
				}
			}
			rest = next
		}
		out = append(out, rest...)
	}
	return out
}

// OpenIntervals returns when the policy may inject faults within
// [from, to): the union of its windows minus its freezes.
func (p *Policy) OpenIntervals(from, to time.Time) []Interval {
	var all []Interval
	for _, w := range p.Windows {
		all = append(all, w.Intervals(from, to)...)
	}
	return subtract(merge(all), p.freezeIntervals())
}

func (p *Policy) freezeIntervals() []Interval {
	var cuts []Interval
	for _, f := range p.Freezes {
		cuts = append(cuts, Interval{Start: f.From, End: f.To})
	}
	return merge(cuts)
}

// OpenAt reports whether the policy may inject at t.
func (p *Policy) OpenAt(t time.Time) bool {
	return len(p.OpenIntervals(t, t.Add(time.Nanosecond))) > 0
}

// FrozenAt returns the freeze covering t, if any.
func (p *Policy) FrozenAt(t time.Time) (Freeze, bool) {
	for _, f := range p.Freezes {
		if (Interval{Start: f.From, End: f.To}).Contains(t) {
			return f, true
		}
	}
	return Freeze{}, false
}

// NextOpen returns the first instant at or after t at which the policy is
// open, looking no further than horizon. ok is false when none is found.
func (p *Policy) NextOpen(t time.Time, horizon time.Duration) (time.Time, bool) {
	const step = 7 * 24 * time.Hour
	for from := t; from.Before(t.Add(horizon)); from = from.Add(step) {
		to := from.Add(step)
		if lim := t.Add(horizon); to.After(lim) {
			to = lim
		}
		if ivs := p.OpenIntervals(from, to); len(ivs) > 0 {
			return ivs[0].Start, true
		}
	}
	return time.Time{}, false
}

// DayLocation is the zone in which max_per_day counts calendar days: that
// of the first window.
func (p *Policy) DayLocation() *time.Location {
	if len(p.Windows) > 0 && p.Windows[0].Location != nil {
		return p.Windows[0].Location
	}
	return time.UTC
}

// DayStart is midnight of t's calendar day in DayLocation: where
// max_per_day starts counting.
func (p *Policy) DayStart(t time.Time) time.Time {
	l := t.In(p.DayLocation())
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, l.Location())
}

// DayKey names the calendar day of t for max_per_day, e.g. "2026-11-26".
func (p *Policy) DayKey(t time.Time) string {
	return t.In(p.DayLocation()).Format("2006-01-02")
}
