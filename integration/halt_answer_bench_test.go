//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/bolt"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// BenchmarkHaltAnswer measures how soon a halt is answered while N = 10,
// 50, 100 members are paused (TUMULT_BENCH_SIZES), TUMULT_BENCH_RUNS
// times each (default 5): POST /v1/halt through the Go client, and the
// CLI (`tumult halt -wait 0`, a process of its own, exec included). The
// target is 100 ms at any N: the halt is recorded and answered, and the
// restore goes on in the background.
//
//	go test -tags integration -run '^$' -bench HaltAnswer -benchtime 1x ./integration/
func BenchmarkHaltAnswer(b *testing.B) {
	cli := harness.RequireDocker(b)
	runs := hrEnvInt(b, "TUMULT_BENCH_RUNS", 5, 1, 100)
	bin := harness.TumultBinary(b)
	type row struct {
		n         int
		http, cmd []time.Duration
	}
	var rows []row
	for _, n := range hrSizes(b) {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			ctx := gdCtx(b, 30*time.Minute)
			run := harness.Unique("ha-bench")
			harness.StartFleet(ctx, b, cli, harness.FleetOptions{Prefix: run, N: n, Parallel: 8,
				Labels: map[string]string{runLabel: run, "tumult.enable": "true"}})
			var ps []gdPolicy
			for i := 1; i <= 20; i++ {
				ps = append(ps, gdPolicy{Name: fmt.Sprintf("ha-%d", i), Labels: map[string]string{runLabel: run}, Fault: `"pause" { duration = "1h" }`})
			}
			a := harness.StartInProc(ctx, b, harness.InProcOptions{Policies: gdPolicies(ps...), LogLevel: "warn"})
			r := row{n: n}
			for range b.N {
				for i := range 2 * runs {
					haWaitPaused(ctx, b, a.Client, n)
					began := time.Now()
					if i%2 == 0 {
						_, err := a.Client.Halt(ctx, api.HaltRequest{Reason: "benchmark"})
						require.NoError(b, err)
						r.http = append(r.http, time.Since(began))
					} else {
						cmd := exec.CommandContext(ctx, bin, "halt", "-wait", "0", "-reason", "benchmark")
						cmd.Env = append(os.Environ(), "TUMULT_ADDR="+a.URL())
						out, err := cmd.CombinedOutput()
						require.NoError(b, err, "%s", out)
						r.cmd = append(r.cmd, time.Since(began))
					}
					gdWait(b, 2*time.Minute, "every fault restored", func() (bool, string) {
						f, err := a.Client.Faults(ctx)
						return err == nil && len(f) == 0, fmt.Sprintf("%d active, %v", len(f), err)
					})
					_, err := a.Client.Resume(ctx, api.ResumeRequest{Reason: "benchmark: next run"})
					require.NoError(b, err)
				}
			}
			rows = append(rows, r)
			b.ReportMetric(gdMS(hrP50(r.http)), "http-p50-ms")
			b.ReportMetric(gdMS(hrP50(r.cmd)), "cli-p50-ms")
		})
	}
	fmt.Printf("\nHalt answer: request → answer while N members are paused (ms; target 100 ms at any N)\n")
	fmt.Printf("%4s | %9s %9s | %9s %9s\n", "N", "http p50", "http max", "cli p50", "cli max")
	for _, r := range rows {
		fmt.Printf("%4d | %9.1f %9.1f | %9.1f %9.1f\n", r.n, gdMS(hrP50(r.http)), gdMS(hrMax(r.http)), gdMS(hrP50(r.cmd)), gdMS(hrMax(r.cmd)))
	}
}

func haWaitPaused(ctx context.Context, b *testing.B, c *api.Client, n int) {
	b.Helper()
	gdWait(b, 3*time.Minute, fmt.Sprintf("%d members paused by the scheduler", n), func() (bool, string) {
		f, err := c.Faults(ctx)
		injected := 0
		for _, r := range f {
			if r.Phase == ledger.Injected {
				injected++
			}
		}
		return err == nil && injected == n, fmt.Sprintf("%d of %d paused, %v", injected, n, err)
	})
}

func hrMax(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// BenchmarkRecoveryStart measures how soon a start after a crash has its
// recovery under way, with 100 policies whose windows open every minute
// (the costliest to check) and N = 10 paused members the dead run left in
// the ledger: from starting the tumult binary to Docker's first unpause
// event (target 200 ms), and to the last. Recovery comes before the
// policies are read. TUMULT_BENCH_RUNS runs (default 5).
//
//	go test -tags integration -run '^$' -bench RecoveryStart -benchtime 1x ./integration/
func BenchmarkRecoveryStart(b *testing.B) {
	cli := harness.RequireDocker(b)
	runs := hrEnvInt(b, "TUMULT_BENCH_RUNS", 5, 1, 100)
	bin := harness.TumultBinary(b)
	ctx := gdCtx(b, 20*time.Minute)
	const n, nPolicies = 10, 100
	run := harness.Unique("rs-bench")
	fleet := harness.StartFleet(ctx, b, cli, harness.FleetOptions{Prefix: run, N: n,
		Labels: map[string]string{runLabel: run, "tumult.enable": "true"}})
	dir := b.TempDir()
	require.NoError(b, os.MkdirAll(filepath.Join(dir, "policies"), 0o755))
	var ps strings.Builder
	for i := range nPolicies {
		fmt.Fprintf(&ps, `policy "rs-%d" {
  target "docker" {
    labels = { %q = %q }
  }
  fault "pause" {
    duration = "1h"
  }
  window {
    cron     = "* * * * *"
    duration = "1m"
  }
  every {
    mean = "1h"
  }
}
`, i, runLabel, run+"-none")
	}
	require.NoError(b, os.WriteFile(filepath.Join(dir, "policies", "p.hcl"), []byte(ps.String()), 0o644))
	addr := strings.TrimPrefix(harness.ClosedAddr(b), "http://")
	require.NoError(b, os.WriteFile(filepath.Join(dir, "tumult.hcl"), []byte(fmt.Sprintf(
		"data_dir = \"data\"\npolicy_dir = \"policies\"\nlog_level = \"info\"\nhttp {\n  address = %q\n}\ndocker \"local\" {}\n", addr)), 0o644))
	require.NoError(b, os.MkdirAll(filepath.Join(dir, "data"), 0o700))

	var first, all []time.Duration
	for range b.N {
		for range runs {
			// What a crashed run leaves: paused members and their records.
			require.NoError(b, forEach(fleet, gdFloorWorkers, func(c harness.Container) error {
				return hrDown(ctx, cli, c.ID, policies.FaultPause)
			}))
			store, err := bolt.Open(filepath.Join(dir, "data", "ledger.db"), bolt.Options{})
			require.NoError(b, err)
			now := time.Now()
			for _, c := range fleet {
				m := targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: c.ID, Name: c.Name}
				require.NoError(b, store.Begin(ctx, ledger.Record{ID: ledger.NewID(), Policy: "rs-0", Member: m,
					Fault: policies.FaultSpec{Kind: policies.FaultPause, Duration: time.Hour}, Phase: ledger.Injected, Injected: now}))
			}
			require.NoError(b, store.Close())

			f, l := rsStart(ctx, b, cli, bin, dir, run, n)
			first, all = append(first, f), append(all, l)
		}
	}
	b.ReportMetric(gdMS(hrP50(first)), "first-p50-ms")
	b.ReportMetric(gdMS(hrP50(all)), "all-p50-ms")
	fmt.Printf("\nRecovery at start, %d policies with windows every minute, %d paused members left by a crash (ms)\n", nPolicies, n)
	fmt.Printf("%-40s %9s %9s | %s\n", "", "p50", "max", "target")
	fmt.Printf("%-40s %9.1f %9.1f | %s\n", "start → recovery under way (first back)", gdMS(hrP50(first)), gdMS(hrMax(first)), "200 ms")
	fmt.Printf("%-40s %9.1f %9.1f |\n", "start → every member back", gdMS(hrP50(all)), gdMS(hrMax(all)))
}

// rsStart starts the agent in dir, waits for every member's unpause, and
// kills it (it may still be checking its policies).
func rsStart(ctx context.Context, b *testing.B, cli *client.Client, bin, dir, run string, n int) (first, all time.Duration) {
	b.Helper()
	evctx, stop := context.WithCancel(ctx)
	defer stop()
	since := time.Now()
	msgs, errs := cli.Events(evctx, events.ListOptions{Since: gdDockerTime(since), Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)), filters.Arg("event", string(events.ActionUnPause)),
		filters.Arg("label", runLabel+"="+run))})
	cmd := exec.Command(bin, "agent", "-config", filepath.Join(dir, "tumult.hcl"))
	cmd.Dir = dir
	logf, err := os.Create(filepath.Join(dir, "agent.log"))
	require.NoError(b, err)
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	began := time.Now()
	require.NoError(b, cmd.Start())
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}()
	seen := map[string]bool{}
	var last time.Time
	for len(seen) < n {
		select {
		case m := <-msgs:
			at := time.Unix(0, m.TimeNano)
			if len(seen) == 0 {
				first = at.Sub(began)
			}
			seen[m.Actor.ID] = true
			if at.After(last) {
				last = at
			}
		case err := <-errs:
			b.Fatalf("docker events: %v", err)
		case <-time.After(time.Minute):
			log, _ := os.ReadFile(filepath.Join(dir, "agent.log"))
			b.Fatalf("%d of %d members unpaused a minute after the start; log:\n%s", len(seen), n, log)
		}
	}
	return first, last.Sub(began)
}
