package policies

import (
	"time"
)

// The wall-clock rule. Windows, closings, max_per_day's calendar day and
// plan's axis all name times on a zone's clock ("09:00 in
// Europe/Berlin"), and a zone's clock skips some readings (the gap when
// the clocks go forward) and shows others twice (the overlap when they go
// back). tumult resolves every wall-clock time the same way:
//
//	a wall-clock time happens at the first instant at which the zone's
//	clock reads that time or later.
//
// So a time in a gap happens at the first instant after the gap (02:30 on
// the night New York springs forward happens at 03:00 EDT), a time in an
// overlap happens once, at its first occurrence (01:30 on the night New
// York falls back is 01:30 EDT, never 01:30 EST), and every other time
// happens at its only instant. The rule is monotone: a later wall time
// never happens before an earlier one, so a window never closes before it
// opens and calendar days never run backwards.

// zoneReach bounds how far a zone's clock is from UTC. The tz database's
// offsets stay within ±16h (local mean times of the 19th century
// included); 26h leaves room for a calendar day skipped outright, as
// Pacific/Apia did on 2011-12-30.
const zoneReach = 26 * time.Hour

// wallOf returns the reading of loc's clock at t, as a time in UTC with
// the same fields. Wall readings compare and add without any zone getting
// in the way.
func wallOf(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// resolveWall returns the instant at which wall (fields of a UTC time)
// happens in loc under the wall-clock rule: the first instant whose
// reading is wall or later.
//
// It walks the zone's periods (spans of one offset) from an instant whose
// reading is surely earlier than wall; in each period the reading grows
// with the instant, so the answer is either inside a period or at the
// start of the first period whose readings all lie past wall (a gap).
func resolveWall(wall time.Time, loc *time.Location) time.Time {
	if loc == time.UTC || loc == nil {
		return wall
	}
	cursor := wall.Add(-zoneReach)
	for range 16 {
		l := cursor.In(loc)
		_, off := l.Zone()
		_, end := l.ZoneBounds()
		at := wall.Add(-time.Duration(off) * time.Second) // reads wall under this offset
		if at.Before(cursor) {
			at = cursor // this period starts past wall: the gap before it
		}
		if end.IsZero() || at.Before(end) {
			return at.In(loc)
		}
		cursor = end
	}
	// Sixteen offset changes within two days exist in no zone; fall back
	// to Go's own normalisation rather than loop.
	return time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), wall.Nanosecond(), loc)
}

// WallTime returns the instant at which loc's clock reads the given date
// and time under the wall-clock rule: a time the clocks skip happens at
// the first instant after the skip, a time they show twice happens at its
// first occurrence. Fields out of range normalise as in time.Date.
func WallTime(year int, month time.Month, day, hour, min int, loc *time.Location) time.Time {
	return resolveWall(time.Date(year, month, day, hour, min, 0, 0, time.UTC), loc)
}

// offsetSpread returns how far loc's offset moves within [from, to]: the
// largest offset minus the smallest. Zero for a zone without changes
// there, which is almost always.
func offsetSpread(from, to time.Time, loc *time.Location) time.Duration {
	if loc == time.UTC || loc == nil {
		return 0
	}
	t := from.In(loc)
	_, lo := t.Zone()
	hi := lo
	for range 64 {
		_, end := t.ZoneBounds()
		if end.IsZero() || end.After(to) {
			break
		}
		t = end.In(loc)
		_, off := t.Zone()
		lo, hi = min(lo, off), max(hi, off)
	}
	return time.Duration(hi-lo) * time.Second
}

// Transition is a change of a zone's offset: at At the clock jumps from
// reading Before's offset to After's.
type Transition struct {
	At            time.Time
	Before, After int // offsets east of UTC, in seconds
}

// Gap reports whether the clocks go forward, skipping readings.
func (tr Transition) Gap() bool { return tr.After > tr.Before }

// Walls returns the readings the transition skips (a gap) or shows twice
// (an overlap), [from, to), as wall times (fields of UTC times).
func (tr Transition) Walls() (from, to time.Time) {
	b := tr.At.Add(time.Duration(tr.Before) * time.Second).UTC()
	a := tr.At.Add(time.Duration(tr.After) * time.Second).UTC()
	if a.Before(b) {
		return a, b
	}
	return b, a
}

// Transitions returns loc's offset changes in [from, to), in order. Changes
// of a zone's name or DST flag that keep its offset are not transitions:
// the clock does not move.
func Transitions(loc *time.Location, from, to time.Time) []Transition {
	var out []Transition
	if loc == time.UTC || loc == nil {
		return out
	}
	t := from.In(loc)
	_, off := t.Zone()
	for range 10_000 {
		_, end := t.ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			break
		}
		t = end.In(loc)
		_, next := t.Zone()
		if next != off {
			out = append(out, Transition{At: end, Before: off, After: next})
		}
		off = next
	}
	return out
}
