package policies

import (
	"archive/zip"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tzdbZones lists every zone of the tz database Go ships
// ($GOROOT/lib/time/zoneinfo.zip), loaded.
func tzdbZones(t *testing.T) []*time.Location {
	t.Helper()
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	require.NoError(t, err, "go env GOROOT")
	r, err := zip.OpenReader(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "time", "zoneinfo.zip"))
	require.NoError(t, err, "the tz database Go ships")
	defer r.Close()
	var names []string
	for _, f := range r.File {
		if !f.FileInfo().IsDir() && !strings.HasPrefix(f.Name, "posix") && !strings.HasPrefix(f.Name, "right") {
			names = append(names, f.Name)
		}
	}
	sort.Strings(names)
	var locs []*time.Location
	for _, n := range names {
		l, err := time.LoadLocation(n)
		require.NoError(t, err, n)
		locs = append(locs, l)
	}
	require.Greater(t, len(locs), 400, "zones in the tz database")
	return locs
}

// firstReading is the wall-clock rule checked from its definition rather
// than computed: at r the clock reads wall or later, and at no instant in
// the day before r did it read wall or later. Within one offset the
// reading grows, so the latest reading before r is the one just before r
// or just before one of the transitions in that day.
func firstReading(t *testing.T, loc *time.Location, wall, r time.Time, what string) {
	t.Helper()
	require.False(t, wallOf(r, loc).Before(wall), "%s %s: at %s the clock reads %s, before %s", loc, what, r.UTC(), wallOf(r, loc), wall)
	require.True(t, wallOf(r.Add(-time.Nanosecond), loc).Before(wall), "%s %s: the clock read %s before %s already", loc, what, wall, r.UTC())
	for _, tr := range Transitions(loc, r.Add(-zoneReach), r) {
		require.True(t, wallOf(tr.At.Add(-time.Nanosecond), loc).Before(wall), "%s %s: the clock read %s before %s already (at %s)", loc, what, wall, r.UTC(), tr.At.UTC())
	}
}

// TestWallClockRuleAcrossTZDatabase checks the wall-clock rule at every
// offset change of every zone from 1970 to 2037: gaps and overlaps at any
// hour including midnight, 30-minute shifts (Australia/Lord_Howe),
// negative DST (Europe/Dublin), zones that moved their standard offset or
// skipped a whole day (Pacific/Apia). For daily windows opening at the
// readings the change skips or repeats, at the edges of those readings and
// at midnight, with short and long durations:
//   - every firing day opens the window exactly once, at the rule's instant;
//   - a window never closes before or when it opens, and closes at the
//     rule's instant for the opening's reading plus the duration;
//   - the calendar days max_per_day counts start at the rule's instant for
//     midnight, follow each other without gaps or overlaps, and never
//     repeat.
func TestWallClockRuleAcrossTZDatabase(t *testing.T) {
	from, to := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2038, 1, 1, 0, 0, 0, 0, time.UTC)
	durations := []time.Duration{10 * time.Minute, 4*time.Hour + 30*time.Minute}
	if testing.Short() {
		from = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	seen := map[string]int{}
	kinds := map[kindKey]bool{}
	for _, loc := range tzdbZones(t) {
		for _, tr := range Transitions(loc, from, to) {
			lo, hi := tr.Walls()
			kind := "overlap"
			if tr.Gap() {
				kind = "gap"
			}
			seen[kind]++
			if lo.Hour() == 0 && lo.Minute() == 0 || hi.Hour() == 0 && hi.Minute() == 0 || lo.Day() != hi.Day() {
				seen[kind+" at midnight"]++
			}
			if d := hi.Sub(lo); d%time.Hour != 0 {
				seen["shift not whole hours"]++
			}
			if loc.String() == "Europe/Dublin" && tr.At.Year() >= 1971 {
				seen["Dublin"]++
			}
			if hi.Sub(lo) >= 24*time.Hour {
				seen["whole day"]++
			}
			// Windows and days behave alike at changes with the same offsets at the
			// same time of day, whatever the zone or year: check each kind
			// once (Dublin always, for its negative DST).
			k := kindKey{tr.Before, tr.After, lo.Hour()*60 + lo.Minute()}
			if kinds[k] && loc.String() != "Europe/Dublin" {
				continue
			}
			kinds[k] = true
			checkDays(t, loc, tr)
			fires := []time.Time{lo, lo.Add(hi.Sub(lo) / 2).Truncate(time.Minute), hi.Add(-time.Minute), hi, lo.Add(-time.Minute),
				time.Date(lo.Year(), lo.Month(), lo.Day(), 0, 0, 0, 0, time.UTC)}
			for _, fire := range fires {
				expr := fmt.Sprintf("%d %d * * *", fire.Minute(), fire.Hour())
				for _, d := range durations {
					checkDailyWindow(t, loc, tr, expr, d)
				}
			}
		}
	}
	t.Logf("offset changes checked: %v; windows checked at %d kinds of change", seen, len(kinds))
	kindsWanted := []string{"gap", "overlap", "gap at midnight", "overlap at midnight", "shift not whole hours", "Dublin"}
	if !testing.Short() {
		kindsWanted = append(kindsWanted, "whole day") // Pacific/Apia, 2011
	}
	for _, k := range kindsWanted {
		require.Positive(t, seen[k], "no %s in the tz database checked", k)
	}
}

// kindKey is a kind of offset change: from which offset to which, at
// which reading (minutes after midnight).
type kindKey struct{ before, after, minute int }

// checkDailyWindow checks a daily window over the four days around tr.
func checkDailyWindow(t *testing.T, loc *time.Location, tr Transition, expr string, d time.Duration) {
	w, err := NewWindow(expr, d, loc)
	require.NoError(t, err)
	lo, _ := tr.Walls()
	day0 := time.Date(lo.Year(), lo.Month(), lo.Day()-2, 0, 0, 0, 0, time.UTC)
	from, to := resolveWall(day0, loc), resolveWall(day0.AddDate(0, 0, 5), loc)
	var got []Interval
	w.openings(from, to, func(iv Interval) bool {
		if !iv.Start.Before(from) { // openings before from that are still open then are checked in their own days
			got = append(got, iv)
		}
		return true
	})
	// The firings the cron names in those days, each resolved by the rule;
	// firings that resolve to one instant (a skipped day) are one opening.
	var want []time.Time
	for fire := w.nextWall(day0.Add(-time.Second)); fire.Before(day0.AddDate(0, 0, 5)); fire = w.nextWall(fire) {
		r := resolveWall(fire, loc)
		firstReading(t, loc, fire, r, expr+" opening")
		if r.Before(to) && (len(want) == 0 || !r.Equal(want[len(want)-1])) {
			want = append(want, r)
		}
	}
	require.Len(t, got, len(want), "%s %q %s around %s: openings %v", loc, expr, d, tr.At.UTC(), got)
	for i, iv := range got {
		require.True(t, iv.Start.Equal(want[i]), "%s %q: opening %d at %s, want %s", loc, expr, i, iv.Start.UTC(), want[i].UTC())
		require.True(t, iv.End.After(iv.Start), "%s %q %s: closes at %s, not after its opening %s", loc, expr, d, iv.End.UTC(), iv.Start.UTC())
		firstReading(t, loc, wallOf(iv.Start, loc).Add(d), iv.End, expr+" closing")
		if i > 0 {
			require.True(t, iv.Start.After(got[i-1].Start), "%s %q: openings out of order", loc, expr)
		}
	}
	// What the scheduler asks agrees with the openings.
	for _, iv := range got {
		open, ok := w.OpenAt(iv.Start)
		require.True(t, ok, "%s %q: not open at its opening %s", loc, expr, iv.Start.UTC())
		require.True(t, open.Contains(iv.Start))
		first, ok := w.FirstOverlap(iv.Start.Add(-time.Nanosecond), to)
		require.True(t, ok)
		require.False(t, first.Start.After(iv.Start), "%s %q: FirstOverlap missed the opening at %s", loc, expr, iv.Start.UTC())
	}
}

// checkDays checks the calendar days around tr: each starts when the
// clock first reads its midnight, ends where the next starts, and every
// instant falls in exactly one, with names in order.
func checkDays(t *testing.T, loc *time.Location, tr Transition) {
	p := &Policy{Windows: []Window{{Location: loc}}}
	key, start, end := p.Day(tr.At.Add(-36 * time.Hour))
	for range 3 {
		require.True(t, end.After(start), "%s day %s: empty", loc, key)
		// The day starts when the clock first reads its own midnight.
		var dy, dm, dd int
		_, err := fmt.Sscanf(key, "%d-%d-%d", &dy, &dm, &dd)
		require.NoError(t, err)
		firstReading(t, loc, time.Date(dy, time.Month(dm), dd, 0, 0, 0, 0, time.UTC), start, "day "+key)
		for _, at := range []time.Time{start, end.Add(-time.Nanosecond), tr.At, tr.At.Add(-time.Nanosecond)} {
			if at.Before(start) || !at.Before(end) {
				continue
			}
			k, s, e := p.Day(at)
			require.Equal(t, key, k, "%s at %s", loc, at.UTC())
			require.True(t, s.Equal(start) && e.Equal(end), "%s at %s: day %s is [%s, %s), want [%s, %s)", loc, at.UTC(), k, s.UTC(), e.UTC(), start.UTC(), end.UTC())
		}
		nk, ns, ne := p.Day(end)
		require.True(t, ns.Equal(end), "%s: day %s starts at %s, not where %s ends (%s)", loc, nk, ns.UTC(), key, end.UTC())
		require.Greater(t, nk, key, "%s: day %s follows %s", loc, nk, key)
		key, start, end = nk, ns, ne
	}
}
