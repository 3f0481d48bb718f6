//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
	"github.com/inferensys/tumult/targets/docker"
)

// BenchmarkDocker measures the Docker driver against the real engine for
// fleets of 10, 50 and 100 containers: one List of the fleet, and pausing
// then restoring every member, one at a time and with 8 workers. The
// pause-restore figures are per whole fleet (ms/pause-all, ms/restore-all)
// and per member (ms/member); restore-all is what a halt costs.
//
//	go test -tags integration -run '^$' -bench Docker -benchtime 3x ./integration/
func BenchmarkDocker(b *testing.B) {
	cli := harness.RequireDocker(b)
	ctx := context.Background()
	for _, n := range []int{10, 50, 100} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			run := harness.Unique("bench")
			labels := map[string]string{runLabel: run, "tumult.enable": "true"}
			start := time.Now()
			harness.StartFleet(ctx, b, cli, harness.FleetOptions{Prefix: run, N: n, Labels: labels})
			b.Logf("started %d containers in %s", n, time.Since(start).Round(time.Millisecond))

			tg, err := docker.New(docker.Options{Name: "local", PollInterval: 50 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = tg.Close() })
			sel := policies.Selector{Driver: policies.DriverDocker, Labels: labels}
			fleet, err := tg.List(ctx, sel)
			if err != nil {
				b.Fatal(err)
			}
			if fleet.Size != n || fleet.Healthy() != n {
				b.Fatalf("fleet has %d members, %d healthy; want %d", fleet.Size, fleet.Healthy(), n)
			}

			b.Run("list", func(b *testing.B) {
				for b.Loop() {
					f, err := tg.List(ctx, sel)
					if err != nil {
						b.Fatal(err)
					}
					if f.Size != n {
						b.Fatalf("listed %d, want %d", f.Size, n)
					}
				}
				b.ReportMetric(ms(b.Elapsed())/float64(b.N), "ms/list")
			})
			for _, workers := range []int{1, 8, 32} {
				name := "pause-restore/serial"
				if workers > 1 {
					name = fmt.Sprintf("pause-restore/parallel-%d", workers)
				}
				b.Run(name, func(b *testing.B) {
					var pause, restore time.Duration
					for b.Loop() {
						p, r, err := pauseRestoreAll(ctx, tg, fleet.Members, workers)
						if err != nil {
							b.Fatal(err)
						}
						pause += p
						restore += r
					}
					b.ReportMetric(ms(pause)/float64(b.N), "ms/pause-all")
					b.ReportMetric(ms(restore)/float64(b.N), "ms/restore-all")
					b.ReportMetric(ms(pause+restore)/float64(b.N*n), "ms/member")
				})
			}
		})
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// pauseRestoreAll pauses every member, then restores every member, each
// phase with the given number of workers, and says how long each took.
func pauseRestoreAll(ctx context.Context, tg *docker.Target, members []targets.Member, workers int) (time.Duration, time.Duration, error) {
	f := policies.FaultSpec{Kind: policies.FaultPause, Duration: time.Minute}
	start := time.Now()
	err := forEach(members, workers, func(m targets.Member) error { return tg.Inject(ctx, m, f) })
	paused := time.Since(start)
	// Restore even after a failed pause: the bench must not leave a
	// paused fleet behind.
	start = time.Now()
	rerr := forEach(members, workers, func(m targets.Member) error {
		out, err := tg.Restore(ctx, m, f)
		if err == nil && out.How != targets.Restored {
			err = fmt.Errorf("restore %s: %s, want %s", m.Name, out.How, targets.Restored)
		}
		return err
	})
	return paused, time.Since(start), errors.Join(err, rerr)
}

// forEach runs fn on every item with at most workers at once.
func forEach[T any](items []T, workers int, fn func(T) error) error {
	errs := make([]error, len(items))
	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for i, m := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(m)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
