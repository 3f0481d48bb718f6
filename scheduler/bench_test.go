package scheduler

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/ledgertest"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets/targettest"
)

// benchT0 is inside the always-open window of benchPolicy.
var benchT0 = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func benchPolicy(b *testing.B, name string, fault policies.FaultSpec, every policies.Cadence, limits policies.Limits) *policies.Policy {
	b.Helper()
	w, err := policies.NewWindow("@daily", 24*time.Hour, time.UTC)
	if err != nil {
		b.Fatal(err)
	}
	return &policies.Policy{
		Name: name, Enabled: true,
		Target:  policies.Selector{Driver: policies.DriverDocker, Endpoint: "local", Labels: map[string]string{"app": "api"}},
		Fault:   fault,
		Windows: []policies.Window{w},
		Every:   every,
		Limits:  limits,
	}
}

func benchEngine(b *testing.B, fleet *targettest.Fake, clk *clock.Fake) (*Engine, *ledgertest.Memory) {
	b.Helper()
	l := ledgertest.NewMemory(clk.Now)
	var n atomic.Int64
	e, err := New(Options{
		Ledger: l, Targets: targettest.Set{}.Add(fleet), Control: testControl(l, clk), Clock: clk, Seed: 1,
		NewID: func() string { return fmt.Sprintf("b%09d", n.Add(1)) },
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	return e, l
}

// BenchmarkDecide10kMembers is the cost of one whole decision on a fleet
// of 10,000 members: every gate, the listing, the blast-radius count, the
// choice, the write-ahead record, the injection, and the restore and
// verification run that follows (a signal fault, whose restore is due at
// once). ns/op is the whole cycle; ns/decide is Decide alone, until the
// fault is injected and its run handed off.
//
//	go test -run '^$' -bench Decide10k -benchmem ./scheduler
func BenchmarkDecide10kMembers(b *testing.B) {
	const members = 10_000
	clk := clock.NewFake(benchT0)
	fleet := targettest.New(policies.DriverDocker, "local")
	excluded, broken := 0, 0
	for i := range members {
		why := ""
		switch {
		case i%2000 == 7:
			why = "not opted in"
		case i%2500 == 11:
			why = "protected"
		}
		if why != "" {
			excluded++
		}
		id := fmt.Sprintf("api-%05d", i)
		fleet.Add(id, map[string]string{"app": "api"}, why)
		if i%3000 == 13 {
			fleet.SetBroken(id, true)
			broken++
		}
	}
	e, l := benchEngine(b, fleet, clk)
	p := benchPolicy(b, "bench-signal",
		policies.FaultSpec{Kind: policies.FaultSignal, Signal: "SIGHUP"},
		policies.Cadence{Mean: time.Minute},
		policies.Limits{MaxDisrupted: policies.Quantity{Percent: 1, IsPercent: true}, MinHealthy: 100})
	ctx := context.Background()

	var decide time.Duration
	for b.Loop() {
		start := time.Now()
		rec := e.Decide(ctx, p, clk.Now())
		decide += time.Since(start)
		if rec.Result == ledger.Skipped || rec.Injected.IsZero() {
			b.Fatalf("decision %s injected nothing: %s %s", rec.ID, rec.Result, rec.Reason)
		}
		if err := e.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(decide.Nanoseconds())/float64(b.N), "ns/decide")

	// Every decision ran to the end and passed.
	active, err := l.Active(ctx)
	if err != nil || len(active) != 0 {
		b.Fatalf("active after the runs: %d (%v)", len(active), err)
	}
	h, err := l.History(ctx, ledger.HistoryQuery{Limit: 1})
	if err != nil || len(h) != 1 || h[0].Result != ledger.Passed {
		b.Fatalf("last record: %+v (%v)", h, err)
	}
	if injections, _, _ := fleet.Stats(); injections != b.N {
		b.Fatalf("%d injections for %d decisions", injections, b.N)
	}
	b.Logf("fleet of %d members (%d excluded, %d unhealthy): %d decisions", members, excluded, broken, b.N)
}

// BenchmarkStepManyPolicies is the cost of one scheduler step with 100
// policies loaded when none is due: what the run loop pays each time it
// wakes up.
//
//	go test -run '^$' -bench StepMany -benchmem ./scheduler
func BenchmarkStepManyPolicies(b *testing.B) {
	const n = 100
	clk := clock.NewFake(benchT0)
	fleet := targettest.New(policies.DriverDocker, "local")
	for i := range 10 {
		fleet.Add(fmt.Sprintf("api-%d", i), map[string]string{"app": "api"}, "")
	}
	e, l := benchEngine(b, fleet, clk)
	ps := make([]*policies.Policy, n)
	for i := range ps {
		ps[i] = benchPolicy(b, fmt.Sprintf("idle-%03d", i),
			policies.FaultSpec{Kind: policies.FaultPause, Duration: time.Minute},
			policies.Cadence{Mean: 24 * time.Hour, Min: time.Hour},
			policies.Limits{MaxDisrupted: policies.Quantity{Count: 1}, MinHealthy: 1})
	}
	e.SetPolicies(ps)
	ctx := context.Background()
	now := clk.Now()
	// The first step draws every policy's next arrival; it is not what
	// is measured.
	if wait := e.Step(ctx, now); wait <= 0 {
		b.Fatalf("first step: next decision in %s", wait)
	}

	for b.Loop() {
		if wait := e.Step(ctx, now); wait <= 0 {
			b.Fatalf("step: next decision in %s", wait)
		}
	}

	if injections, _, _ := fleet.Stats(); injections != 0 {
		b.Fatalf("%d injections: a decision was due", injections)
	}
	if h, err := l.History(ctx, ledger.HistoryQuery{}); err != nil || len(h) != 0 {
		b.Fatalf("%d decisions recorded (%v): a decision was due", len(h), err)
	}
}
