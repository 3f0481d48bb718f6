package scheduler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/ledgertest"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
	"github.com/inferensys/tumult/targets/targettest"
)

var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) // a Monday

type rig struct {
	clk    *clock.Fake
	ledger *ledgertest.Memory
	fleet  *targettest.Fake
	engine *Engine
	guard  *fakeGuard
	steady *fakeSteady
}

type fakeGuard struct{ deny atomic.Value }

func (g *fakeGuard) Allow(context.Context, *policies.Policy) (bool, string) {
	if why, _ := g.deny.Load().(string); why != "" {
		return false, why
	}
	return true, ""
}

type fakeSteady struct {
	value atomic.Value // float64
	err   atomic.Value // error
}

func (s *fakeSteady) Query(context.Context, string, string) (float64, error) {
	if e, _ := s.err.Load().(error); e != nil {
		return 0, e
	}
	v, _ := s.value.Load().(float64)
	return v, nil
}

// testControl is the guardian's controller over the test's ledger: the
// scheduler pauses a failed experiment's policy through it.
func testControl(l guardian.ControlLedger, clk clock.Clock) *guardian.Controller {
	return guardian.NewController(guardian.ControllerOptions{Ledger: l, Clock: clk})
}

func newRig(t *testing.T, members int) *rig {
	t.Helper()
	r := &rig{clk: clock.NewFake(t0), fleet: targettest.New(policies.DriverDocker, "local"), guard: &fakeGuard{}, steady: &fakeSteady{}}
	r.ledger = ledgertest.NewMemory(r.clk.Now)
	for i := 1; i <= members; i++ {
		r.fleet.Add(fmt.Sprintf("api-%d", i), map[string]string{"app": "api"}, "")
	}
	var n atomic.Int64
	e, err := New(Options{
		Ledger: r.ledger, Targets: targettest.Set{}.Add(r.fleet), Guard: r.guard, Steady: r.steady, Control: testControl(r.ledger, r.clk),
		Clock: r.clk, Seed: 1, VerifyInterval: time.Second,
		NewID: func() string { return fmt.Sprintf("r%06d", n.Add(1)) },
	})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	r.engine = e
	return r
}

func pol(t *testing.T, name string, mutate func(*policies.Policy)) *policies.Policy {
	t.Helper()
	w, err := policies.NewWindow("@daily", 24*time.Hour, time.UTC)
	require.NoError(t, err)
	p := &policies.Policy{
		Name: name, Enabled: true,
		Target:  policies.Selector{Driver: policies.DriverDocker, Endpoint: "local", Labels: map[string]string{"app": "api"}},
		Fault:   policies.FaultSpec{Kind: policies.FaultStop, RestoreAfter: 2 * time.Minute},
		Windows: []policies.Window{w},
		Every:   policies.Cadence{Mean: 10 * time.Minute},
		Limits:  policies.Limits{MaxDisrupted: policies.Quantity{Count: 1}, MinHealthy: 1},
	}
	if mutate != nil {
		mutate(p)
	}
	return p
}

// settle waits until every fault run is parked on the fake clock or done.
func (r *rig) settle(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return r.clk.Timers() >= r.engine.Active() }, 5*time.Second, 100*time.Microsecond)
}

// simulate runs the engine on the fake clock until `until`, jumping from
// one due moment to the next, and calls check after every step.
func (r *rig) simulate(t *testing.T, until time.Time, check func(now time.Time)) {
	t.Helper()
	ctx := context.Background()
	for steps := 0; steps < 1_000_000; steps++ {
		now := r.clk.Now()
		wait := r.engine.Step(ctx, now)
		r.settle(t)
		if check != nil {
			check(now)
		}
		next := now.Add(wait)
		if at, ok := r.clk.Next(); ok && at.Before(next) {
			next = at
		}
		if !next.Before(until) {
			r.clk.Set(until)
			r.settle(t)
			return
		}
		r.clk.Set(next)
		r.settle(t)
	}
	t.Fatal("simulation did not end")
}

func history(t *testing.T, l *ledgertest.Memory) []ledger.Record {
	t.Helper()
	h, err := l.History(context.Background(), ledger.HistoryQuery{})
	require.NoError(t, err)
	return h
}

func TestNoFaultOutsideWindowsOrInFreezes(t *testing.T) {
	r := newRig(t, 6)
	w, err := policies.NewWindow("0 9 * * MON-FRI", 8*time.Hour, time.UTC)
	require.NoError(t, err)
	p := pol(t, "office-hours", func(p *policies.Policy) {
		p.Windows = []policies.Window{w}
		p.Freezes = []policies.Freeze{{From: t0.Add(48 * time.Hour), To: t0.Add(72 * time.Hour)}}
		p.Every = policies.Cadence{Mean: 5 * time.Minute, Min: 2 * time.Minute}
		p.Fault.RestoreAfter = time.Minute
	})
	r.engine.SetPolicies([]*policies.Policy{p})
	r.simulate(t, t0.Add(7*24*time.Hour), nil)

	var injected []ledger.Record
	for _, rec := range history(t, r.ledger) {
		if !rec.Injected.IsZero() {
			injected = append(injected, rec)
		}
	}
	require.Greater(t, len(injected), 200, "faults should happen in open windows")
	last := map[string]time.Time{}
	for _, rec := range injected {
		require.True(t, p.OpenAt(rec.Decided), "fault at %s outside an open window", rec.Decided)
		_, frozen := p.FrozenAt(rec.Decided)
		require.False(t, frozen)
		if prev, ok := last[rec.Policy]; ok {
			require.GreaterOrEqual(t, rec.Decided.Sub(prev).Abs(), p.Every.Min, "min gap")
		}
		last[rec.Policy] = rec.Decided
		require.Equal(t, ledger.Passed, rec.Result, rec.Reason)
	}
	require.Empty(t, r.fleet.Down())
}

func TestLimitsHoldOverThousandsOfDecisionsWithTwoPoliciesOnOneFleet(t *testing.T) {
	r := newRig(t, 5)
	r.fleet.Add("excluded-1", map[string]string{"app": "api"}, "not opted in")
	a := pol(t, "stopper", func(p *policies.Policy) {
		p.Every = policies.Cadence{Mean: 40 * time.Second}
		p.Fault = policies.FaultSpec{Kind: policies.FaultStop, RestoreAfter: 3 * time.Minute}
		p.Limits = policies.Limits{MaxDisrupted: policies.Quantity{Count: 2}, MinHealthy: 3, MaxPerDay: 400}
	})
	b := pol(t, "pauser", func(p *policies.Policy) {
		p.Every = policies.Cadence{Mean: 30 * time.Second}
		p.Fault = policies.FaultSpec{Kind: policies.FaultPause, Duration: 2 * time.Minute}
		p.Limits = policies.Limits{MaxDisrupted: policies.Quantity{Percent: 100, IsPercent: true}, MinHealthy: 3}
	})
	r.engine.SetPolicies([]*policies.Policy{a, b})
	r.simulate(t, t0.Add(36*time.Hour), func(time.Time) {
		down := r.fleet.Down()
		// stopper allows 2 down, pauser 100%; min_healthy 3 of 6 (one
		// excluded member is always healthy) caps it at 3 down.
		require.LessOrEqual(t, len(down), 3, "down: %v", down)
		require.NotContains(t, down, "excluded-1")
	})
	inj, _, maxDown := r.fleet.Stats()
	require.LessOrEqual(t, maxDown, 3)

	h := history(t, r.ledger)
	perDay := map[string]int{}
	reasons := map[string]int{}
	for _, rec := range h {
		if rec.Policy == "stopper" && !rec.Injected.IsZero() {
			perDay[rec.Injected.Format("2006-01-02")]++
		}
		if rec.Result == ledger.Skipped {
			reasons[strings.SplitN(rec.Reason, ":", 2)[0]]++
		}
	}
	for day, n := range perDay {
		require.LessOrEqual(t, n, 400, "max_per_day on %s", day)
	}
	require.Greater(t, len(h), 3000, "thousands of decisions")
	require.Greater(t, inj, 1000)
	require.Positive(t, reasons["min_healthy"], "skips: %v", reasons)
	require.Positive(t, reasons["max_disrupted"]+reasons["max_per_day"], "skips: %v", reasons)
	active, err := r.ledger.Active(context.Background())
	require.NoError(t, err)
	require.Len(t, r.fleet.Down(), len(active), "every member down has an active record")
	_, err = r.engine.RestoreAll(context.Background(), "end of test", nil)
	require.NoError(t, err)
	require.Empty(t, r.fleet.Down(), "everything restored after RestoreAll")
}

func TestSkipReasonsAreRecorded(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		setup func(*rig, *policies.Policy)
		want  string
	}{
		{"paused globally", func(r *rig, _ *policies.Policy) {
			_, err := r.ledger.UpdateControl(ctx, func(c *ledger.Control) error {
				c.State, c.Actor, c.Reason = ledger.Paused, "alice", "deploy"
				return nil
			})
			require.NoError(t, err)
		}, "paused by alice: deploy"},
		{"policy halted", func(r *rig, p *policies.Policy) {
			_, err := r.ledger.UpdateControl(ctx, func(c *ledger.Control) error {
				c.Policies = map[string]ledger.PolicyControl{p.Name: {State: ledger.Halted, Actor: "guardian", Reason: "slo burn"}}
				return nil
			})
			require.NoError(t, err)
		}, "halted by guardian: slo burn"},
		{"paused with a long reason", func(r *rig, _ *policies.Policy) {
			_, err := r.ledger.UpdateControl(ctx, func(c *ledger.Control) error {
				// The whole reason stays in the control state; a skip
				// repeats 80 bytes of it.
				c.State, c.Actor, c.Reason = ledger.Paused, "alice", strings.Repeat("deploy ", 140)
				return nil
			})
			require.NoError(t, err)
		}, "paused by alice: " + strings.Repeat("deploy ", 11) + "…"},
		{"guardian refuses", func(r *rig, _ *policies.Policy) { r.guard.deny.Store("alert CheckoutDown firing") }, "guardian: alert CheckoutDown firing"},
		{"steady state unreadable", func(r *rig, p *policies.Policy) {
			p.SteadyState = &policies.SteadyState{Query: "x", Max: ptr(0.01)}
			r.steady.err.Store(fmt.Errorf("no data"))
		}, "steady state unreadable: no data"},
		{"steady state out of bounds", func(r *rig, p *policies.Policy) {
			p.SteadyState = &policies.SteadyState{Query: "x", Max: ptr(0.01)}
			r.steady.value.Store(0.5)
		}, "steady state out of bounds: 0.5 not in [-inf, 0.01]"},
		{"fleet unreachable", func(r *rig, _ *policies.Policy) { r.fleet.ListErr = fmt.Errorf("connection refused") }, "list fleet: docker endpoint \"local\": list: connection refused"},
		{"min healthy", func(r *rig, p *policies.Policy) { p.Limits.MinHealthy = 3 }, "min_healthy: 3 healthy, a fault would leave 2, need 3"},
		{"max disrupted", func(r *rig, p *policies.Policy) { r.fleet.SetBroken("api-1", true) }, "max_disrupted: 1 of 3 members disrupted, limit 1 = 1"},
		{"percentage rounds to zero", func(r *rig, p *policies.Policy) {
			p.Limits.MaxDisrupted = policies.Quantity{Percent: 25, IsPercent: true}
		}, "max_disrupted: 0 of 3 members disrupted, limit 25% = 0"},
		{"nobody eligible", func(r *rig, p *policies.Policy) { p.Target.Labels = map[string]string{"app": "db"} }, "fleet is empty: no member matches the target"},
		// tumult is counted nowhere: not in the fleet's size, not as a
		// healthy member (it was "2 healthy of 2" and killed api-1).
		{"tumult is no capacity", func(r *rig, p *policies.Policy) {
			r.fleet.Remove("api-2")
			r.fleet.Remove("api-3")
			r.fleet.AddSelf("tumult", map[string]string{"app": "api"})
			p.Limits.MinHealthy = 1
		}, "min_healthy: 1 healthy, a fault would leave 0, need 1"},
		{"tumult counts in no percentage", func(r *rig, p *policies.Policy) {
			r.fleet.AddSelf("tumult", map[string]string{"app": "api"})
			p.Limits.MaxDisrupted = policies.Quantity{Percent: 25, IsPercent: true}
		}, "max_disrupted: 0 of 3 members disrupted, limit 25% = 0"},
		{"only tumult matches", func(r *rig, p *policies.Policy) {
			r.fleet.AddSelf("tumult", map[string]string{"app": "tumult"})
			p.Target.Labels = map[string]string{"app": "tumult"}
		}, "fleet is empty: only tumult itself matches the target"},
		{"window closed", func(r *rig, p *policies.Policy) {
			w, _ := policies.NewWindow("0 9 * * *", time.Hour, time.UTC)
			p.Windows = []policies.Window{w}
		}, "window closed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 3)
			p := pol(t, "p", nil)
			p.Limits.MinHealthy = 0
			tc.setup(r, p)
			r.engine.SetPolicies([]*policies.Policy{p})
			rec := r.engine.Decide(ctx, p, t0.Add(time.Minute))
			require.Equal(t, ledger.Skipped, rec.Result)
			require.Equal(t, tc.want, rec.Reason)
			h := history(t, r.ledger)
			require.Len(t, h, 1)
			require.Equal(t, tc.want, h[0].Reason)
			inj, _, _ := r.fleet.Stats()
			require.Zero(t, inj)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// pauseRig is a rig of n members scheduling policy "p": an hour's pause,
// up to maxDisrupted members at once, one left healthy.
func pauseRig(t *testing.T, n, maxDisrupted int) (*rig, *policies.Policy) {
	r := newRig(t, n)
	p := pol(t, "p", func(p *policies.Policy) {
		p.Fault = policies.FaultSpec{Kind: policies.FaultPause, Duration: time.Hour}
		p.Limits = policies.Limits{MaxDisrupted: policies.Quantity{Count: maxDisrupted}, MinHealthy: 1}
	})
	r.engine.SetPolicies([]*policies.Policy{p})
	return r, p
}

func TestHaltRestoresEverythingAndBlocksNewFaults(t *testing.T) {
	ctx := context.Background()
	r, p := pauseRig(t, 6, 4)
	for i := 0; i < 4; i++ {
		rec := r.engine.Decide(ctx, p, t0.Add(time.Duration(i)*time.Minute))
		require.Equal(t, ledger.Injected, rec.Phase, rec.Reason)
	}
	require.Len(t, r.fleet.Down(), 4)

	_, err := r.ledger.UpdateControl(ctx, func(c *ledger.Control) error {
		c.State, c.Actor, c.Reason = ledger.Halted, "bob", "incident"
		return nil
	})
	require.NoError(t, err)
	n, err := r.engine.RestoreAll(ctx, "halted by bob: incident", nil)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	require.Empty(t, r.fleet.Down())
	active, err := r.ledger.Active(ctx)
	require.NoError(t, err)
	require.Empty(t, active)
	for _, rec := range history(t, r.ledger) {
		require.Equal(t, ledger.Restored, rec.Result)
		require.Equal(t, "halted by bob: incident", rec.Reason)
	}
	rec := r.engine.Decide(ctx, p, t0.Add(time.Hour))
	require.Equal(t, ledger.Skipped, rec.Result)
	require.Equal(t, "halted by bob: incident", rec.Reason)
}

func TestRecoverRestoresUnfinishedRecordsOfAnEarlierRun(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 3)
	p := pol(t, "p", nil)
	r.engine.SetPolicies([]*policies.Policy{p})
	// A crashed run left one fault in each unfinished phase.
	for i, phase := range []ledger.Phase{ledger.Intent, ledger.Injected, ledger.Restoring} {
		id := fmt.Sprintf("api-%d", i+1)
		fl, err := r.fleet.List(ctx, p.Target)
		require.NoError(t, err)
		m := fl.Members[i]
		if phase != ledger.Intent {
			require.NoError(t, r.fleet.Inject(ctx, m, p.Fault))
		}
		require.NoError(t, r.ledger.Begin(ctx, ledger.Record{ID: "old-" + id, Policy: "p", Member: m, Fault: p.Fault, Phase: phase, Decided: t0}))
	}
	require.Len(t, r.fleet.Down(), 2)
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := r.engine.Recover(ctx)
		done <- result{n, err}
	}()
	// The two whose injection was answered come back at once. The one
	// left at intent may have a stop still in flight at the engine: its
	// restore waits until that would have landed — the engine's default
	// stop timeout (10s) and 2s of grace after the decision.
	require.Eventually(t, func() bool { return len(r.fleet.Down()) == 0 }, 5*time.Second, time.Millisecond)
	require.True(t, r.clk.WaitTimers(1, 5*time.Second), "the intent record's restore waits on the clock")
	select {
	case <-done:
		t.Fatal("recovery finished before the intent record settled")
	default:
	}
	r.clk.Advance(12 * time.Second)
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("recovery did not finish once the intent record settled")
	}
	require.NoError(t, res.err)
	require.Equal(t, 3, res.n)
	require.Empty(t, r.fleet.Down())
	active, err := r.ledger.Active(ctx)
	require.NoError(t, err)
	require.Empty(t, active)
	for _, rec := range history(t, r.ledger) {
		require.Equal(t, ledger.Restored, rec.Result)
		require.Contains(t, rec.Reason, "recovered at start")
	}
}

func TestRestoreRetriesUntilTheTargetAnswers(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 3)
	p := pol(t, "p", func(p *policies.Policy) { p.Limits.MinHealthy = 0; p.Fault.RestoreAfter = time.Hour })
	r.engine.SetPolicies([]*policies.Policy{p})
	rec := r.engine.Decide(ctx, p, t0)
	require.Equal(t, ledger.Injected, rec.Phase)
	r.fleet.RestoreErrs = 3
	done := make(chan error, 1)
	go func() {
		_, err := r.engine.RestoreAll(ctx, "halt", nil)
		done <- err
	}()
	// Each failed attempt backs off on the clock: step over each back-off
	// until the restore gets through. The fault's own end is an hour away
	// and is never stepped over, so only the halt can restore it.
	var err error
	for i := 0; ; i++ {
		require.Less(t, i, 200, "restore never finished")
		select {
		case err = <-done:
		default:
			if at, ok := r.clk.WaitDue(time.Minute, 50*time.Millisecond); ok {
				r.clk.Set(at)
			}
			continue
		}
		break
	}
	require.NoError(t, err)
	require.Empty(t, r.fleet.Down())
	h := history(t, r.ledger)
	require.Len(t, h, 1)
	require.Equal(t, ledger.Restored, h[0].Result)
	steps := fmt.Sprint(h[0].Steps)
	require.Contains(t, steps, "restore attempt 3 failed")
}

func TestFailedExperimentPausesItsPolicy(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 3)
	p := pol(t, "p", func(p *policies.Policy) {
		p.Limits.MinHealthy = 0
		p.SteadyState = &policies.SteadyState{Query: "err", Max: ptr(0.01), RecoverWithin: 30 * time.Second}
	})
	r.steady.value.Store(0.0)
	r.engine.SetPolicies([]*policies.Policy{p})
	rec := r.engine.Decide(ctx, p, t0)
	require.Equal(t, ledger.Injected, rec.Phase)
	r.steady.value.Store(0.2) // the hypothesis breaks and stays broken
	var phases []ledger.Phase
	r.simulate(t, t0.Add(5*time.Minute), func(time.Time) {
		active, err := r.ledger.Active(ctx)
		require.NoError(t, err)
		for _, a := range active {
			if a.ID == rec.ID && (len(phases) == 0 || phases[len(phases)-1] != a.Phase) {
				phases = append(phases, a.Phase)
				if a.Phase == ledger.Verifying {
					require.Empty(t, r.fleet.Down(), "a member being verified is back up")
				}
			}
		}
	})
	// The member is back while its recovery is checked: "verifying",
	// never "restoring" for those 30 seconds.
	require.Equal(t, []ledger.Phase{ledger.Injected, ledger.Verifying}, phases)

	var failed ledger.Record
	for _, h := range history(t, r.ledger) {
		if h.ID == rec.ID {
			failed = h
		}
	}
	require.Equal(t, ledger.Failed, failed.Result)
	require.Equal(t, "not recovered within 30s: steady state 0.2 not in [-inf, 0.01]", failed.Reason)
	ctrl, err := r.ledger.Control(ctx)
	require.NoError(t, err)
	pc := ctrl.Policies["p"]
	require.Equal(t, ledger.Paused, pc.State)
	require.Contains(t, pc.Reason, "experiment "+rec.ID+" failed")
}

func TestInjectionErrorIsRestoredAndRecorded(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 3)
	p := pol(t, "p", func(p *policies.Policy) { p.Limits.MinHealthy = 0 })
	r.fleet.InjectErr = fmt.Errorf("permission denied")
	r.engine.SetPolicies([]*policies.Policy{p})
	rec := r.engine.Decide(ctx, p, t0)
	require.Equal(t, "permission denied", rec.Error)
	require.NoError(t, r.engine.Wait(ctx))
	h := history(t, r.ledger)
	require.Len(t, h, 1)
	require.Equal(t, ledger.Error, h[0].Result)
	require.Equal(t, "injection failed: permission denied", h[0].Reason)
}

func TestMechanismNotedByTheDriverIsRecorded(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 3)
	r.fleet.Mechanism = "netfilter"
	p := pol(t, "p", func(p *policies.Policy) {
		p.Limits.MinHealthy = 0
		p.Fault = policies.FaultSpec{Kind: policies.FaultNetwork, Duration: time.Minute,
			Network: &policies.NetFault{Delay: 300 * time.Millisecond, To: &policies.Destinations{Ports: []int{5432}}}}
	})
	r.engine.SetPolicies([]*policies.Policy{p})
	rec := r.engine.Decide(ctx, p, t0)
	require.Equal(t, ledger.Injected, rec.Phase)
	require.Equal(t, "netfilter", rec.Mechanism)
	require.Equal(t, t0.Add(time.Minute), rec.RestoreBy, "held for the fault's duration")
	require.Contains(t, rec.Steps[len(rec.Steps)-1].What, "network (delay 300ms to any port 5432) for 1m into api-")
	require.Contains(t, rec.Steps[len(rec.Steps)-1].What, "via netfilter")
	// The member under the fault is disrupted: with max_disrupted 1 the
	// next decision skips.
	next := r.engine.Decide(ctx, p, t0.Add(time.Second))
	require.Equal(t, ledger.Skipped, next.Result)
	require.Contains(t, next.Reason, "max_disrupted")
}

func TestDryRunInjectsNothing(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 3)
	p := pol(t, "p", func(p *policies.Policy) { p.DryRun = true; p.Limits.MinHealthy = 0 })
	r.engine.SetPolicies([]*policies.Policy{p})
	rec := r.engine.Decide(ctx, p, t0)
	require.Equal(t, ledger.Injected, rec.Phase)
	require.True(t, rec.DryRun)
	require.Contains(t, fmt.Sprint(rec.Steps), "dry run: would have injected")
	inj, _, _ := r.fleet.Stats()
	require.Zero(t, inj)
	r.simulate(t, t0.Add(10*time.Minute), nil)
	inj, restores, _ := r.fleet.Stats()
	require.Zero(t, inj)
	require.Zero(t, restores)
}

func TestMemberChoiceIsRandomAndSeeded(t *testing.T) {
	ctx := context.Background()
	pick := func(seed int64) []string {
		r := newRig(t, 8)
		r.engine.opts.Seed = seed
		r.engine.rng = rand.New(rand.NewPCG(uint64(seed), 1))
		p := pol(t, "p", func(p *policies.Policy) {
			p.Limits.MinHealthy = 0
			p.Fault = policies.FaultSpec{Kind: policies.FaultSignal, Signal: "SIGHUP"}
		})
		r.engine.SetPolicies([]*policies.Policy{p})
		for i := 0; i < 40; i++ {
			r.engine.Decide(ctx, p, t0.Add(time.Duration(i)*time.Minute))
			require.NoError(t, r.engine.Wait(ctx))
		}
		return r.fleet.Injected()
	}
	a, b := pick(5), pick(5)
	require.Equal(t, a, b, "same seed, same choices")
	seen := map[string]bool{}
	for _, id := range a {
		seen[id] = true
	}
	require.Greater(t, len(seen), 5, "choices spread over the fleet: %v", a)
}

// cancelOnInject cancels the decision's context while the fault goes in,
// as a shutdown arriving mid-injection does.
type cancelOnInject struct {
	*targettest.Fake
	cancel context.CancelFunc
}

func (c cancelOnInject) Inject(ctx context.Context, m targets.Member, f policies.FaultSpec) error {
	err := c.Fake.Inject(ctx, m, f) // the fault lands
	c.cancel()
	return err
}

func TestInjectionSurvivesCancellationOfTheDecision(t *testing.T) {
	r := newRig(t, 3)
	ctx, cancel := context.WithCancel(context.Background())
	e, err := New(Options{Ledger: r.ledger, Targets: targettest.Set{"docker/local": cancelOnInject{r.fleet, cancel}}, Control: testControl(r.ledger, r.clk), Clock: r.clk, Seed: 1})
	require.NoError(t, err)
	t.Cleanup(e.Close)
	p := pol(t, "p", func(p *policies.Policy) { p.Limits.MinHealthy = 0 })
	e.SetPolicies([]*policies.Policy{p})
	rec := e.Decide(ctx, p, t0)
	require.NotEmpty(t, rec.ID)
	require.Equal(t, ledger.Injected, rec.Phase, "the write-ahead record follows the fault though the context ended")
	require.NotEmpty(t, rec.Member.ID)
	active, err := r.ledger.Active(context.Background())
	require.NoError(t, err)
	require.Len(t, active, 1)
	require.Equal(t, ledger.Injected, active[0].Phase)
	n, err := e.RestoreAll(context.Background(), "stop", nil)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Empty(t, r.fleet.Down())
}

func TestDecisionsLeaveNoGoroutineBehind(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 4)
	p := pol(t, "p", func(p *policies.Policy) {
		p.Limits.MinHealthy = 0
		p.Fault = policies.FaultSpec{Kind: policies.FaultSignal, Signal: "SIGHUP"}
	})
	r.engine.SetPolicies([]*policies.Policy{p})
	decide := func(n int) {
		for i := 0; i < n; i++ {
			r.engine.Decide(ctx, p, t0.Add(time.Duration(i)*time.Minute))
			require.NoError(t, r.engine.Wait(ctx))
		}
	}
	decide(5) // warm up
	before := runtime.NumGoroutine()
	decide(200)
	require.LessOrEqual(t, runtime.NumGoroutine(), before+5, "goroutines grow with decisions")
}

// TestHoldWaitsForTheInjectionInFlight: a halt holds the engine and
// restores before its record is durable. A decision that passed the gate
// before the hold (it read "armed") and is still injecting is waited for
// by RestoreAll and restored with the rest; a decision under the hold
// skips; once released, faults start again.
func TestHoldWaitsForTheInjectionInFlight(t *testing.T) {
	ctx := context.Background()
	r, p := pauseRig(t, 4, 3)
	first := r.engine.Decide(ctx, p, t0)
	require.Equal(t, ledger.Injected, first.Phase, first.Reason)

	entered, proceed := make(chan struct{}), make(chan struct{})
	r.fleet.BeforeInject = func() {
		close(entered)
		<-proceed
	}
	inflight := make(chan ledger.Record, 1)
	go func() { inflight <- r.engine.Decide(ctx, p, t0.Add(time.Minute)) }()
	<-entered
	r.fleet.BeforeInject = nil // read by the fake only at the start of an Inject

	release := r.engine.Hold("")
	restored := make(chan int, 1)
	go func() {
		n, err := r.engine.RestoreAll(ctx, "halted by bob: incident", nil)
		require.NoError(t, err)
		restored <- n
	}()
	require.Never(t, func() bool { return len(restored) > 0 }, 50*time.Millisecond, time.Millisecond,
		"RestoreAll waits for the injection under way")
	close(proceed)
	rec := <-inflight
	require.Equal(t, ledger.Injected, rec.Phase, "the engine carried the injection out: %s", rec.Reason)
	require.Equal(t, 2, <-restored, "the fault injected meanwhile is restored with the first")
	require.Empty(t, r.fleet.Down())

	held := r.engine.Decide(ctx, p, t0.Add(2*time.Minute))
	require.Equal(t, ledger.Skipped, held.Result)
	require.Equal(t, "a halt of every policy is being recorded", held.Reason)
	release()
	again := r.engine.Decide(ctx, p, t0.Add(3*time.Minute))
	require.Equal(t, ledger.Injected, again.Phase, again.Reason)
}
