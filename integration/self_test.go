//go:build integration

package integration

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/ledgertest"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/scheduler"
	"github.com/inferensys/tumult/targets/docker"
	"github.com/inferensys/tumult/targets/targettest"
)

// TestTumultCountsItselfNowhere replays the report: tumult in a container
// that its own policy's selector matches, next to one real member, with
// min_healthy = 1. It was counted as a healthy member ("2 healthy of 2")
// and the real member was killed. It must count nowhere: the fleet is one
// member, so no fault is possible; with min_healthy = 0 the choice says
// "1 healthy of 1".
func TestTumultCountsItselfNowhere(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := testCtx(t, 2*time.Minute)
	run := harness.Unique("self")
	labels := map[string]string{runLabel: run, "app": "web", "tumult.enable": "true"}
	fleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-web", N: 2, Labels: labels})
	real, self := fleet[0], fleet[1]

	tg := newDockerTarget(t, docker.Options{SelfID: self.ID})
	w, err := policies.NewWindow("@daily", 24*time.Hour, time.UTC)
	require.NoError(t, err)
	now := time.Now().UTC().Truncate(24 * time.Hour).Add(time.Hour)
	clk := clock.NewFake(now)
	cases := []struct {
		name       string
		minHealthy int
		result     ledger.Result
		reason     string // skip reason, or the choice step
	}{
		{"one real member, min_healthy 1", 1, ledger.Skipped, "min_healthy: 1 healthy, a fault would leave 0, need 1"},
		{"one real member, min_healthy 0", 0, "", "chose " + real.Name + " among 1 eligible (1 healthy of 1)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int64
			l := ledgertest.NewMemory(clk.Now)
			e, err := scheduler.New(scheduler.Options{
				Ledger: l, Targets: targettest.Set{"docker/local": tg}, Clock: clk, Seed: 1,
				Control: guardian.NewController(guardian.ControllerOptions{Ledger: l, Clock: clk}),
				NewID:   func() string { return fmt.Sprintf("r%d", n.Add(1)) },
			})
			require.NoError(t, err)
			t.Cleanup(e.Close)
			p := &policies.Policy{
				Name: "web", Enabled: true, DryRun: true, // decide, touch nothing
				Target:  policies.Selector{Driver: policies.DriverDocker, Endpoint: "local", Labels: map[string]string{runLabel: run, "app": "web"}},
				Fault:   policies.FaultSpec{Kind: policies.FaultKill, Signal: "SIGKILL", RestoreAfter: time.Minute},
				Windows: []policies.Window{w},
				Every:   policies.Cadence{Mean: time.Minute},
				Limits:  policies.Limits{MaxDisrupted: policies.Quantity{Count: 1}, MinHealthy: tc.minHealthy},
			}
			e.SetPolicies([]*policies.Policy{p})
			rec := e.Decide(ctx, p, now)
			if tc.result == ledger.Skipped {
				require.Equal(t, ledger.Skipped, rec.Result)
				require.Equal(t, tc.reason, rec.Reason)
				return
			}
			require.NotEqual(t, ledger.Skipped, rec.Result, rec.Reason)
			require.Equal(t, real.ID, rec.Member.ID, "never tumult itself")
			var steps []string
			for _, s := range rec.Steps {
				steps = append(steps, s.What)
			}
			require.Contains(t, steps, tc.reason)
		})
	}
	for _, c := range fleet {
		require.True(t, harness.Running(inspect(ctx, t, cli, c.ID)), "%s untouched (dry run)", c.Name)
	}
}
