//go:build integration

package integration

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/bolt"
)

// lcAgent is the built tumult binary run the way people pipe it:
// `tumult agent -config F 2>&1 | sed '/injected:/q'`. Its stdout and
// stderr are one pipe; the test reads it until a line says "injected:",
// then closes its end, as sed does when it quits.
type lcAgent struct {
	cmd     *exec.Cmd
	dir     string
	addr    string
	client  *api.Client
	exited  chan struct{}
	waitErr error
}

// lcStartPiped writes a config and policies into a temp dir and starts
// the agent with its output on a pipe the test reads until "injected:".
func lcStartPiped(ctx context.Context, t *testing.T, policies string) *lcAgent {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	a := lcStart(t, policies, w)
	_ = w.Close()

	// The reader: read until the first injection, then quit.
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "injected:") {
				lines <- sc.Text()
				break
			}
		}
		_ = r.Close()
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		require.True(t, ok, "the agent's output ended before an injection")
		t.Logf("read, then quit: %s", line)
	case <-a.exited:
		t.Fatalf("the agent exited before an injection: %v", a.waitErr)
	case <-ctx.Done():
		t.Fatal("no injection within the test's time")
	}
	return a
}

// lcStart writes a config and policies into a temp dir and starts the
// agent with its stdout and stderr on out.
func lcStart(t *testing.T, policies string, out *os.File) *lcAgent {
	t.Helper()
	bin := harness.TumultBinary(t)
	a := &lcAgent{dir: t.TempDir(), exited: make(chan struct{})}
	a.addr = strings.TrimPrefix(harness.ClosedAddr(t), "http://")
	require.NoError(t, os.MkdirAll(filepath.Join(a.dir, "policies"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(a.dir, "policies", "p.hcl"), []byte(policies), 0o644))
	cfg := fmt.Sprintf("data_dir = \"data\"\npolicy_dir = \"policies\"\nlog_level = \"info\"\nhttp {\n  address = %q\n}\ndocker \"local\" {}\n", a.addr)
	require.NoError(t, os.WriteFile(filepath.Join(a.dir, "tumult.hcl"), []byte(cfg), 0o644))

	a.cmd = exec.Command(bin, "agent", "-config", filepath.Join(a.dir, "tumult.hcl"))
	a.cmd.Stdout, a.cmd.Stderr = out, out
	require.NoError(t, a.cmd.Start())
	go func() {
		a.waitErr = a.cmd.Wait()
		close(a.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-a.exited:
		default:
			_ = a.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-a.exited:
			case <-time.After(30 * time.Second):
				_ = a.cmd.Process.Kill()
			}
		}
	})
	var err error
	a.client, err = api.NewClient(api.ClientOptions{Address: "http://" + a.addr})
	require.NoError(t, err)
	return a
}

// exitCode waits for the agent to exit and returns its status; a death by
// signal is 128+signal, as a shell shows it (141 for SIGPIPE).
func (a *lcAgent) exitCode(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-a.exited:
	case <-time.After(within):
		t.Fatalf("the agent did not exit within %s", within)
	}
	var ee *exec.ExitError
	if errors.As(a.waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	require.NoError(t, a.waitErr)
	return 0
}

func (a *lcAgent) alive() bool {
	select {
	case <-a.exited:
		return false
	default:
		return true
	}
}

// lcPausePolicy pauses members of the fleet labelled run, one a second,
// all of them if it may.
func lcPausePolicy(run string) string {
	return agPolicies(agPolicy{Name: "lc-pause", Labels: map[string]string{runLabel: run}, Fault: `"pause" { duration = "1h" }`,
		Mean: "1s", MaxDisrupted: `"100%"`, MinHealthy: 0})
}

// lcFleetUp reports whether every member runs unpaused, and which do not.
func lcFleetUp(ctx context.Context, t *testing.T, cli *client.Client, fleet []harness.Container) (bool, string) {
	var down []string
	for _, c := range fleet {
		st := agState(ctx, t, cli, c.ID)
		if !st.Running || st.Paused {
			down = append(down, fmt.Sprintf("%s %+v", c.Name, st))
		}
	}
	return len(down) == 0, strings.Join(down, "; ")
}

// lcLedger opens the stopped agent's ledger.
func lcLedger(t *testing.T, a *lcAgent) *bolt.Store {
	t.Helper()
	store, err := bolt.Open(filepath.Join(a.dir, "data", "ledger.db"), bolt.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	return store
}

// The reader of the agent's output goes away (sed quits, tee dies first
// on Ctrl-C): the agent must not die of the broken pipe. With Ctrl-C it
// restores and exits through its normal shutdown; without it, it goes on
// working with its log lost, and a later halt restores.
func TestAgentSurvivesItsLogReaderGoing(t *testing.T) {
	cli := harness.RequireDocker(t)
	for _, tc := range []struct {
		name   string
		ctrlC  bool
		wantUp string
	}{
		{"then Ctrl-C", true, "restored by the normal shutdown"},
		{"then halt through the API", false, "restored by the halt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := agCtx(t, 3*time.Minute)
			run := harness.Unique("lc-pipe")
			fleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 3,
				Labels: map[string]string{runLabel: run, "tumult.enable": "true"}})
			a := lcStartPiped(ctx, t, lcPausePolicy(run))

			// It goes on: more faults are injected (and logged into the
			// broken pipe) after the reader quit.
			require.Eventually(t, func() bool {
				_, active, err := agRecords(ctx, a.client)
				return err == nil && len(active) >= 2
			}, time.Minute, 100*time.Millisecond, "the agent goes on injecting after its reader quit")
			require.True(t, a.alive(), "the agent died of the broken pipe")

			if tc.ctrlC {
				require.NoError(t, a.cmd.Process.Signal(os.Interrupt))
				require.Equal(t, 0, a.exitCode(t, time.Minute), "exit through the normal shutdown")
			} else {
				st, err := a.client.Halt(ctx, api.HaltRequest{Reason: "the log reader went away"})
				require.NoError(t, err)
				require.Equal(t, ledger.Halted, st.State)
				require.Eventually(t, func() bool {
					ok, _ := lcFleetUp(ctx, t, cli, fleet)
					return ok
				}, time.Minute, 100*time.Millisecond, "the halt restores every member")
				require.True(t, a.alive())
				require.NoError(t, a.cmd.Process.Signal(syscall.SIGTERM))
				require.Equal(t, 0, a.exitCode(t, time.Minute))
			}
			ok, down := lcFleetUp(ctx, t, cli, fleet)
			require.True(t, ok, "%s; still down: %s", tc.wantUp, down)
			active, err := lcLedger(t, a).Active(ctx)
			require.NoError(t, err)
			require.Empty(t, active, "no record left active")
		})
	}
}

// A full disk for the log: every write fails with ENOSPC (/dev/full). The
// agent works on, and Ctrl-C restores and exits through the normal
// shutdown.
func TestAgentWithItsLogOnAFullDisk(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := agCtx(t, 3*time.Minute)
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		harness.Missing(t, "/dev/full", err)
	}
	defer full.Close()
	run := harness.Unique("lc-full")
	fleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 3,
		Labels: map[string]string{runLabel: run, "tumult.enable": "true"}})
	a := lcStart(t, lcPausePolicy(run), full)
	require.Eventually(t, func() bool {
		_, active, err := agRecords(ctx, a.client)
		return err == nil && len(active) >= 2
	}, time.Minute, 100*time.Millisecond, "the agent injects with every log write failing")
	metrics := agGetMetrics(t, "http://"+a.addr+"/metrics")
	v, ok := agMetric(metrics, "tumult_log_write_errors_total")
	require.True(t, ok, "tumult_log_write_errors_total is exported")
	require.Greater(t, v, 0.0, "the lost log lines are counted")
	require.NoError(t, a.cmd.Process.Signal(os.Interrupt))
	require.Equal(t, 0, a.exitCode(t, time.Minute))
	ok, down := lcFleetUp(ctx, t, cli, fleet)
	require.True(t, ok, "restored by the normal shutdown; still down: %s", down)
	active, err := lcLedger(t, a).Active(ctx)
	require.NoError(t, err)
	require.Empty(t, active)
}

func agGetMetrics(t *testing.T, url string) string {
	t.Helper()
	code, body := agGet(t, url, "")
	require.Equal(t, 200, code)
	return body
}
