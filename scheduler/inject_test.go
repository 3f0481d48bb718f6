package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
)

// closedNow is a policy whose only window opens at 09:00 for an hour: at
// t0 (midnight) it is closed, so only Inject can make it act.
func closedNow(t *testing.T, mutate func(*policies.Policy)) *policies.Policy {
	return pol(t, "p", func(p *policies.Policy) {
		w, err := policies.NewWindow("0 9 * * *", time.Hour, time.UTC)
		require.NoError(t, err)
		p.Windows = []policies.Window{w}
		p.Limits.MinHealthy = 0
		if mutate != nil {
			mutate(p)
		}
	})
}

func TestInjectOutsideTheWindowUnderEveryOtherGate(t *testing.T) {
	ctx := context.Background()
	halt := func(r *rig, _ *policies.Policy) {
		_, err := r.ledger.UpdateControl(ctx, func(c *ledger.Control) error {
			c.State, c.Actor, c.Reason = ledger.Halted, "guardian", "alert CheckoutDown"
			return nil
		})
		require.NoError(t, err)
	}
	cases := []struct {
		name   string
		setup  func(*rig, *policies.Policy)
		member string
		// refused is the reason of a refusal; empty: injected.
		refused string
		unknown bool
	}{
		{name: "window closed: injects", setup: func(*rig, *policies.Policy) {}},
		{name: "disabled policy: injects", setup: func(_ *rig, p *policies.Policy) { p.Enabled = false }},
		{name: "frozen: injects", setup: func(_ *rig, p *policies.Policy) {
			p.Freezes = []policies.Freeze{{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), Reason: "holidays"}}
		}},
		{name: "named member", member: "api-2", setup: func(*rig, *policies.Policy) {}},
		{name: "halted", setup: halt, refused: "halted by guardian: alert CheckoutDown"},
		{name: "paused", setup: func(r *rig, p *policies.Policy) {
			_, err := r.ledger.UpdateControl(ctx, func(c *ledger.Control) error {
				c.Policies = map[string]ledger.PolicyControl{p.Name: {State: ledger.Paused, Actor: "ana", Reason: "deploy"}}
				return nil
			})
			require.NoError(t, err)
		}, refused: "paused by ana: deploy"},
		{name: "held while a halt of everything is recorded", setup: func(r *rig, _ *policies.Policy) { r.engine.Hold("") },
			refused: "a halt of every policy is being recorded"},
		{name: "held while a halt of the policy is recorded", setup: func(r *rig, p *policies.Policy) { r.engine.Hold(p.Name) },
			refused: "a halt of policy p is being recorded"},
		{name: "a hold of another policy: injects", setup: func(r *rig, _ *policies.Policy) { r.engine.Hold("other") }},
		{name: "every hold released: injects", setup: func(r *rig, p *policies.Policy) {
			first, second := r.engine.Hold(""), r.engine.Hold(p.Name)
			first()
			first() // a release said twice counts once
			second()
		}},
		{name: "guardian", setup: func(r *rig, _ *policies.Policy) { r.guard.deny.Store("slo burn 20x") }, refused: "guardian: slo burn 20x"},
		{name: "steady state", setup: func(r *rig, p *policies.Policy) {
			p.SteadyState = &policies.SteadyState{Query: "x", Max: ptr(0.01)}
			r.steady.value.Store(0.5)
		}, refused: "steady state out of bounds: 0.5 not in [-inf, 0.01]"},
		{name: "max_disrupted", setup: func(r *rig, _ *policies.Policy) { r.fleet.SetBroken("api-1", true) },
			refused: "max_disrupted: 1 of 3 members disrupted, limit 1 = 1"},
		{name: "max_per_day", setup: func(r *rig, p *policies.Policy) {
			p.Limits.MaxPerDay = 1
			require.NoError(t, r.ledger.Begin(ctx, ledger.Record{ID: "earlier", Policy: p.Name, Phase: ledger.Finished,
				Result: ledger.Passed, Injected: t0, Finished: t0}))
		}, refused: "max_per_day: 1 faults today, limit 1"},
		{name: "protected member", member: "api-3", setup: func(r *rig, _ *policies.Policy) {
			r.fleet.Remove("api-3")
			r.fleet.Add("api-3", map[string]string{"app": "api"}, "protected")
		}, refused: "member api-3 is not eligible: protected"},
		{name: "unknown member", member: "db-1", setup: func(*rig, *policies.Policy) {}, unknown: true,
			refused: `member "db-1" is not in the fleet of policy p (3 members)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 3)
			p := closedNow(t, nil)
			tc.setup(r, p)
			r.engine.SetPolicies([]*policies.Policy{p})
			require.False(t, p.OpenAt(t0) && len(p.Freezes) == 0 && p.Enabled, "the scheduler alone would not act")

			rec, err := r.engine.Inject(ctx, InjectRequest{Policy: "p", Member: tc.member, Actor: "ana", Reason: "game day"})
			require.Equal(t, "ana", rec.Actor)
			require.Equal(t, "game day", rec.ActorReason)
			inj, _, _ := r.fleet.Stats()
			if tc.refused != "" {
				if tc.unknown {
					require.ErrorIs(t, err, ErrUnknownMember)
				} else {
					require.ErrorIs(t, err, ErrRefused)
				}
				require.ErrorContains(t, err, tc.refused)
				require.Equal(t, ledger.Skipped, rec.Result)
				require.Zero(t, inj, "nothing injected")
				h := history(t, r.ledger)
				require.Equal(t, tc.refused, h[0].Reason, "the refusal is recorded")
				require.Equal(t, "ana", h[0].Actor)
				return
			}
			require.NoError(t, err)
			require.Equal(t, ledger.Injected, rec.Phase)
			require.Equal(t, 1, inj)
			if tc.member != "" {
				require.Equal(t, tc.member, rec.Member.Name)
			}
			require.Contains(t, fmt.Sprint(rec.Steps), "asked by ana, outside the policy's windows: game day")
			active, err := r.ledger.Active(ctx)
			require.NoError(t, err)
			require.Len(t, active, 1)
			require.Equal(t, "game day", active[0].ActorReason)
		})
	}
}

func TestInjectUnknownPolicyAndNoReason(t *testing.T) {
	r := newRig(t, 3)
	r.engine.SetPolicies([]*policies.Policy{closedNow(t, nil)})
	_, err := r.engine.Inject(context.Background(), InjectRequest{Policy: "nope", Reason: "x"})
	require.ErrorIs(t, err, ErrUnknownPolicy)
	_, err = r.engine.Inject(context.Background(), InjectRequest{Policy: "p", Reason: " "})
	require.ErrorContains(t, err, "a reason is required")
}

func TestRecoveryTimesAreRecorded(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name   string
		steady bool
	}{
		{"member only", false},
		{"member and steady state", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 3)
			p := pol(t, "p", func(p *policies.Policy) {
				p.Limits.MinHealthy = 0
				p.Fault = policies.FaultSpec{Kind: policies.FaultPause, Duration: 30 * time.Second}
				if tc.steady {
					p.SteadyState = &policies.SteadyState{Query: "err", Max: ptr(0.01), RecoverWithin: time.Minute}
				}
			})
			// No SetPolicies: the engine makes no decision of its own.
			rec := r.engine.Decide(ctx, p, t0)
			require.Equal(t, ledger.Injected, rec.Phase)
			// The steady state is out of bounds for a while after the
			// restore: the whole hypothesis holds 5 verify ticks later.
			r.steady.value.Store(0.5)
			ticks := 0
			r.simulate(t, t0.Add(5*time.Minute), func(now time.Time) {
				if now.After(t0.Add(30 * time.Second)) {
					if ticks++; ticks == 5 {
						r.steady.value.Store(0.0)
					}
				}
			})
			h := history(t, r.ledger)
			require.Len(t, h, 1)
			got := h[0]
			require.Equal(t, ledger.Passed, got.Result, got.Reason)
			require.Equal(t, t0.Add(30*time.Second), got.HealthyAt, "healthy at the first check after the unpause")
			if !tc.steady {
				require.True(t, got.SteadyAt.IsZero())
				return
			}
			require.True(t, got.SteadyAt.After(got.HealthyAt), "steady %s after healthy %s", got.SteadyAt, got.HealthyAt)
			require.Equal(t, got.Finished, got.SteadyAt)
		})
	}
}
