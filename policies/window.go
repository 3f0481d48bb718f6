package policies

import (
	"fmt"
	"sort"
	"time"

	"github.com/robfig/cron/v3"
)

// Window is a recurring span in which faults may happen: it opens at every
// firing of Cron on Location's clock and stays open for Duration of that
// clock.
//
// Both ends are wall-clock times resolved by the wall-clock rule (see
// WallTime): a window opens at the first instant the clock reads the
// cron's time or later, and closes at the first instant it reads the
// opening's reading plus Duration or later. So each firing of the cron
// opens the window exactly once, even in the hour the clocks repeat; an
// opening the clocks skip happens right after the skip; and a window
// opening at 22:00 for 8h closes at 06:00 local time even on the night the
// clocks change (7 or 9 real hours), which is what the author of such a
// window means.
type Window struct {
	Cron     string
	Duration time.Duration
	Location *time.Location

	// schedule reads the fields of its argument as a wall-clock reading:
	// it is only ever given wall times (UTC fields), so it fires once per
	// reading the cron names, including readings the zone skips or repeats.
	schedule cron.Schedule
}

// NewWindow compiles a window. It is the only way to build a usable Window.
// It fails on a non-positive duration and on a cron expression that is not
// a 5-field calendar schedule; the error says which field is wrong.
func NewWindow(expr string, d time.Duration, loc *time.Location) (Window, error) {
	if loc == nil {
		loc = time.UTC
	}
	if d <= 0 {
		return Window{}, fmt.Errorf("duration must be positive, got %s", d)
	}
	s, err := ParseCron(expr)
	if err != nil {
		return Window{}, err
	}
	return Window{Cron: expr, Duration: d, Location: loc, schedule: s}, nil
}

// Interval is a half-open span of time [Start, End).
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Contains reports whether t is in [Start, End).
func (i Interval) Contains(t time.Time) bool { return !t.Before(i.Start) && t.Before(i.End) }

// Len is the interval's length.
func (i Interval) Len() time.Duration { return i.End.Sub(i.Start) }

// nextWall is the first firing of the cron strictly after the wall
// reading wall; zero when there is none within five years.
//
// Firings are on whole minutes, and the parser steps second by second to
// the next whole minute before it looks at the fields; starting it at the
// minute's last second gives the same answer without those 59 steps,
// which are most of the cost of a cron firing every minute.
func (w Window) nextWall(wall time.Time) time.Time {
	return w.schedule.Next(wall.Truncate(time.Minute).Add(59 * time.Second))
}

// span returns the interval of the opening fired at the wall reading
// fire.
func (w Window) span(fire time.Time) Interval {
	start := resolveWall(fire, w.Location)
	end := resolveWall(wallOf(start, w.Location).Add(w.Duration), w.Location)
	return Interval{Start: start, End: end}
}

// firstFire returns a wall reading just before the firing of the first
// opening that is still open at t: openings close in the order they open,
// so every later one is still open at t too, and no earlier one is.
//
// Such an opening fired less than Duration before t's reading, give or
// take the jumps of the clock in between; within that span it is found by
// bisection, so a window opening every minute for a month costs a few
// dozen steps, not 40,000.
func (w Window) firstFire(t time.Time) time.Time {
	spread := offsetSpread(t.Add(-w.Duration-zoneReach), t, w.Location)
	lo := wallOf(t, w.Location).Add(-w.Duration - spread - time.Second)
	hi := lo.Add(w.Duration + spread + 2*time.Minute)
	stillOpen := func(x time.Time) bool {
		f := w.nextWall(x)
		return f.IsZero() || w.span(f).End.After(t)
	}
	// A window firing rarely is found in a step or two.
	for range 4 {
		f := w.nextWall(lo)
		if f.IsZero() || w.span(f).End.After(t) {
			return lo
		}
		lo = f
	}
	if !stillOpen(hi) {
		return lo // a clock going back past t's reading: walk it all
	}
	a, b := 0, int(hi.Sub(lo)/time.Minute)+1
	for a < b {
		m := (a + b) / 2
		if stillOpen(lo.Add(time.Duration(m) * time.Minute)) {
			b = m
		} else {
			a = m + 1
		}
	}
	return lo.Add(time.Duration(a) * time.Minute)
}

// openings calls yield with the span of each opening that may overlap
// [from, to), in order of opening, each once, until yield returns false.
// Firings that resolve to the same instant (several readings in one gap)
// are one opening, the one that closes last.
func (w Window) openings(from, to time.Time, yield func(Interval) bool) {
	var pending Interval
	have := false
	for fire := w.nextWall(w.firstFire(from)); !fire.IsZero(); fire = w.nextWall(fire) {
		iv := w.span(fire)
		if !iv.Start.Before(to) {
			break
		}
		if have && iv.Start.Equal(pending.Start) {
			pending.End = laterOf(pending.End, iv.End)
			continue
		}
		if have && pending.End.After(from) && !yield(pending) {
			return
		}
		pending, have = iv, true
	}
	if have && pending.End.After(from) {
		yield(pending)
	}
}

// Intervals returns the spans of this window that overlap [from, to),
// clipped to it, merged where they touch, in order. Its cost grows with
// the number of openings in the span, not with those before it.
func (w Window) Intervals(from, to time.Time) []Interval {
	var out []Interval
	w.openings(from, to, func(iv Interval) bool {
		out = append(out, iv)
		// Later openings start no earlier and are covered up to `to`.
		return iv.End.Before(to)
	})
	return clip(merge(out), from, to)
}

// FirstOverlap returns the first span of this window that overlaps
// [from, to), clipped to it, and false when there is none. It looks at
// the few firings around from and the next one after, never at every
// firing in the span, so it costs the same for a window that opens every
// minute as for one that opens once a year.
func (w Window) FirstOverlap(from, to time.Time) (Interval, bool) {
	var found Interval
	ok := false
	w.openings(from, to, func(iv Interval) bool {
		found, ok = iv, true
		return false
	})
	if !ok {
		return Interval{}, false
	}
	return clip([]Interval{found}, from, to)[0], true
}

// OpenAt reports whether the window is open at t, and if so the span of
// the openings that cover t (unclipped; overlapping openings joined).
func (w Window) OpenAt(t time.Time) (Interval, bool) {
	var found Interval
	open := false
	w.openings(t, t.Add(time.Nanosecond), func(iv Interval) bool {
		switch {
		case !iv.Contains(t):
		case !open:
			found, open = iv, true
		default:
			found.End = laterOf(found.End, iv.End)
		}
		return true
	})
	return found, open
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
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
//
// It asks each window for its first opening and skips past the freeze
// that covers it, so its cost follows the number of freezes, not how
// often the windows open.
func (p *Policy) NextOpen(t time.Time, horizon time.Duration) (time.Time, bool) {
	limit := t.Add(horizon)
	cuts := p.freezeIntervals()
	for from := t; from.Before(limit); {
		var first time.Time
		for _, w := range p.Windows {
			if iv, ok := w.FirstOverlap(from, limit); ok && (first.IsZero() || iv.Start.Before(first)) {
				first = iv.Start
			}
		}
		if first.IsZero() {
			return time.Time{}, false
		}
		frozen := false
		for _, c := range cuts {
			if c.Contains(first) {
				from, frozen = c.End, true
				break
			}
		}
		if !frozen {
			return first, true
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

// Day returns the calendar day of t in DayLocation, the one max_per_day
// counts: its name (e.g. "2026-11-26") and its span [start, end).
//
// A day starts when the clock first reads its midnight or later (the
// wall-clock rule), so a day whose midnight the clocks skip starts right
// after the skip, and a day never starts twice: should the clock go back
// across midnight, the repeated minutes still belong to the new day.
func (p *Policy) Day(t time.Time) (key string, start, end time.Time) {
	return calendarDay(t, p.DayLocation())
}

func calendarDay(t time.Time, loc *time.Location) (string, time.Time, time.Time) {
	l := t.In(loc)
	y, m, d := l.Date()
	start := WallTime(y, m, d, 0, 0, loc)
	end := WallTime(y, m, d+1, 0, 0, loc)
	if !end.After(t) { // the clock went back across midnight
		start, end = end, WallTime(y, m, d+2, 0, 0, loc)
		y, m, d = time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC).Date()
	}
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d), start, end
}

// DayStart is the start of t's calendar day in DayLocation (see Day):
// where max_per_day starts counting.
func (p *Policy) DayStart(t time.Time) time.Time {
	_, start, _ := p.Day(t)
	return start
}

// DayKey names the calendar day of t for max_per_day (see Day), e.g.
// "2026-11-26".
func (p *Policy) DayKey(t time.Time) string {
	key, _, _ := p.Day(t)
	return key
}
