package policies

import (
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// ClockChange is a day on which a window's cron names readings that its
// zone's clock skips or shows twice, and what tumult does about it.
type ClockChange struct {
	Transition
	// First and Last are the cron's first and last readings in the skipped
	// or repeated span (wall times: fields of UTC times); Count how many.
	First, Last time.Time
	Count       int
	// Opens is when those firings open the window under the wall-clock
	// rule: the end of a gap, or the first pass through an overlap.
	Opens time.Time
}

// maxCounted bounds the firings counted in one change: a whole skipped
// day of a cron firing every minute.
const maxCounted = 24 * 60

// ClockChanges returns the changes of w's zone in [from, to) at which the
// cron fires on a reading the clock skips or repeats, unless the window
// is open throughout the change anyway. It looks only at
// the zone's offset changes (a handful a year) and at the firings inside
// each, so it costs the same for a cron firing every minute as for one
// firing once a year.
func (w Window) ClockChanges(from, to time.Time) []ClockChange {
	var out []ClockChange
	for _, tr := range Transitions(w.Location, from, to) {
		lo, hi := tr.Walls()
		c := ClockChange{Transition: tr}
		for fire := w.nextWall(lo.Add(-time.Nanosecond)); !fire.IsZero() && fire.Before(hi) && c.Count < maxCounted; fire = w.nextWall(fire) {
			if c.Count == 0 {
				c.First = fire
			}
			c.Last = fire
			c.Count++
		}
		if c.Count > 0 && !w.openThrough(tr) {
			c.Opens = resolveWall(c.First, w.Location)
			out = append(out, c)
		}
	}
	return out
}

// openThrough reports whether the window stays open across the whole
// change anyway, so that the firings in it change nothing one could see:
// open on both sides of a gap, or through the whole second pass of an
// overlap (an opening of the first pass lasting past it), as a window
// opening every minute is.
func (w Window) openThrough(tr Transition) bool {
	lo, hi := tr.Walls()
	if tr.Gap() {
		_, before := w.OpenAt(tr.At.Add(-time.Nanosecond))
		_, after := w.OpenAt(tr.At)
		return before && after
	}
	iv, ok := w.OpenAt(tr.At)
	return ok && !iv.End.Before(tr.At.Add(hi.Sub(lo)))
}

// Describe says in a sentence what happens to the window on that day.
func (c ClockChange) Describe(loc *time.Location) string {
	day := c.First.Format("2006-01-02")
	lo, hi := c.Walls()
	span := fmt.Sprintf("%s–%s", lo.Format("15:04"), hi.Format("15:04"))
	at := c.Opens.In(loc).Format("15:04 MST")
	if c.Gap() {
		if c.Count == 1 {
			return fmt.Sprintf("on %s the clocks skip %s, so %s does not exist and the window opens at %s, when the clocks land", day, span, c.First.Format("15:04"), at)
		}
		return fmt.Sprintf("on %s the clocks skip %s, so its %d openings from %s to %s do not exist and the window opens once, at %s, when the clocks land", day, span, c.Count, c.First.Format("15:04"), c.Last.Format("15:04"), at)
	}
	if c.Count == 1 {
		return fmt.Sprintf("on %s the clocks show %s twice, and the window opens once, at the first %s (%s), not when the clocks show it again", day, span, c.First.Format("15:04"), at)
	}
	return fmt.Sprintf("on %s the clocks show %s twice; its %d openings from %s to %s each open once, on the first pass (from %s), none on the second", day, span, c.Count, c.First.Format("15:04"), c.Last.Format("15:04"), at)
}

// warnClockChanges warns about windows whose cron fires, in [from, to),
// on readings their zone's clock skips or repeats, saying on which days
// and what tumult will do then.
func warnClockChanges(d *diags, w Window, hb *hcl.Block, from, to time.Time) {
	changes := w.ClockChanges(from, to)
	if len(changes) == 0 {
		return
	}
	rng := hb.DefRange
	if content, _, _ := hb.Body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "cron"}}}); content != nil {
		if a := content.Attributes["cron"]; a != nil {
			rng = a.Expr.Range()
		}
	}
	var says []string
	for _, c := range changes {
		says = append(says, c.Describe(w.Location))
	}
	d.Warnf(rng, "Window opens in a clock change",
		"cron %q fires at times the clocks of %s skip or repeat in the year after %s: %s. tumult opens a window when the clock first reads its time or later; move the cron out of the change if that is not what you mean.",
		w.Cron, w.Location, from.Format("2006-01-02"), strings.Join(says, "; "))
}
