package policies

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func alwaysOpen(t *testing.T, mean, min time.Duration) *Policy {
	return &Policy{
		Windows: []Window{mustWindow(t, "@daily", 24*time.Hour, time.UTC)},
		Every:   Cadence{Mean: mean, Min: min},
	}
}

func TestArrivalGapStatistics(t *testing.T) {
	cases := []struct{ mean, min time.Duration }{
		{45 * time.Minute, 0},
		{45 * time.Minute, 10 * time.Minute},
		{10 * time.Second, 9 * time.Second},
		{time.Hour, time.Hour},
	}
	for _, tc := range cases {
		t.Run(FormatDuration(tc.mean)+"/"+FormatDuration(tc.min), func(t *testing.T) {
			a := NewArrivals(alwaysOpen(t, tc.mean, tc.min), rand.New(rand.NewPCG(1, 2)))
			const n = 50_000
			var sum float64
			for i := 0; i < n; i++ {
				g := a.Gap()
				require.GreaterOrEqual(t, g, tc.min, "gap below min")
				sum += float64(g)
			}
			mean := sum / n
			// Standard error of the mean of a shifted exponential is
			// (mean−min)/√n; allow 5 of them.
			tol := 5*float64(tc.mean-tc.min)/math.Sqrt(n) + 1
			require.InDelta(t, float64(tc.mean), mean, tol)
		})
	}
}

func TestArrivalsStayInsideWindowsAndKeepMinGap(t *testing.T) {
	berlin := mustLoc(t, "Europe/Berlin")
	p := &Policy{
		Windows: []Window{mustWindow(t, "0 9 * * MON-FRI", 8*time.Hour, berlin), mustWindow(t, "0 22 * * SAT", 4*time.Hour, berlin)},
		Freezes: []Freeze{{From: utc(2026, 3, 25, 0, 0), To: utc(2026, 3, 26, 12, 0)}},
		Every:   Cadence{Mean: 20 * time.Minute, Min: 5 * time.Minute},
	}
	from, to := utc(2026, 3, 1, 0, 0), utc(2026, 5, 1, 0, 0) // across the DST change
	got := p.Sample(rand.New(rand.NewPCG(7, 7)), from, to)
	require.Greater(t, len(got), 1000)
	for i, at := range got {
		require.True(t, p.OpenAt(at), "arrival %s outside an open window", at)
		if i > 0 {
			require.GreaterOrEqual(t, at.Sub(got[i-1]), p.Every.Min, "gap before %s", at)
		}
	}
	// Expected count from open time matches the sample within a few σ.
	exp := p.Expected(from, to)
	require.InDelta(t, exp, float64(len(got)), 5*math.Sqrt(exp))
}

func TestSampleIsDeterministic(t *testing.T) {
	p := alwaysOpen(t, time.Minute, 0)
	from, to := utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 6, 0)
	a := p.Sample(rand.New(rand.NewPCG(42, 1)), from, to)
	b := p.Sample(rand.New(rand.NewPCG(42, 1)), from, to)
	c := p.Sample(rand.New(rand.NewPCG(43, 1)), from, to)
	require.Equal(t, a, b)
	require.NotEqual(t, a, c)
}

func TestMaxPerDayCountsCalendarDaysInFirstWindowZone(t *testing.T) {
	tokyo := mustLoc(t, "Asia/Tokyo")
	p := &Policy{
		Windows: []Window{mustWindow(t, "@daily", 24*time.Hour, tokyo)},
		Every:   Cadence{Mean: time.Minute},
		Limits:  Limits{MaxPerDay: 3},
	}
	from := time.Date(2026, 5, 1, 0, 0, 0, 0, tokyo)
	got := p.Sample(rand.New(rand.NewPCG(1, 1)), from, from.Add(72*time.Hour))
	perDay := map[string]int{}
	for _, at := range got {
		perDay[at.In(tokyo).Format("2006-01-02")]++
	}
	require.Equal(t, map[string]int{"2026-05-01": 3, "2026-05-02": 3, "2026-05-03": 3}, perDay)
	require.InDelta(t, 9.0, p.Expected(from, from.Add(72*time.Hour)), 0.01)
}

func TestExpectedCapped(t *testing.T) {
	// E[min(N, k)] by brute force over the Poisson distribution.
	for _, lambda := range []float64{0.1, 1, 3.5, 20} {
		for _, k := range []int{1, 2, 5} {
			var want float64
			pn := math.Exp(-lambda)
			for n := 0; n < 200; n++ {
				want += float64(min(n, k)) * pn
				pn *= lambda / float64(n+1)
			}
			require.InDelta(t, want, expectedCapped(lambda, k), 1e-9, "lambda=%g k=%d", lambda, k)
		}
	}
}

func TestAdvanceOpenSkipsClosedTime(t *testing.T) {
	p := &Policy{Windows: []Window{mustWindow(t, "0 9 * * *", time.Hour, time.UTC)}}
	// 80 minutes of open time from 09:30 on day 1: 30m on day 1, then the
	// remaining 50m from 09:00 on day 2.
	at, ok := p.AdvanceOpen(utc(2026, 1, 1, 9, 30), 80*time.Minute, utc(2026, 1, 10, 0, 0))
	require.True(t, ok)
	require.Equal(t, utc(2026, 1, 2, 9, 50), at)
	_, ok = p.AdvanceOpen(utc(2026, 1, 1, 9, 30), 80*time.Minute, utc(2026, 1, 2, 0, 0))
	require.False(t, ok, "not enough open time before the limit")
}
