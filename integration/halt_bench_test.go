//go:build integration

package integration

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/bolt"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/scheduler"
	"github.com/inferensys/tumult/targets"
	"github.com/inferensys/tumult/targets/docker"
)

// BenchmarkHaltRestore measures tumult's restore path against Docker's
// own floor (both to the last member's unpause or start event), for fleets of N = 10, 50 and 100 members (TUMULT_BENCH_SIZES)
// held down by pause, stop and kill faults, each measured
// TUMULT_BENCH_RUNS times (default 5), tumult and floor taking turns so
// that both see the same machine:
//
//	tumult = a halt through the controller (recorded in the bolt
//	         ledger), every record restored from the ledger through the
//	         Docker driver: from the Halt call to the last member running
//	         again (Docker's unpause or start event)
//	done   = the same halt until every record is finished in the ledger
//	         (the Halt call returns)
//	floor  = Docker alone undoing the same faults (unpause, or start),
//	         32 at once, no tumult code
//
// It prints the p50 of each, and their ratio next to the target (≤ 1.15
// for paused members; stopped and killed members are restarted by the
// engine, which dominates).
//
//	go test -tags integration -run '^$' -bench HaltRestore -benchtime 1x ./integration/
func BenchmarkHaltRestore(b *testing.B) {
	cli := harness.RequireDocker(b)
	runs := hrEnvInt(b, "TUMULT_BENCH_RUNS", 5, 1, 100)
	sizes := hrSizes(b)
	var rows []hrRow
	for _, n := range sizes {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			ctx := gdCtx(b, 30*time.Minute)
			run := harness.Unique("hr-bench")
			members := harness.StartFleet(ctx, b, cli, harness.FleetOptions{
				Prefix: run, N: n, Parallel: 8,
				Labels: map[string]string{runLabel: run, "tumult.enable": "true"},
			})
			rig := newHRRig(b, members, run)
			for _, kind := range hrKinds(b) {
				b.Run(string(kind), func(b *testing.B) {
					var tumult, done, floor []time.Duration
					for range b.N {
						for range runs {
							floor = append(floor, hrFloor(ctx, b, cli, members, run, kind))
							up, all := rig.halt(ctx, b, cli, kind)
							tumult, done = append(tumult, up), append(done, all)
						}
					}
					row := hrRow{kind: kind, n: n, runs: len(tumult), tumult: hrP50(tumult), done: hrP50(done), floor: hrP50(floor)}
					rows = append(rows, row)
					b.ReportMetric(gdMS(row.tumult), "tumult-p50-ms")
					b.ReportMetric(gdMS(row.floor), "floor-p50-ms")
					b.ReportMetric(row.ratio(), "ratio")
				})
			}
		})
	}
	if len(rows) > 0 {
		hrPrint(os.Stdout, rows)
	}
}

// hrRig is tumult's restore path without the rest of the daemon: the
// bolt ledger, the scheduler's engine over the Docker driver, and the
// guardian's controller, as the agent wires them.
type hrRig struct {
	run     string // the fleet's runLabel value
	store   *bolt.Store
	engine  *scheduler.Engine
	control *guardian.Controller
	members []targets.Member
}

func newHRRig(b *testing.B, fleet []harness.Container, run string) *hrRig {
	b.Helper()
	store, err := bolt.Open(filepath.Join(b.TempDir(), "ledger.db"), bolt.Options{})
	require.NoError(b, err)
	b.Cleanup(func() { _ = store.Close() })
	tg, err := docker.New(docker.Options{Name: "local", Logger: hclog.NewNullLogger()})
	require.NoError(b, err)
	b.Cleanup(func() { _ = tg.Close() })
	// The controller restores through the engine, and the engine pauses
	// failed policies through the controller: wire them as the agent does.
	control := &hrControl{}
	engine, err := scheduler.New(scheduler.Options{Ledger: store, Targets: hrTargets{tg}, Control: control})
	require.NoError(b, err)
	b.Cleanup(engine.Close)
	control.c = guardian.NewController(guardian.ControllerOptions{Ledger: store, Restorer: engine})
	r := &hrRig{run: run, store: store, engine: engine, control: control.c}
	for _, c := range fleet {
		r.members = append(r.members, targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: c.ID, Name: c.Name})
	}
	return r
}

type hrTargets struct{ t targets.Target }

// hrControl is the scheduler's view of the controller.
type hrControl struct{ c *guardian.Controller }

func (h *hrControl) PauseFailed(ctx context.Context, policy, reason string) error {
	return h.c.PauseFailed(ctx, policy, reason)
}

func (h hrTargets) Target(policies.Driver, string) (targets.Target, error) { return h.t, nil }

// halt puts every member down with kind through Docker, writes the
// records a scheduler would have written, and times a halt: until the
// last member runs again, and until the Halt call returns.
func (r *hrRig) halt(ctx context.Context, b *testing.B, cli *client.Client, kind policies.FaultKind) (up, done time.Duration) {
	b.Helper()
	spec := policies.FaultSpec{Kind: kind, Duration: time.Hour, RestoreAfter: time.Hour, Signal: "SIGKILL", Timeout: time.Second}
	require.NoError(b, forEach(r.members, gdFloorWorkers, func(m targets.Member) error { return hrDown(ctx, cli, m.ID, kind) }))
	now := time.Now()
	for _, m := range r.members {
		require.NoError(b, r.store.Begin(ctx, ledger.Record{ID: ledger.NewID(), Policy: "bench", Member: m, Fault: spec,
			Phase: ledger.Injected, Injected: now, RestoreBy: now.Add(time.Hour)}))
	}
	began := time.Now()
	wait := hrWatchUp(ctx, b, cli, r.run, kind, len(r.members), began)
	_, err := r.control.Halt(ctx, guardian.Change{Actor: "bench", Source: "cli", Reason: "benchmark"})
	done = time.Since(began)
	require.NoError(b, err)
	up = wait().Sub(began)
	active, err := r.store.Active(ctx)
	require.NoError(b, err)
	require.Empty(b, active, "every record finished when the halt returns")
	_, err = r.control.Resume(ctx, guardian.Change{Actor: "bench", Source: "cli", Reason: "next run"})
	require.NoError(b, err)
	return up, done
}

// hrFloor puts every member down with kind and times Docker alone
// bringing them back, gdFloorWorkers at once, to the last member's
// unpause or start event: the same end as tumult's figure.
func hrFloor(ctx context.Context, b *testing.B, cli *client.Client, members []harness.Container, run string, kind policies.FaultKind) time.Duration {
	b.Helper()
	require.NoError(b, forEach(members, gdFloorWorkers, func(m harness.Container) error { return hrDown(ctx, cli, m.ID, kind) }))
	began := time.Now()
	wait := hrWatchUp(ctx, b, cli, run, kind, len(members), began)
	require.NoError(b, forEach(members, gdFloorWorkers, func(m harness.Container) error {
		if kind == policies.FaultPause {
			return cli.ContainerUnpause(ctx, m.ID)
		}
		return cli.ContainerStart(ctx, m.ID, container.StartOptions{})
	}))
	return wait().Sub(began)
}

// hrWatchUp follows the unpause (or start) events of the run's members
// from since; the function it returns waits for n of them and returns
// the last one's time.
func hrWatchUp(ctx context.Context, b *testing.B, cli *client.Client, run string, kind policies.FaultKind, n int, since time.Time) func() time.Time {
	action := events.ActionStart
	if kind == policies.FaultPause {
		action = events.ActionUnPause
	}
	evctx, stop := context.WithCancel(ctx)
	msgs, errs := cli.Events(evctx, events.ListOptions{Since: gdDockerTime(since), Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)), filters.Arg("event", string(action)),
		filters.Arg("label", runLabel+"="+run))})
	return func() time.Time {
		defer stop()
		seen := map[string]bool{}
		var last time.Time
		for len(seen) < n {
			select {
			case m := <-msgs:
				seen[m.Actor.ID] = true
				if at := time.Unix(0, m.TimeNano); at.After(last) {
					last = at
				}
			case err := <-errs:
				b.Fatalf("docker events: %v", err)
			case <-time.After(time.Minute):
				b.Fatalf("%d of %d %s events", len(seen), n, action)
			}
		}
		return last
	}
}

func hrDown(ctx context.Context, cli *client.Client, id string, kind policies.FaultKind) error {
	switch kind {
	case policies.FaultPause:
		// The cgroup freezer sometimes fails to freeze a busy container
		// ("unable to freeze"); Docker leaves it running: ask again.
		var err error
		for range 5 {
			if err = cli.ContainerPause(ctx, id); err == nil || !strings.Contains(err.Error(), "unable to freeze") {
				return err
			}
		}
		return err
	case policies.FaultStop:
		timeout := 1
		return cli.ContainerStop(ctx, id, container.StopOptions{Timeout: &timeout})
	default:
		return cli.ContainerKill(ctx, id, "SIGKILL")
	}
}

type hrRow struct {
	kind                policies.FaultKind
	n, runs             int
	tumult, done, floor time.Duration
}

func (r hrRow) ratio() float64 { return float64(r.tumult) / float64(r.floor) }

func hrP50(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return gdRank(s, 0.5)
}

func hrPrint(w io.Writer, rows []hrRow) {
	var sb strings.Builder
	sb.WriteString("\nHalt restore: from the halt to every member held down by the fault running again (p50, ms)\n")
	fmt.Fprintf(&sb, "floor: Docker alone undoing the same faults, %d at once, no tumult code, measured in turn with tumult\n", gdFloorWorkers)
	sb.WriteString("done: until every record is finished in the ledger as well\n")
	fmt.Fprintf(&sb, "%-6s %4s %4s | %10s %10s %6s | %10s | %s\n", "fault", "N", "runs", "tumult", "floor", "ratio", "done", "target")
	for _, r := range rows {
		target := "next to docker start"
		if r.kind == policies.FaultPause {
			target = "ratio ≤ 1.15"
		}
		fmt.Fprintf(&sb, "%-6s %4d %4d | %10.1f %10.1f %6.2f | %10.1f | %s\n", r.kind, r.n, r.runs, gdMS(r.tumult), gdMS(r.floor), r.ratio(), gdMS(r.done), target)
	}
	fmt.Fprint(w, sb.String())
}

// hrKinds are the fault kinds to measure: TUMULT_BENCH_KINDS, default
// "pause,stop,kill".
func hrKinds(b *testing.B) []policies.FaultKind {
	s := os.Getenv("TUMULT_BENCH_KINDS")
	if s == "" {
		return []policies.FaultKind{policies.FaultPause, policies.FaultStop, policies.FaultKill}
	}
	var out []policies.FaultKind
	for _, f := range strings.Split(s, ",") {
		switch k := policies.FaultKind(strings.TrimSpace(f)); k {
		case policies.FaultPause, policies.FaultStop, policies.FaultKill:
			out = append(out, k)
		default:
			b.Fatalf("TUMULT_BENCH_KINDS=%q: want pause, stop and/or kill", s)
		}
	}
	return out
}

func hrEnvInt(b *testing.B, name string, def, lo, hi int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		b.Fatalf("%s=%q: want a number from %d to %d", name, s, lo, hi)
	}
	return n
}

func hrSizes(b *testing.B) []int {
	s := os.Getenv("TUMULT_BENCH_SIZES")
	if s == "" {
		return []int{10, 50, 100}
	}
	var sizes []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 200 {
			b.Fatalf("TUMULT_BENCH_SIZES=%q: want fleet sizes from 1 to 200, comma-separated", s)
		}
		sizes = append(sizes, n)
	}
	return sizes
}
