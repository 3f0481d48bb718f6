//go:build integration

package integration

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
)

// BenchmarkHaltLatency measures what a halt costs end to end, for fleets
// of N = 10, 50 and 100 members that the scheduler has paused: from the
// moment Alertmanager accepted an alert (POST /api/v2/alerts returned) to
// every member running again, through the poll path (poll_interval 1s)
// and the webhook path (Alertmanager delivers to /v1/alertmanager with
// group_wait 0s; the poll is ten minutes away). Each path runs
// TUMULT_BENCH_RUNS halts (default 5) per fleet size (TUMULT_BENCH_SIZES,
// default "10,50,100") and reports p50 and p99 (nearest rank: with 5 runs
// the p99 is the slowest run) of
//
//	detect  = the halt's "since" in the status − the alert's acceptance
//	restore = the last member's unpause (Docker's event time) − "since"
//	total   = the last member's unpause − the alert's acceptance
//	docker  = Docker alone unpausing the fleet, 32 at once: the floor
//	          under restore, so that restore − docker is tumult's cost
//
// and prints them as a table next to the targets, which it does not
// assert: the webhook path detects within 50 ms, the poll path within
// poll_interval + 100 ms, and 100 members are restored within 1 s of
// detection.
//
// The members are paused by the scheduler itself, as in production: ten
// policies over the fleet (pause for an hour, mean gap 1s, max_disrupted
// "100%", min_healthy 0) until all N are paused; after each halt the alert
// is resolved, the wire clears, and the benchmark resumes tumult.
//
//	go test -tags integration -run '^$' -bench HaltLatency -benchtime 1x ./integration/
func BenchmarkHaltLatency(b *testing.B) {
	cli := harness.RequireDocker(b)
	runs := 5
	if s := os.Getenv("TUMULT_BENCH_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			b.Fatalf("TUMULT_BENCH_RUNS=%q: want a number from 1 to 100", s)
		}
		runs = n
	}
	sizes := []int{10, 50, 100}
	if s := os.Getenv("TUMULT_BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || n > 200 {
				b.Fatalf("TUMULT_BENCH_SIZES=%q: want fleet sizes from 1 to 200, comma-separated", s)
			}
			sizes = append(sizes, n)
		}
	}
	var rows []gdHaltRow
	for _, n := range sizes {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			ctx := gdCtx(b, 30*time.Minute)
			run := harness.Unique("gd-bench")
			began := time.Now()
			members := harness.StartFleet(ctx, b, cli, harness.FleetOptions{
				Prefix: run, N: n, Parallel: 8,
				Labels: map[string]string{runLabel: run, "tumult.enable": "true"},
			})
			b.Logf("started %d containers in %s", n, time.Since(began).Round(time.Millisecond))
			floor := gdDockerFloor(ctx, b, cli, members, runs)
			for _, path := range []string{gdPathPoll, gdPathWebhook} {
				b.Run(path, func(b *testing.B) {
					var samples []gdHaltSample
					for range b.N {
						samples = append(samples, gdHaltRuns(ctx, b, cli, run, n, path, runs)...)
					}
					row := gdSummarise(path, n, samples)
					row.floor = floor
					rows = append(rows, row)
					b.ReportMetric(gdMS(row.detect.p50), "detect-p50-ms")
					b.ReportMetric(gdMS(row.detect.p99), "detect-p99-ms")
					b.ReportMetric(gdMS(row.restore.p50), "restore-p50-ms")
					b.ReportMetric(gdMS(row.restore.p99), "restore-p99-ms")
					b.ReportMetric(gdMS(row.total.p50), "total-p50-ms")
					b.ReportMetric(gdMS(row.total.p99), "total-p99-ms")
				})
			}
		})
	}
	if len(rows) > 0 {
		gdPrintTable(os.Stdout, rows)
	}
}

const (
	gdPathPoll    = "poll"
	gdPathWebhook = "webhook"
	// gdBenchPolicies policies share the fleet, so that the scheduler
	// pauses it at about gdBenchPolicies members a second.
	gdBenchPolicies = 10
	// gdBenchPoll is the poll path's poll_interval.
	gdBenchPoll = time.Second
)

// gdHaltSample is one measured halt.
type gdHaltSample struct {
	detect, restore, total time.Duration
}

type gdQuantiles struct{ p50, p99 time.Duration }

type gdHaltRow struct {
	path                   string
	n, runs                int
	detect, restore, total gdQuantiles
	// floor is what Docker alone takes to unpause the fleet.
	floor gdQuantiles
}

// gdFloorWorkers is the engine's default restore parallelism.
const gdFloorWorkers = 32

// gdDockerFloor measures the engine's own floor under the restore
// figures: runs times, pause every member through the Docker API, then
// unpause them all with gdFloorWorkers at once and time that. No tumult
// code runs; restore − floor is what tumult adds.
func gdDockerFloor(ctx context.Context, b *testing.B, cli *client.Client, members []harness.Container, runs int) gdQuantiles {
	b.Helper()
	each := func(f func(ctx context.Context, id string) error) time.Duration {
		began := time.Now()
		require.NoError(b, forEach(members, gdFloorWorkers, func(m harness.Container) error { return f(ctx, m.ID) }))
		return time.Since(began)
	}
	var ds []time.Duration
	for range runs {
		each(cli.ContainerPause)
		ds = append(ds, each(cli.ContainerUnpause))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := gdQuantiles{p50: gdRank(ds, 0.50), p99: gdRank(ds, 0.99)}
	b.Logf("docker alone unpauses %d members (%d at once) in p50 %s, p99 %s", len(members), gdFloorWorkers,
		q.p50.Round(time.Millisecond), q.p99.Round(time.Millisecond))
	return q
}

// gdHaltRuns starts an Alertmanager and an in-process agent wired for the
// path, and measures runs halts of the fleet labelled run.
func gdHaltRuns(ctx context.Context, b *testing.B, cli *client.Client, run string, n int, path string, runs int) []gdHaltSample {
	b.Helper()
	l := harness.LoopbackListener(b)
	amOpts := harness.AlertmanagerOptions{}
	poll, stale := gdBenchPoll, "15s"
	if path == gdPathWebhook {
		// group_by ['...']: every alert is a group of its own, so each
		// run's alert is a new group and goes out after group_wait 0s.
		amOpts.Config = harness.WebhookConfig("http://"+l.Addr().String()+"/v1/alertmanager?alertmanager=bench", "['...']", "")
		// Polled once at start, then not within the benchmark.
		poll, stale = 10*time.Minute, "30m"
	}
	am := harness.StartAlertmanager(b, amOpts)
	defer am.Stop()
	cfg := fmt.Sprintf(`
docker "local" {}
alertmanager "bench" {
  address       = %q
  poll_interval = %q
}
guardian {
  stale_after = %q
  halt_on {
    alert {
      matchers = %s
    }
  }
}
`, am.URL(), poll.String(), stale, gdList(`severity="page"`, fmt.Sprintf("bench_run=%q", run)))
	fleet := map[string]string{runLabel: run}
	var ps []gdPolicy
	for i := 1; i <= gdBenchPolicies; i++ {
		ps = append(ps, gdPolicy{Name: fmt.Sprintf("bench-%d", i), Labels: fleet, Fault: `"pause" { duration = "1h" }`})
	}
	a := harness.StartInProc(ctx, b, harness.InProcOptions{ConfigHCL: cfg, Policies: gdPolicies(ps...), Listener: l, LogLevel: "info"})
	defer func() { require.NoError(b, a.Stop()) }()

	var out []gdHaltSample
	for r := range runs {
		if r > 0 {
			gdBenchResume(ctx, b, a)
		}
		began := time.Now()
		gdWait(b, 5*time.Minute, fmt.Sprintf("all %d members paused by the scheduler", n), func() (bool, string) {
			s, err := gdStates(ctx, cli, fleet)
			if err != nil {
				return false, err.Error()
			}
			return gdCount(s, "paused") == n, fmt.Sprintf("%d of %d paused", gdCount(s, "paused"), n)
		})
		pausedIn := time.Since(began)

		evctx, stopEvents := context.WithCancel(ctx)
		args := filters.NewArgs(
			filters.Arg("type", string(events.ContainerEventType)),
			filters.Arg("event", string(events.ActionUnPause)),
			filters.Arg("label", runLabel+"="+run),
		)
		since := time.Now()
		msgs, errs := cli.Events(evctx, events.ListOptions{Filters: args, Since: gdDockerTime(since)})

		labels := map[string]string{"alertname": "TumultBenchPage", "severity": "page", "bench_run": run, "path": path, "seq": strconv.Itoa(r)}
		startsAt := time.Now()
		am.PostAlert(labels, startsAt, time.Time{})
		posted := time.Now()

		unpaused := map[string]bool{}
		var last time.Time
		timeout := time.After(2 * time.Minute)
		for len(unpaused) < n {
			select {
			case m := <-msgs:
				if m.Action != events.ActionUnPause || unpaused[m.Actor.ID] {
					continue
				}
				unpaused[m.Actor.ID] = true
				if at := time.Unix(0, m.TimeNano); at.After(last) {
					last = at
				}
			case err := <-errs:
				stopEvents()
				b.Fatalf("docker events: %v", err)
			case <-timeout:
				stopEvents()
				b.Fatalf("run %d: %d of %d members unpaused within 2m of the alert", r, len(unpaused), n)
			}
		}
		stopEvents()

		st, err := a.Client.Status(ctx)
		require.NoError(b, err)
		require.Equal(b, ledger.Halted, st.State, "halted once every member is back: %s", st.Reason)
		require.Equal(b, "alertmanager/bench", st.Source)
		if path == gdPathWebhook {
			require.Contains(b, st.Reason, "(webhook)")
		}
		// Docker sends the unpause event before its container list shows
		// the change, so the list may lag by a moment.
		gdWait(b, 10*time.Second, "every member listed as running", func() (bool, string) {
			s, err := gdStates(ctx, cli, fleet)
			if err != nil {
				return false, err.Error()
			}
			return gdCount(s, "running") == n, fmt.Sprintf("%d of %d running", gdCount(s, "running"), n)
		})
		out = append(out, gdHaltSample{detect: st.Since.Sub(posted), restore: last.Sub(st.Since), total: last.Sub(posted)})
		b.Logf("%s N=%d run %d: paused in %s; detect %s, restore %s, total %s", path, n, r+1,
			pausedIn.Round(time.Millisecond), st.Since.Sub(posted).Round(100*time.Microsecond),
			last.Sub(st.Since).Round(100*time.Microsecond), last.Sub(posted).Round(100*time.Microsecond))

		am.PostAlert(labels, startsAt, time.Now())
	}
	return out
}

// gdBenchResume waits until the alert wire is clear again (the resolved
// alert polled, or delivered by the webhook), then resumes tumult.
func gdBenchResume(ctx context.Context, b *testing.B, a *harness.InProc) {
	b.Helper()
	gdWait(b, time.Minute, "the alert wire clear after the alert was resolved", func() (bool, string) {
		st, err := a.Client.Status(ctx)
		if err != nil {
			return false, err.Error()
		}
		src, ok := gdSource(st, "alertmanager/bench")
		return ok && src.Up && !src.Tripped, fmt.Sprintf("%+v", src)
	})
	_, err := a.Client.Resume(ctx, api.ResumeRequest{Reason: "benchmark: next run"})
	require.NoError(b, err)
}

// gdDockerTime renders t as the events API's since: Unix seconds with
// nanoseconds.
func gdDockerTime(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

func gdSummarise(path string, n int, ss []gdHaltSample) gdHaltRow {
	pick := func(f func(gdHaltSample) time.Duration) gdQuantiles {
		ds := make([]time.Duration, len(ss))
		for i, s := range ss {
			ds[i] = f(s)
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return gdQuantiles{p50: gdRank(ds, 0.50), p99: gdRank(ds, 0.99)}
	}
	return gdHaltRow{
		path: path, n: n, runs: len(ss),
		detect:  pick(func(s gdHaltSample) time.Duration { return s.detect }),
		restore: pick(func(s gdHaltSample) time.Duration { return s.restore }),
		total:   pick(func(s gdHaltSample) time.Duration { return s.total }),
	}
}

// gdRank is the nearest-rank quantile q of sorted ds.
func gdRank(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func gdMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func gdPrintTable(w io.Writer, rows []gdHaltRow) {
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].path != rows[j].path {
			return rows[i].path > rows[j].path // webhook before poll
		}
		return rows[i].n < rows[j].n
	})
	f := func(d time.Duration) string { return fmt.Sprintf("%.1f", gdMS(d)) }
	var b strings.Builder
	b.WriteString("\nHalt latency: alert accepted by Alertmanager → every paused member running again (ms; p99 is nearest rank)\n")
	fmt.Fprintf(&b, "docker p50: the engine alone unpausing the whole fleet, %d at once, no tumult code (the floor under restore)\n", gdFloorWorkers)
	fmt.Fprintf(&b, "%-8s %4s %4s | %10s %10s | %11s %11s | %9s %9s | %11s | %s\n",
		"path", "N", "runs", "detect p50", "detect p99", "restore p50", "restore p99", "total p50", "total p99", "docker p50", "targets")
	for _, r := range rows {
		target := "detect ≤ 50 ms"
		if r.path == gdPathPoll {
			target = fmt.Sprintf("detect ≤ %s (poll_interval + 100 ms)", (gdBenchPoll + 100*time.Millisecond).String())
		}
		if r.n == 100 {
			target += "; restore ≤ 1 s"
		}
		fmt.Fprintf(&b, "%-8s %4d %4d | %10s %10s | %11s %11s | %9s %9s | %11s | %s\n", r.path, r.n, r.runs,
			f(r.detect.p50), f(r.detect.p99), f(r.restore.p50), f(r.restore.p99), f(r.total.p50), f(r.total.p99), f(r.floor.p50), target)
	}
	fmt.Fprint(w, b.String())
}
