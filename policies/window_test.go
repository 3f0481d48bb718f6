package policies

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	require.NoError(t, err)
	return l
}

func mustWindow(t *testing.T, cron string, d time.Duration, loc *time.Location) Window {
	t.Helper()
	w, err := NewWindow(cron, d, loc)
	require.NoError(t, err)
	return w
}

func utc(y int, m time.Month, d, h, min int) time.Time {
	return time.Date(y, m, d, h, min, 0, 0, time.UTC)
}

func TestWindowIntervalsAcrossDST(t *testing.T) {
	berlin, ny := mustLoc(t, "Europe/Berlin"), mustLoc(t, "America/New_York")
	cases := []struct {
		name     string
		cron     string
		dur      time.Duration
		loc      *time.Location
		from, to time.Time
		want     []Interval
	}{
		{
			name: "Berlin 09:00 before and after spring forward keeps local time",
			cron: "0 9 * * *", dur: 8 * time.Hour, loc: berlin,
			from: utc(2026, 3, 28, 0, 0), to: utc(2026, 3, 30, 0, 0),
			want: []Interval{{utc(2026, 3, 28, 8, 0), utc(2026, 3, 28, 16, 0)}, {utc(2026, 3, 29, 7, 0), utc(2026, 3, 29, 15, 0)}},
		},
		{
			name: "Berlin night window on spring-forward night closes at 06:00 local (7h real)",
			cron: "0 22 * * *", dur: 8 * time.Hour, loc: berlin,
			from: utc(2026, 3, 28, 12, 0), to: utc(2026, 3, 29, 12, 0),
			want: []Interval{{utc(2026, 3, 28, 21, 0), utc(2026, 3, 29, 4, 0)}},
		},
		{
			name: "Berlin night window on fall-back night closes at 06:00 local (9h real)",
			cron: "0 22 * * *", dur: 8 * time.Hour, loc: berlin,
			from: utc(2026, 10, 24, 12, 0), to: utc(2026, 10, 25, 12, 0),
			want: []Interval{{utc(2026, 10, 24, 20, 0), utc(2026, 10, 25, 5, 0)}},
		},
		{
			name: "New York 09:00 across fall back",
			cron: "0 9 * * *", dur: time.Hour, loc: ny,
			from: utc(2026, 10, 31, 0, 0), to: utc(2026, 11, 2, 0, 0),
			want: []Interval{{utc(2026, 10, 31, 13, 0), utc(2026, 10, 31, 14, 0)}, {utc(2026, 11, 1, 14, 0), utc(2026, 11, 1, 15, 0)}},
		},
		{
			name: "New York opening inside the spring-forward gap opens at the first instant after it",
			cron: "30 2 * * *", dur: time.Hour, loc: ny,
			from: time.Date(2026, 3, 7, 12, 0, 0, 0, ny), to: time.Date(2026, 3, 9, 12, 0, 0, 0, ny),
			// 02:30 does not exist on 03-08: the clock reads 03:00 EDT
			// (07:00Z) first; an hour of its clock later is 04:00 EDT.
			want: []Interval{{utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 8, 0)}, {time.Date(2026, 3, 9, 2, 30, 0, 0, ny), time.Date(2026, 3, 9, 3, 30, 0, 0, ny)}},
		},
		{
			name: "issue 9: New York 22:00 + 4h30m on spring-forward night closes at 03:00 EDT, not 01:30 EST",
			cron: "0 22 * * *", dur: 4*time.Hour + 30*time.Minute, loc: ny,
			from: time.Date(2026, 3, 7, 12, 0, 0, 0, ny), to: time.Date(2026, 3, 8, 12, 0, 0, 0, ny),
			// Opens 22:00 EST (03:00Z); the closing reading 02:30 is
			// skipped, so it closes when the clock first reads past it:
			// 03:00 EDT = 07:00Z, 4 real hours later.
			want: []Interval{{utc(2026, 3, 8, 3, 0), utc(2026, 3, 8, 7, 0)}},
		},
		{
			name: "issue 9: New York 01:30 + 10m on fall-back night opens once, at 01:30 EDT",
			cron: "30 1 * * *", dur: 10 * time.Minute, loc: ny,
			from: time.Date(2026, 10, 31, 20, 0, 0, 0, ny), to: time.Date(2026, 10, 31, 20, 0, 0, 0, ny).Add(12 * time.Hour),
			// Not again at 01:30 EST (06:30Z).
			want: []Interval{{utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 5, 40)}},
		},
		{
			name: "New York opening in the repeated fall-back hour opens once",
			cron: "30 1 * * *", dur: time.Hour, loc: ny,
			from: time.Date(2026, 11, 1, 0, 0, 0, 0, ny), to: time.Date(2026, 11, 1, 12, 0, 0, 0, ny),
			// 01:30 EDT = 05:30Z; an hour of wall clock later is 02:30 EST = 07:30Z.
			want: []Interval{{utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 7, 30)}},
		},
		{
			name: "every quarter hour across the gap: the skipped readings open once, at 03:00 EDT",
			cron: "*/15 * * * *", dur: 5 * time.Minute, loc: ny,
			from: time.Date(2026, 3, 8, 1, 40, 0, 0, ny), to: time.Date(2026, 3, 8, 3, 20, 0, 0, ny),
			want: []Interval{
				{time.Date(2026, 3, 8, 1, 45, 0, 0, ny), time.Date(2026, 3, 8, 1, 50, 0, 0, ny)},
				{utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 7, 5)},
				{utc(2026, 3, 8, 7, 15), utc(2026, 3, 8, 7, 20)},
			},
		},
		{
			name: "every quarter hour across the overlap: only the first pass of the repeated hour opens",
			cron: "*/15 * * * *", dur: 5 * time.Minute, loc: ny,
			from: utc(2026, 11, 1, 5, 40), to: utc(2026, 11, 1, 7, 20),
			want: []Interval{
				{utc(2026, 11, 1, 5, 45), utc(2026, 11, 1, 5, 50)}, // 01:45 EDT
				{utc(2026, 11, 1, 7, 0), utc(2026, 11, 1, 7, 5)},   // 02:00 EST
				{utc(2026, 11, 1, 7, 15), utc(2026, 11, 1, 7, 20)},
			},
		},
		{
			name: "Lord Howe: the half-hour gap swallows 02:15, which opens at 02:30",
			cron: "15 2 * * *", dur: time.Hour, loc: mustLoc(t, "Australia/Lord_Howe"),
			from: utc(2026, 10, 3, 12, 0), to: utc(2026, 10, 4, 12, 0),
			// 2026-10-04 02:00 +10:30 → 02:30 +11:00 (15:30Z); closes 03:30 +11.
			want: []Interval{{utc(2026, 10, 3, 15, 30), utc(2026, 10, 3, 16, 30)}},
		},
		{
			name: "Dublin's negative DST: winter time is the 'daylight' one, the rule still holds",
			cron: "30 1 * * *", dur: 10 * time.Minute, loc: mustLoc(t, "Europe/Dublin"),
			from: utc(2026, 10, 24, 12, 0), to: utc(2026, 10, 25, 12, 0),
			// 2026-10-25 02:00 IST → 01:00 GMT: 01:30 is IST's (00:30Z).
			want: []Interval{{utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 0, 40)}},
		},
		{
			name: "Santiago's midnight gap: 00:00 opens at 01:00 -03",
			cron: "0 0 * * *", dur: 2 * time.Hour, loc: mustLoc(t, "America/Santiago"),
			from: utc(2026, 9, 5, 12, 0), to: utc(2026, 9, 6, 12, 0),
			// 2026-09-06 00:00 -04 → 01:00 -03 (04:00Z); closes 03:00 -03.
			want: []Interval{{utc(2026, 9, 6, 4, 0), utc(2026, 9, 6, 6, 0)}},
		},
		{
			name: "window crossing midnight is clipped to the query span",
			cron: "0 22 * * *", dur: 6 * time.Hour, loc: time.UTC,
			from: utc(2026, 6, 2, 0, 0), to: utc(2026, 6, 2, 23, 0),
			want: []Interval{{utc(2026, 6, 2, 0, 0), utc(2026, 6, 2, 4, 0)}, {utc(2026, 6, 2, 22, 0), utc(2026, 6, 2, 23, 0)}},
		},
		{
			name: "overlapping openings merge",
			cron: "0 * * * *", dur: 90 * time.Minute, loc: time.UTC,
			from: utc(2026, 6, 2, 0, 0), to: utc(2026, 6, 2, 3, 0),
			want: []Interval{{utc(2026, 6, 2, 0, 0), utc(2026, 6, 2, 3, 0)}},
		},
		{
			name: "weekday cron skips the weekend",
			cron: "0 9 * * MON-FRI", dur: time.Hour, loc: time.UTC,
			from: utc(2026, 11, 27, 0, 0), to: utc(2026, 12, 1, 0, 0), // Fri → Tue
			want: []Interval{{utc(2026, 11, 27, 9, 0), utc(2026, 11, 27, 10, 0)}, {utc(2026, 11, 30, 9, 0), utc(2026, 11, 30, 10, 0)}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := mustWindow(t, tc.cron, tc.dur, tc.loc)
			got := w.Intervals(tc.from, tc.to)
			require.Len(t, got, len(tc.want), "%v", got)
			for i := range got {
				require.True(t, tc.want[i].Start.Equal(got[i].Start), "start %d: want %s got %s", i, tc.want[i].Start, got[i].Start)
				require.True(t, tc.want[i].End.Equal(got[i].End), "end %d: want %s got %s", i, tc.want[i].End, got[i].End)
			}
		})
	}
}

func TestWindowOpenAtBoundaries(t *testing.T) {
	w := mustWindow(t, "0 22 * * *", 6*time.Hour, time.UTC)
	cases := []struct {
		at   time.Time
		open bool
	}{
		{utc(2026, 6, 1, 21, 59).Add(59 * time.Second), false},
		{utc(2026, 6, 1, 22, 0), true},
		{utc(2026, 6, 1, 23, 59), true},
		{utc(2026, 6, 2, 0, 0), true},
		{utc(2026, 6, 2, 3, 59).Add(59 * time.Second), true},
		{utc(2026, 6, 2, 4, 0), false},
		{utc(2026, 6, 2, 12, 0), false},
	}
	for _, tc := range cases {
		t.Run(tc.at.Format(time.RFC3339), func(t *testing.T) {
			iv, open := w.OpenAt(tc.at)
			require.Equal(t, tc.open, open)
			if open {
				require.True(t, iv.Contains(tc.at))
				require.Equal(t, 6*time.Hour, iv.Len())
			}
		})
	}
}

func TestFreezesCutWindows(t *testing.T) {
	p := &Policy{
		Windows: []Window{mustWindow(t, "0 9 * * *", 8*time.Hour, time.UTC)},
		Freezes: []Freeze{{From: utc(2026, 6, 1, 12, 0), To: utc(2026, 6, 2, 10, 0)}},
	}
	got := p.OpenIntervals(utc(2026, 6, 1, 0, 0), utc(2026, 6, 3, 0, 0))
	require.Equal(t, []Interval{
		{utc(2026, 6, 1, 9, 0), utc(2026, 6, 1, 12, 0)},
		{utc(2026, 6, 2, 10, 0), utc(2026, 6, 2, 17, 0)},
	}, got)
	require.True(t, p.OpenAt(utc(2026, 6, 1, 11, 59)))
	require.False(t, p.OpenAt(utc(2026, 6, 1, 12, 0)), "freeze start is frozen")
	require.True(t, p.OpenAt(utc(2026, 6, 2, 10, 0)), "freeze end is open again")
	_, frozen := p.FrozenAt(utc(2026, 6, 2, 9, 59))
	require.True(t, frozen)

	next, ok := p.NextOpen(utc(2026, 6, 1, 12, 0), 48*time.Hour)
	require.True(t, ok)
	require.Equal(t, utc(2026, 6, 2, 10, 0), next)
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"90s", 90 * time.Second, false},
		{"1h30m", 90 * time.Minute, false},
		{"30d", 30 * 24 * time.Hour, false},
		{"1w", 7 * 24 * time.Hour, false},
		{"1.5h", 90 * time.Minute, false},
		{"0", 0, false},
		{"", 0, true},
		{"5", 0, true},
		{"5 m", 0, true},
		{"-5m", 0, true},
		{"2x", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.err {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	require.Equal(t, "1d2h3m4s", FormatDuration(26*time.Hour+3*time.Minute+4*time.Second))
}

func TestQuantityRoundsDown(t *testing.T) {
	cases := []struct {
		q    Quantity
		n    int
		want int
	}{
		{Quantity{Count: 2}, 10, 2},
		{Quantity{Percent: 25, IsPercent: true}, 3, 0},
		{Quantity{Percent: 25, IsPercent: true}, 4, 1},
		{Quantity{Percent: 25, IsPercent: true}, 10, 2},
		{Quantity{Percent: 100, IsPercent: true}, 7, 7},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, tc.q.Of(tc.n), "%s of %d", tc.q, tc.n)
	}
}

// TestIssue9Examples are the two windows of issue 9 as the plan sees
// them: open time and expected faults.
func TestIssue9Examples(t *testing.T) {
	ny := mustLoc(t, "America/New_York")
	cases := []struct {
		name     string
		cron     string
		dur      time.Duration
		from     time.Time
		hours    int
		open     []Interval
		expected float64 // with a mean gap of 5m
	}{
		{
			name: "22:00 + 4h30m on 2026-03-08 closes at 03:00 EDT", cron: "0 22 * * *", dur: 4*time.Hour + 30*time.Minute,
			from: time.Date(2026, 3, 7, 12, 0, 0, 0, ny), hours: 24,
			open:     []Interval{{utc(2026, 3, 8, 3, 0), utc(2026, 3, 8, 7, 0)}},
			expected: 48, // 4 real hours: 2h on each calendar day
		},
		{
			name: "01:30 + 10m from 2026-10-31T20:00-04:00 for 12h opens once", cron: "30 1 * * *", dur: 10 * time.Minute,
			from: time.Date(2026, 10, 31, 20, 0, 0, 0, ny), hours: 12,
			open:     []Interval{{utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 5, 40)}},
			expected: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &Policy{Enabled: true, Windows: []Window{mustWindow(t, tc.cron, tc.dur, ny)}, Every: Cadence{Mean: 5 * time.Minute}}
			to := tc.from.Add(time.Duration(tc.hours) * time.Hour)
			require.Equal(t, tc.open, utcIntervals(p.OpenIntervals(tc.from, to)))
			require.InDelta(t, tc.expected, p.Expected(tc.from, to), 1e-9)
		})
	}
}

func utcIntervals(ivs []Interval) []Interval {
	out := make([]Interval, len(ivs))
	for i, iv := range ivs {
		out[i] = Interval{iv.Start.UTC(), iv.End.UTC()}
	}
	return out
}

// TestCalendarDays: max_per_day's day starts when the clock first reads
// midnight, lasts 23 or 25 hours on change days, and a sample never puts
// more faults in one than the limit.
func TestCalendarDays(t *testing.T) {
	cases := []struct {
		zone       string
		at         time.Time
		key        string
		start, end time.Time
	}{
		{"America/New_York", utc(2026, 11, 1, 6, 30), "2026-11-01", utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 5, 0)},
		{"America/New_York", utc(2026, 3, 8, 12, 0), "2026-03-08", utc(2026, 3, 8, 5, 0), utc(2026, 3, 9, 4, 0)},
		// Santiago skips 2026-09-06 00:00–01:00: the day starts at 01:00 -03.
		{"America/Santiago", utc(2026, 9, 6, 4, 0), "2026-09-06", utc(2026, 9, 6, 4, 0), utc(2026, 9, 7, 3, 0)},
		{"America/Santiago", utc(2026, 9, 6, 3, 59), "2026-09-05", utc(2026, 9, 5, 4, 0), utc(2026, 9, 6, 4, 0)},
		// Lord Howe's day of the half-hour change is 23.5 hours long.
		{"Australia/Lord_Howe", utc(2026, 10, 4, 0, 0), "2026-10-04", utc(2026, 10, 3, 13, 30), utc(2026, 10, 4, 13, 0)},
		{"Pacific/Apia", utc(2011, 12, 30, 12, 0), "2011-12-31", utc(2011, 12, 30, 10, 0), utc(2011, 12, 31, 10, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.zone+" "+tc.key, func(t *testing.T) {
			p := &Policy{Windows: []Window{mustWindow(t, "@daily", time.Hour, mustLoc(t, tc.zone))}}
			key, start, end := p.Day(tc.at)
			require.Equal(t, tc.key, key)
			require.Equal(t, tc.start, start.UTC())
			require.Equal(t, tc.end, end.UTC())
			require.Equal(t, tc.start, p.DayStart(tc.at).UTC())
			require.Equal(t, tc.key, p.DayKey(tc.at))
		})
	}
}
