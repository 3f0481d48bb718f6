//go:build integration

package integration

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
)

// These tests run the real tumult binary with network fault policies: the
// agent builds its helper image from its own (static) binary.

// nfInjected waits until n network faults hold members, and returns them.
func nfInjected(ctx context.Context, t *testing.T, c *api.Client, n int, within time.Duration) []ledger.Record {
	t.Helper()
	var active []ledger.Record
	require.Eventually(t, func() bool {
		f, err := c.Faults(ctx)
		if err != nil {
			return false
		}
		active = active[:0]
		for _, r := range f {
			if r.Phase == ledger.Injected {
				active = append(active, r)
			}
		}
		return len(active) >= n
	}, within, 200*time.Millisecond, "%d network faults should be in place", n)
	return active
}

func TestAgentHaltRestoresTwentyMembersUnderNetworkFaults(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := agCtx(t, 6*time.Minute)
	net := harness.CreateNetwork(ctx, t, cli, "tumult-nf")
	run := harness.Unique("ag-nfhalt")
	// Four policies of five members each, so that injections overlap.
	const n, groups = 20, 4
	var fleet []harness.Container
	var ps []agPolicy
	for g := range groups {
		labels := map[string]string{runLabel: run, "tumult.enable": "true", "group": strconv.Itoa(g)}
		fleet = append(fleet, harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: fmt.Sprintf("%s-g%d", run, g), N: n / groups,
			Labels: labels, Networks: []string{net}})...)
		ps = append(ps, agPolicy{Name: fmt.Sprintf("nf-delay-%d", g), Labels: labels, Fault: `"network" {
    delay    = "100ms"
    loss     = 1
    duration = "10m"
  }`, Mean: "1s", MaxDisrupted: strconv.Itoa(n / groups), MinHealthy: 0})
	}
	a := harness.StartAgent(ctx, t, harness.AgentOptions{Policies: map[string]string{"net.hcl": agPolicies(ps...)}})
	active := nfInjected(ctx, t, a.Client, n, 3*time.Minute)
	require.Len(t, active, n)
	for _, r := range active {
		require.Equal(t, "netfilter", r.Mechanism, "record %s should say which mechanism this kernel took", r.ID)
		require.Len(t, helpersLeft(ctx, t, cli, r.Member.ID), 1, "%s should have its helper", r.Member.Short())
	}

	began := time.Now()
	_, err := a.Client.Halt(ctx, api.HaltRequest{Reason: "integration test"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		f, err := a.Client.Faults(ctx)
		return err == nil && len(f) == 0
	}, 2*time.Minute, 100*time.Millisecond, "every network fault should be restored by the halt")
	t.Logf("halt restored %d members under network faults in %s", n, time.Since(began).Round(time.Millisecond))

	history, err := a.Client.History(ctx, time.Hour, "", 0)
	require.NoError(t, err)
	got := map[string]ledger.Record{}
	for _, r := range history {
		got[r.ID] = r
	}
	for _, r := range active {
		require.Equal(t, ledger.Restored, got[r.ID].Result, "record %s: %s %s", r.ID, got[r.ID].Reason, got[r.ID].Error)
	}
	for _, c := range fleet {
		require.Empty(t, helpersLeft(ctx, t, cli, c.ID), "%s keeps no helper", c.Name)
	}
	for _, c := range fleet[:3] {
		require.Equal(t, "tumult-helper found 0", kernelLeftovers(ctx, t, cli, c.ID), "%s keeps no rule or qdisc", c.Name)
	}
}

func TestAgentKill9DuringNetworkFaultThenRestart(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := agCtx(t, 5*time.Minute)
	net := harness.CreateNetwork(ctx, t, cli, "tumult-nf")
	run := harness.Unique("ag-nfcrash")
	labels := map[string]string{runLabel: run, "tumult.enable": "true"}
	harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 2, Labels: labels, Networks: []string{net}})
	a := harness.StartAgent(ctx, t, harness.AgentOptions{Policies: map[string]string{"net.hcl": agPolicies(
		agPolicy{Name: "nf-rate", Labels: labels, Fault: `"network" {
    delay    = "50ms"
    rate     = "1mbit"
    duration = "10m"
  }`, Mean: "1s", MinHealthy: 1, MaxPerDay: 1},
	)}})
	r := nfInjected(ctx, t, a.Client, 1, time.Minute)[0]
	// An nftables table and an htb qdisc on each of its two interfaces.
	require.True(t, strings.HasPrefix(kernelLeftovers(ctx, t, cli, r.Member.ID), "tumult-helper found 3\n"), "found: %s", kernelLeftovers(ctx, t, cli, r.Member.ID))

	a.Kill()
	require.Len(t, helpersLeft(ctx, t, cli, r.Member.ID), 1, "kill -9 leaves the fault and its helper in place")
	a.Restart(ctx)
	require.Eventually(t, func() bool {
		f, err := a.Client.Faults(ctx)
		return err == nil && len(f) == 0
	}, time.Minute, 200*time.Millisecond, "the restart should restore the fault left by the crash")
	require.Empty(t, helpersLeft(ctx, t, cli, r.Member.ID), "no helper left")
	require.Equal(t, "tumult-helper found 0", kernelLeftovers(ctx, t, cli, r.Member.ID), "no rule and no qdisc left")
	history, err := a.Client.History(ctx, time.Hour, "", 0)
	require.NoError(t, err)
	for _, h := range history {
		if h.ID == r.ID {
			require.Equal(t, ledger.Restored, h.Result, "%s %s", h.Reason, h.Error)
			return
		}
	}
	t.Fatalf("record %s is missing from the history", r.ID)
}
