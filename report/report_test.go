package report

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// exp is a finished experiment injected at t0+at, healthy again after
// healthy and in steady state after steady (0: not recorded).
func exp(id, policy string, kind policies.FaultKind, result ledger.Result, at, healthy, steady time.Duration) ledger.Record {
	r := ledger.Record{
		ID: id, Policy: policy, Actor: "scheduler", Fault: policies.FaultSpec{Kind: kind},
		Member: targets.Member{ID: "c0ffee" + id, Name: "api-" + id},
		Phase:  ledger.Finished, Result: result, Injected: t0.Add(at), Decided: t0.Add(at),
		Finished: t0.Add(at + 5*time.Minute),
	}
	if healthy > 0 {
		r.HealthyAt = r.Injected.Add(healthy)
	}
	if steady > 0 {
		r.SteadyAt = r.Injected.Add(steady)
	}
	return r
}

func skipped(id, policy, reason string, at time.Duration) ledger.Record {
	return ledger.Record{ID: id, Policy: policy, Actor: "scheduler", Phase: ledger.Finished, Result: ledger.Skipped,
		Reason: reason, Decided: t0.Add(at), Finished: t0.Add(at)}
}

func history() []ledger.Record {
	s := time.Second
	failed := exp("f1", "checkout", policies.FaultKill, ledger.Failed, 40*time.Minute, 20*s, 0)
	failed.Reason = "not recovered within 1m: steady state 0.2 not in [-inf, 0.01]"
	manual := exp("m1", "checkout", policies.FaultKill, ledger.Passed, 50*time.Minute, 3*s, 9*s)
	manual.Actor, manual.ActorReason = "ana", "game day"
	dry := exp("d1", "search", policies.FaultPause, ledger.Passed, 10*time.Minute, time.Second, 0)
	dry.DryRun = true
	return []ledger.Record{
		exp("p1", "checkout", policies.FaultKill, ledger.Passed, 0, 2*s, 6*s),
		exp("p2", "checkout", policies.FaultKill, ledger.Passed, 10*time.Minute, 4*s, 8*s),
		exp("p3", "checkout", policies.FaultKill, ledger.Passed, 20*time.Minute, 10*s, 30*s),
		failed, manual,
		exp("r1", "checkout", policies.FaultKill, ledger.Restored, 60*time.Minute, 0, 0),
		exp("s1", "search", policies.FaultPause, ledger.Passed, 5*time.Minute, 30*s, 0),
		dry,
		skipped("k1", "checkout", "max_disrupted: 1 of 3 members disrupted, limit 1 = 1", 1*time.Minute),
		skipped("k2", "checkout", "max_disrupted: 2 of 3 members disrupted, limit 1 = 1", 2*time.Minute),
		skipped("k3", "search", "halted by guardian: alert CheckoutDown", 3*time.Minute),
		skipped("k4", "checkout", "window closed", 4*time.Minute),
		skipped("k5", "checkout", "max_disrupted: 1 of 3 members disrupted, limit 1 = 1", 5*time.Minute),
		// Outside the span: never counted.
		exp("old", "checkout", policies.FaultKill, ledger.Failed, -3*time.Hour, time.Hour, 0),
	}
}

func journal() []ledger.ControlChange {
	return []ledger.ControlChange{
		{At: t0.Add(-4 * time.Hour), From: ledger.Armed, To: ledger.Halted, Actor: "bob", Source: "cli", Reason: "too early"},
		{At: t0.Add(30 * time.Minute), From: ledger.Armed, To: ledger.Paused, Actor: "ana", Source: "api", Reason: "deploy"},
		{At: t0.Add(35 * time.Minute), From: ledger.Paused, To: ledger.Halted, Actor: "guardian", Source: "alertmanager/main", Reason: "alert CheckoutDown firing"},
		{At: t0.Add(45 * time.Minute), From: ledger.Halted, To: ledger.Armed, Actor: "ana", Source: "api", Reason: "clear"},
		{At: t0.Add(70 * time.Minute), Policy: "search", From: ledger.Armed, To: ledger.Halted, Actor: "guardian", Source: "slo/search-availability", Reason: "burn 20x"},
	}
}

func TestMakeFiguresMatchTheHistory(t *testing.T) {
	opts := Options{From: t0.Add(-time.Hour), To: t0.Add(2 * time.Hour)}
	r, err := Make(history(), journal(), opts)
	require.NoError(t, err)

	require.Equal(t, Counts{Run: 7, Passed: 5, Failed: 1, Restored: 1, Skipped: 5, DryRuns: 1, Manual: 1}, r.Totals)
	require.Len(t, r.Policies, 2)
	co := r.Policies[0]
	require.Equal(t, "checkout", co.Name)
	require.Equal(t, []string{"kill"}, co.Kinds)
	require.Equal(t, Counts{Run: 6, Passed: 4, Failed: 1, Restored: 1, Skipped: 4, Manual: 1}, co.Counts)
	require.Equal(t, []Failure{{ID: "f1", At: t0.Add(45 * time.Minute), Member: "api-f1", Reason: "not recovered within 1m: steady state 0.2 not in [-inf, 0.01]"}}, co.Failures)
	// To healthy: 2, 4, 10, 20 (failed, but the member came back), 3.
	require.Equal(t, []float64{2, 4, 10, 20, 3}, co.Samples, "in time order")
	require.Equal(t, Stats{N: 5, P50: 4, P95: 20, Max: 20}, co.ToHealthy)
	require.Equal(t, Stats{N: 4, P50: 8, P95: 30, Max: 30}, co.ToSteady)
	require.Equal(t, []Reason{
		{Reason: "max_disrupted", Count: 3, Example: "max_disrupted: 1 of 3 members disrupted, limit 1 = 1"},
		{Reason: "window closed", Count: 1},
	}, co.SkipReasons)

	se := r.Policies[1]
	require.Equal(t, Counts{Run: 1, Passed: 1, Skipped: 1, DryRuns: 1}, se.Counts)
	require.Equal(t, Stats{N: 1, P50: 30, P95: 30, Max: 30}, se.ToHealthy, "the dry run is no measurement")
	require.Equal(t, Stats{}, se.ToSteady)

	require.Equal(t, []KindRecovery{
		{Kind: "kill", ToHealthy: Stats{N: 5, P50: 4, P95: 20, Max: 20}, ToSteady: Stats{N: 4, P50: 8, P95: 30, Max: 30}, NotRecovered: 1},
		{Kind: "pause", ToHealthy: Stats{N: 1, P50: 30, P95: 30, Max: 30}},
	}, r.Recovery)

	require.Equal(t, []Halt{
		{At: t0.Add(35 * time.Minute), Actor: "guardian", Source: "alertmanager/main", Reason: "alert CheckoutDown firing", Seconds: 600},
		{At: t0.Add(70 * time.Minute), Policy: "search", Actor: "guardian", Source: "slo/search-availability", Reason: "burn 20x", Seconds: 50 * 60, Ongoing: true},
	}, r.Halts)
	require.Equal(t, []Reason{
		{Reason: "alertmanager/main", Count: 1, Example: "alert CheckoutDown firing"},
		{Reason: "slo/search-availability", Count: 1, Example: "burn 20x"},
	}, r.HaltSources)
	require.Equal(t, "max_disrupted", r.SkipReasons[0].Reason)
	require.Equal(t, 3, r.SkipReasons[0].Count)

	// Three hours in 5-minute buckets; every experiment and halt lands in
	// exactly one.
	require.Equal(t, 300.0, r.Timeline.Step)
	require.Len(t, r.Timeline.Buckets, 36)
	var sum Bucket
	for _, b := range r.Timeline.Buckets {
		sum.Passed += b.Passed
		sum.Failed += b.Failed
		sum.Other += b.Other
		sum.Skipped += b.Skipped
		sum.Halts += b.Halts
	}
	require.Equal(t, Bucket{Passed: 5, Failed: 1, Other: 1, Skipped: 5, Halts: 2}, sum)
	require.Equal(t, 1, r.Timeline.Buckets[12+9].Failed, "f1 finished at 09:45")
}

func TestMakeFilters(t *testing.T) {
	cases := []struct {
		name      string
		opts      Options
		run       int
		halts     int
		policies  []string
		wantError string
	}{
		{name: "one policy keeps its own and global halts", opts: Options{From: t0.Add(-time.Hour), To: t0.Add(2 * time.Hour), Policy: "checkout"}, run: 6, halts: 1, policies: []string{"checkout"}},
		{name: "other policy", opts: Options{From: t0.Add(-time.Hour), To: t0.Add(2 * time.Hour), Policy: "search"}, run: 1, halts: 2, policies: []string{"search"}},
		{name: "everything kept", opts: Options{To: t0.Add(2 * time.Hour)}, run: 8, halts: 3, policies: []string{"checkout", "search"}},
		{name: "a span before anything", opts: Options{From: t0.Add(-48 * time.Hour), To: t0.Add(-47 * time.Hour)}, policies: []string{}},
		{name: "no end", opts: Options{From: t0}, wantError: "To) is required"},
		{name: "empty span", opts: Options{From: t0, To: t0}, wantError: "span is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Make(history(), journal(), tc.opts)
			if tc.wantError != "" {
				require.ErrorContains(t, err, tc.wantError)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.run, r.Totals.Run)
			require.Len(t, r.Halts, tc.halts)
			names := []string{}
			for _, p := range r.Policies {
				names = append(names, p.Name)
			}
			require.Equal(t, tc.policies, names)
			require.NotEmpty(t, r.Timeline.Buckets)
		})
	}
}

func TestStatsNearestRank(t *testing.T) {
	cases := []struct {
		in   []float64
		want Stats
	}{
		{nil, Stats{}},
		{[]float64{7}, Stats{N: 1, P50: 7, P95: 7, Max: 7}},
		{[]float64{4, 1, 3, 2}, Stats{N: 4, P50: 2, P95: 4, Max: 4}},
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}, Stats{N: 20, P50: 10, P95: 19, Max: 20}},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, stats(tc.in), "%v", tc.in)
	}
}

func TestWriteHTMLIsSelfContainedAndWellFormed(t *testing.T) {
	r, err := Make(history(), journal(), Options{From: t0.Add(-time.Hour), To: t0.Add(2 * time.Hour)})
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, WriteHTML(&b, r))
	page := b.String()
	for _, want := range []string{
		"<svg", "recovery-time distribution per policy", "experiments and halts over time",
		"alert CheckoutDown firing", "not recovered within 1m", "max_disrupted", "checkout", "4.0s / 20.0s / 20.0s (n=5)",
	} {
		require.Contains(t, page, want)
	}
	for _, banned := range []string{"<script", "http://", "https://", "<link", "@import", "src="} {
		require.NotContains(t, strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, ""), banned, "nothing external")
	}
	// Each SVG parses as XML on its own.
	for _, svg := range strings.Split(page, "<svg")[1:] {
		doc := "<svg" + svg[:strings.Index(svg, "</svg>")] + "</svg>"
		require.NoError(t, xml.Unmarshal([]byte(doc), new(struct{})), doc)
	}

	// A report of nothing still renders.
	empty, err := Make(nil, nil, Options{From: t0, To: t0.Add(time.Hour)})
	require.NoError(t, err)
	b.Reset()
	require.NoError(t, WriteHTML(&b, empty))
	require.Contains(t, b.String(), "No records in this span.")
}

func TestSecs(t *testing.T) {
	for in, want := range map[float64]string{0: "0s", 0.25: "250ms", 12.34: "12.3s", 245: "4m05s", 7800: "2h10m"} {
		require.Equal(t, want, Secs(in))
	}
}

func TestHaltsCountTransitionsIntoHaltedOnly(t *testing.T) {
	changes := []ledger.ControlChange{
		{At: t0, From: ledger.Armed, To: ledger.Halted, Actor: "guardian", Source: "alertmanager/main", Reason: "alert A"},
		// Halted again by another wire while halted: the same halt.
		{At: t0.Add(time.Minute), From: ledger.Halted, To: ledger.Halted, Actor: "guardian", Source: "slo/x", Reason: "burn"},
		{At: t0.Add(2 * time.Minute), From: ledger.Halted, To: ledger.Armed, Actor: "ana", Source: "cli", Reason: "clear"},
		// A policy halt ends when that policy's entry goes, not the global one.
		{At: t0.Add(3 * time.Minute), Policy: "p", From: ledger.Armed, To: ledger.Halted, Actor: "guardian", Source: "slo/p", Reason: "burn p"},
		{At: t0.Add(4 * time.Minute), From: ledger.Armed, To: ledger.Paused, Actor: "ana", Source: "cli", Reason: "deploy"},
		{At: t0.Add(5 * time.Minute), Policy: "p", From: ledger.Halted, To: ledger.Armed},
	}
	r, err := Make(nil, changes, Options{From: t0, To: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, []Halt{
		{At: t0, Actor: "guardian", Source: "alertmanager/main", Reason: "alert A", Seconds: 120},
		{At: t0.Add(3 * time.Minute), Policy: "p", Actor: "guardian", Source: "slo/p", Reason: "burn p", Seconds: 120},
	}, r.Halts)
}
