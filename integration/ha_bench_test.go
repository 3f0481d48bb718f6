//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
)

// BenchmarkHAFailover measures what a leader's crash costs: two real
// agents (processes of the built binary) share one ledger on a real
// Consul, with the consul block's defaults (session_ttl 10s, liveness_ttl
// 1.5s, lock_delay 2s); once the leader holds a pause and a stop fault,
// it is killed with SIGKILL, and the benchmark times, from the kill,
//
//   - takeover: the follower's /v1/status says it leads;
//   - restored: the last fault the dead leader left is restored and its
//     record finished by the new leader (the records' Finished);
//   - injecting: the new leader injected a fault it decided after the kill
//     (the first such record's Injected).
//
// Each failover runs on a fresh Consul prefix with fresh agents; there
// are TUMULT_BENCH_HA_RUNS of them (default 5), whatever -benchtime says.
// It reports the median and the maximum of each, in seconds, next to the
// goal: the dead leader's faults restored within 5s.
//
//	go test -tags integration -run '^$' -bench HAFailover -benchtime 1x ./integration/
func BenchmarkHAFailover(b *testing.B) {
	runs := 5
	if s := os.Getenv("TUMULT_BENCH_HA_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 50 {
			b.Fatalf("TUMULT_BENCH_HA_RUNS=%q: want a number from 1 to 50", s)
		}
		runs = n
	}
	cli := harness.RequireDocker(b)
	quiet := haQuiet{b}
	c := harness.StartConsul(quiet)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	run := harness.Unique("ha-bench")
	pLabels := map[string]string{runLabel: run, "app": "p", "tumult.enable": "true"}
	sLabels := map[string]string{runLabel: run, "app": "s", "tumult.enable": "true"}
	pFleet := harness.StartFleet(ctx, b, cli, harness.FleetOptions{Prefix: run + "-p", N: 3, Labels: pLabels})
	sFleet := harness.StartFleet(ctx, b, cli, harness.FleetOptions{Prefix: run + "-s", N: 3, Labels: sLabels})
	ids := haMemberIDs(pFleet, sFleet)
	policies := haHeldFaults("hab", pLabels, sLabels)

	var samples []haFailover
	for b.Loop() {
		if len(samples) >= runs {
			continue // the runs are not per iteration: see above
		}
		for len(samples) < runs {
			haBenchFailover(ctx, b, quiet, cli, c, run, ids, policies, &samples)
		}
	}
	haReportFailover(b, samples)
}

// haBenchGoal is what a crashed leader's faults may take to be restored.
const haBenchGoal = 5 * time.Second

// haBenchFailover runs one failover on a fresh prefix and appends it to
// samples.
func haBenchFailover(ctx context.Context, b *testing.B, quiet haQuiet, cli *client.Client, c *harness.Consul, run string, ids []string, policies string, samples *[]haFailover) {
	{
		prefix := fmt.Sprintf("%s-%d/", run, len(*samples)+1)
		agents := haStart(ctx, quiet, c, prefix, 2, policies, "")
		leader, others := haWaitLeader(ctx, b, 30*time.Second, agents...)
		follower := others[0]
		held := haWaitHeld(ctx, b, cli, follower.Client, 45*time.Second, "hab-pause", "hab-stop")
		m, _ := haKillLeader(ctx, b, leader, follower, held, "hab-pause", "hab-stop")
		*samples = append(*samples, m)
		n := len(*samples)
		b.Logf("run %d: takeover %s, recovering %s, orphaned faults restored %s (slowest restore %s), injecting again %s",
			n, m.Takeover.Round(time.Millisecond), m.Recovering.Round(time.Millisecond), m.Restored.Round(time.Millisecond),
			m.SlowestRestore.Round(time.Millisecond), m.Injecting.Round(time.Millisecond))

		// The new leader restores what it holds on SIGTERM: the fleet is
		// whole again for the next run.
		if _, err := follower.Stop(30 * time.Second); err != nil {
			b.Fatalf("stop the new leader: %v", err)
		}
		if ok, why := haAllUp(ctx, cli, ids); !ok {
			b.Fatalf("after run %d: %s", n, why)
		}
		store := haOpenLedger(ctx, b, c, prefix)
		if active, err := store.Active(ctx); err != nil || len(active) > 0 {
			b.Fatalf("after run %d: %d faults still active (%v)", n, len(active), err)
		}
		if all, err := store.History(ctx, ledger.HistoryQuery{}); err == nil {
			haCheckRecords(b, all)
		} else {
			b.Fatalf("read the history of run %d: %v", n, err)
		}
	}
}

// haReportFailover reports and prints p50 and max of the samples.
func haReportFailover(b *testing.B, samples []haFailover) {

	stat := func(get func(haFailover) time.Duration) (p50, most time.Duration) {
		ds := make([]time.Duration, len(samples))
		for i, s := range samples {
			ds[i] = get(s)
		}
		slices.Sort(ds)
		if n := len(ds); n%2 == 1 {
			p50 = ds[n/2]
		} else {
			p50 = (ds[n/2-1] + ds[n/2]) / 2
		}
		return p50, ds[len(ds)-1]
	}
	tp50, tmax := stat(func(m haFailover) time.Duration { return m.Takeover })
	rp50, rmax := stat(func(m haFailover) time.Duration { return m.Restored })
	ip50, imax := stat(func(m haFailover) time.Duration { return m.Injecting })
	cp50, cmax := stat(func(m haFailover) time.Duration { return m.Recovering })
	sp50, smax := stat(func(m haFailover) time.Duration { return m.SlowestRestore })
	b.ReportMetric(tp50.Seconds(), "takeover-p50-s")
	b.ReportMetric(tmax.Seconds(), "takeover-max-s")
	b.ReportMetric(rp50.Seconds(), "restored-p50-s")
	b.ReportMetric(rmax.Seconds(), "restored-max-s")
	b.ReportMetric(cp50.Seconds(), "recovering-p50-s")
	b.ReportMetric(cmax.Seconds(), "recovering-max-s")
	b.ReportMetric(ip50.Seconds(), "injecting-p50-s")
	b.ReportMetric(imax.Seconds(), "injecting-max-s")
	s := func(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }
	verdict := "met"
	if rmax > haBenchGoal {
		verdict = "NOT met"
	}
	// Printed, not logged: go test cuts a benchmark's log after ten lines.
	fmt.Printf("HA failover after kill -9 of the leader, defaults (session_ttl %s, liveness_ttl %s, lock_delay %s), %d runs:\n"+
		"  %-40s %8s %8s %8s\n  %-40s %8s %8s %8s\n  %-40s %8s %8s %8s\n  %-40s %8s %8s %8s\n  %-40s %8s %8s %8s\n  %-40s %8s %8s %8s\n"+
		"  goal: the dead leader's faults restored within %s at every run: %s\n",
		config.DefaultSessionTTL, haTTL, haLockDelay, len(samples),
		"from the kill to", "p50", "max", "goal",
		"follower leads (status)", s(tp50), s(tmax), "",
		"follower restoring (first restore begun)", s(cp50), s(cmax), "",
		"dead leader's faults restored", s(rp50), s(rmax), s(haBenchGoal),
		"  of which the slowest restore (Docker)", s(sp50), s(smax), "",
		"follower injecting again", s(ip50), s(imax), "",
		s(haBenchGoal), verdict)
}

// haQuiet keeps the harness's progress lines ("consul ready", "agent
// healthy") out of a benchmark's output, which go test cuts after ten
// lines, so that the result table shows. Once the benchmark has failed
// they pass again, so that the agents' and Consul's logs are printed.
type haQuiet struct{ testing.TB }

func (q haQuiet) Logf(format string, args ...any) {
	if q.Failed() {
		q.TB.Helper()
		q.TB.Logf(format, args...)
	}
}
