//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
)

// Broken and hostile input, met by the real binary. Each test is one
// example of a kind: tumult never hangs on it, never loses a fault to it,
// and says what happened in one line.

// TestAgentSurvivesFIFOInPolicyDir: a FIFO named *.hcl in policy_dir once
// blocked every reload in open(2) for good, and with it SIGTERM's restore.
// Now the file watcher, SIGHUP and POST /v1/reload each answer at once with
// an error naming the FIFO, later edits load, and SIGTERM exits and
// restores the running fault.
func TestAgentSurvivesFIFOInPolicyDir(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := agCtx(t, 3*time.Minute)
	run := harness.Unique("ag-fifo")
	labels := map[string]string{runLabel: run, "tumult.enable": "true"}
	harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 2, Labels: labels})
	a := harness.StartAgent(ctx, t, harness.AgentOptions{Policies: map[string]string{"fifo.hcl": agPolicies(
		agPolicy{Name: "ff-pause", Labels: labels, Fault: `"pause" { duration = "60s" }`, Mean: "1s", MinHealthy: 1},
	)}})

	var held ledger.Record
	require.Eventually(t, func() bool {
		f, err := a.Client.Faults(ctx)
		if err != nil || len(f) == 0 || f[0].Phase != ledger.Injected {
			return false
		}
		held = f[0]
		return true
	}, 30*time.Second, 200*time.Millisecond, "a pause fault should be active")
	harness.WaitFor(ctx, t, cli, held.Member.ID, 10*time.Second, "be paused", func(i container.InspectResponse) bool { return i.State.Paused })

	fifo := filepath.Join(a.PolicyDir, "zz.hcl")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	reloadOK := func() float64 {
		v, ok := agMetric(agMetrics(t, a), "tumult_config_last_reload_successful")
		require.True(t, ok)
		return v
	}
	require.Eventually(t, func() bool { return reloadOK() == 0 }, 15*time.Second, 100*time.Millisecond,
		"the file watcher should reload and refuse the FIFO")

	// The API answers, and says why.
	res, err := a.Client.Reload(ctx)
	require.NoError(t, err)
	require.False(t, res.OK)
	require.True(t, slices.ContainsFunc(res.Errors, func(e string) bool {
		return strings.Contains(e, fifo+":1:1") && strings.Contains(e, "is not a regular file but a named pipe (FIFO)")
	}), "errors should name the FIFO: %q", res.Errors)

	// SIGHUP reloads too, and comes back: its reload is logged done.
	before := strings.Count(a.Log(), "Not a policy file")
	require.NoError(t, syscall.Kill(a.PID(), syscall.SIGHUP))
	require.Eventually(t, func() bool { return strings.Count(a.Log(), "Not a policy file") > before }, 10*time.Second, 100*time.Millisecond,
		"SIGHUP's reload should report the FIFO")

	// Once the FIFO is gone, edits load again.
	require.NoError(t, os.Remove(fifo))
	a.WritePolicy("more.hcl", agPolicies(agPolicy{Name: "ff-more", Labels: map[string]string{runLabel: run + "-nobody"},
		Fault: `"pause" { duration = "1s" }`, Mean: "24h", MinHealthy: 1}))
	require.Eventually(t, func() bool { return reloadOK() == 1 }, 15*time.Second, 100*time.Millisecond,
		"a later edit should load")

	// A FIFO put back does not hold up the stop and its restore.
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	require.NoError(t, syscall.Kill(a.PID(), syscall.SIGHUP))
	took, err := a.Stop(20 * time.Second)
	require.NoError(t, err, "the agent should exit within 20s of SIGTERM")
	t.Logf("agent exited %s after SIGTERM", took.Round(time.Millisecond))
	s := agState(ctx, t, cli, held.Member.ID)
	require.True(t, s.Running && !s.Paused, "%s after the agent stopped: %+v", held.Member.Short(), s)
}
