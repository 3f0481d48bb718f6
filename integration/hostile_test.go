//go:build integration

package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
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

// TestAgentFullDiskPauseAnswers503: with data_dir on a full file system a
// pause cannot be recorded. The answer is 503 (retry once there is room),
// as the README says, with the cause but not the ledger's file path; with
// room again the same pause is recorded.
func TestAgentFullDiskPauseAnswers503(t *testing.T) {
	if os.Geteuid() != 0 {
		harness.Missing(t, "root (to mount a small tmpfs as data_dir)", fmt.Errorf("euid %d", os.Geteuid()))
	}
	ctx := agCtx(t, 2*time.Minute)
	// Per-policy pauses pile up in the control state: enough of them make
	// the ledger file grow, which a full disk refuses (bbolt rewrites
	// pages it already has in place).
	var ps []agPolicy
	for i := range 60 {
		ps = append(ps, agPolicy{Name: fmt.Sprintf("fd-%02d", i), Labels: map[string]string{runLabel: harness.Unique("fd-nobody")},
			Fault: `"pause" { duration = "1s" }`, Mean: "24h", MinHealthy: 1})
	}
	a := harness.StartAgent(ctx, t, harness.AgentOptions{Policies: map[string]string{"fd.hcl": agPolicies(ps...)}})
	_, err := a.Stop(20 * time.Second)
	require.NoError(t, err)
	// A small tmpfs over data_dir: the agent starts a new ledger there.
	out, err := exec.CommandContext(ctx, "mount", "-t", "tmpfs", "-o", "size=1m", "tumult-full-disk", a.DataDir).CombinedOutput()
	if err != nil {
		harness.Missing(t, "mount -t tmpfs", fmt.Errorf("%w: %s", err, out))
	}
	t.Cleanup(func() {
		_, _ = a.Stop(20 * time.Second)
		_ = exec.Command("umount", "-l", a.DataDir).Run()
	})
	a.Restart(ctx)

	filler := filepath.Join(a.DataDir, "filler")
	f, err := os.Create(filler)
	require.NoError(t, err)
	chunk := make([]byte, 64<<10)
	for range 64 { // at most 4 MiB into a 1 MiB file system
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, syscall.ENOSPC, "the file system should be full")
	require.NoError(t, f.Close())

	reason := strings.Repeat("r", 1000)
	var pauseErr error
	for _, p := range ps {
		if _, pauseErr = a.Client.Pause(ctx, api.PauseRequest{Policy: p.Name, Reason: reason}); pauseErr != nil {
			break
		}
	}
	require.Error(t, pauseErr, "a pause on a full disk cannot be recorded")
	var ae *api.APIError
	require.True(t, errors.As(pauseErr, &ae), "%v", pauseErr)
	require.Equal(t, 503, ae.Status, ae.Message)
	require.ErrorIs(t, pauseErr, api.ErrUnavailable)
	require.Contains(t, ae.Message, "no space left on device")
	require.NotContains(t, ae.Message, a.DataDir, "the answer does not reveal where the ledger is")
	require.NotContains(t, ae.Message, "ledger.db")
	require.Contains(t, a.Log(), "ledger failed; the API answered 503")

	require.NoError(t, os.Remove(filler))
	ctl, err := a.Client.Pause(ctx, api.PauseRequest{Policy: ps[len(ps)-1].Name, Reason: "room again"})
	require.NoError(t, err)
	require.Equal(t, "room again", ctl.Policies[ps[len(ps)-1].Name].Reason)
}
