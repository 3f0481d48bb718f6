//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
	"github.com/inferensys/tumult/targets/docker"
)

// BenchmarkNetworkFault measures network faults on fleets of N = 10 and
// 50 real containers, through helper containers on the real engine:
//
//	inject-restore  every member gets a network fault (delay 50ms, loss 1%),
//	                then every member is restored, 8 at a time
//	                (ms/inject-all, ms/restore-all, ms/member)
//	halt            what a halt costs: every member under a fault is
//	                restored at once (all N concurrently, as the guardian
//	                does), for network faults (ms/halt-network) and, as the
//	                reference, for pause faults (ms/halt-pause)
//
// It prints the halt figures side by side; a network restore stops and
// removes a helper container per member, so it costs more than an unpause.
//
//	go test -tags integration -run '^$' -bench NetworkFault -benchtime 1x ./integration/
func BenchmarkNetworkFault(b *testing.B) {
	cli := harness.RequireDocker(b)
	ctx := context.Background()
	net := harness.CreateNetwork(ctx, b, cli, "tumult-nf-bench")
	var lines []string
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			run := harness.Unique("nf-bench")
			labels := map[string]string{runLabel: run, "tumult.enable": "true"}
			began := time.Now()
			harness.StartFleet(ctx, b, cli, harness.FleetOptions{Prefix: run, N: n, Labels: labels, Networks: []string{net}, Parallel: 8})
			b.Logf("started %d containers in %s", n, time.Since(began).Round(time.Millisecond))
			tg, err := docker.New(docker.Options{Name: "local", PollInterval: 50 * time.Millisecond, HelperBinary: harness.TumultBinary(b)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = tg.Close() })
			fleet, err := tg.List(ctx, policies.Selector{Driver: policies.DriverDocker, Labels: labels})
			if err != nil {
				b.Fatal(err)
			}
			if fleet.Size != n {
				b.Fatalf("fleet has %d members, want %d", fleet.Size, n)
			}
			netF := policies.FaultSpec{Kind: policies.FaultNetwork, Duration: time.Hour,
				Network: &policies.NetFault{Delay: 50 * time.Millisecond, Loss: 1}}
			pauseF := policies.FaultSpec{Kind: policies.FaultPause, Duration: time.Hour}
			// Warm up: the first fault builds the helper image.
			if _, _, err := faultAll(ctx, tg, fleet.Members[:1], netF, 1, 1); err != nil {
				b.Fatal(err)
			}

			b.Run("inject-restore", func(b *testing.B) {
				var inj, res time.Duration
				for b.Loop() {
					i, r, err := faultAll(ctx, tg, fleet.Members, netF, 8, 8)
					if err != nil {
						b.Fatal(err)
					}
					inj, res = inj+i, res+r
				}
				b.ReportMetric(ms(inj)/float64(b.N), "ms/inject-all")
				b.ReportMetric(ms(res)/float64(b.N), "ms/restore-all")
				b.ReportMetric(ms(inj+res)/float64(b.N*n), "ms/member")
			})
			b.Run("halt", func(b *testing.B) {
				var hNet, hPause time.Duration
				for b.Loop() {
					_, r, err := faultAll(ctx, tg, fleet.Members, netF, 8, n)
					if err != nil {
						b.Fatal(err)
					}
					hNet += r
					_, r, err = faultAll(ctx, tg, fleet.Members, pauseF, 8, n)
					if err != nil {
						b.Fatal(err)
					}
					hPause += r
				}
				b.ReportMetric(ms(hNet)/float64(b.N), "ms/halt-network")
				b.ReportMetric(ms(hPause)/float64(b.N), "ms/halt-pause")
				lines = append(lines, fmt.Sprintf("N=%-3d halt restore: network %7.0f ms   pause %7.0f ms   (network/pause %.1fx)",
					n, ms(hNet)/float64(b.N), ms(hPause)/float64(b.N), float64(hNet)/float64(max(hPause, 1))))
			})
		})
	}
	for _, l := range lines {
		fmt.Fprintln(os.Stdout, l)
	}
}

// faultAll injects f into every member (injectWorkers at once), then
// restores every member (restoreWorkers at once), and says how long each
// phase took. It restores even after a failed inject: a benchmark must
// not leave faults behind.
func faultAll(ctx context.Context, tg *docker.Target, members []targets.Member, f policies.FaultSpec, injectWorkers, restoreWorkers int) (time.Duration, time.Duration, error) {
	start := time.Now()
	err := forEach(members, injectWorkers, func(m targets.Member) error { return tg.Inject(ctx, m, f) })
	injected := time.Since(start)
	start = time.Now()
	rerr := forEach(members, restoreWorkers, func(m targets.Member) error {
		out, err := tg.Restore(ctx, m, f)
		if err == nil && out.How != targets.Restored {
			err = fmt.Errorf("restore %s: %s, want %s", m.Name, out.How, targets.Restored)
		}
		return err
	})
	if err != nil || rerr != nil {
		return injected, time.Since(start), fmt.Errorf("inject: %v; restore: %v", err, rerr)
	}
	return injected, time.Since(start), nil
}
