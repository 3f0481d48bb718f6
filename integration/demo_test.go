//go:build integration

package integration

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/internal/testlog"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/bolt"
)

// `make demo 2>&1 | tee demo.log`, a fault running, then Ctrl-C: the
// terminal sends SIGINT to the whole foreground group, tee dies first and
// the demo's output goes nowhere. The demo must still stop tumult, which
// restores the fault, remove its fleet, and exit 0; nothing is left
// running. The script runs here with its output on a pipe, as under tee,
// in a process group of its own that stands for the terminal's.
func TestDemoPipedCtrlCRestoresAndCleansUp(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := agCtx(t, 4*time.Minute)
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	demo := filters.NewArgs(filters.Arg("label", "app=tumult-demo"))
	left, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: demo})
	require.NoError(t, err)
	require.Empty(t, left, "a demo fleet is up on this engine already (make demo running?); this test runs its own")
	if l, err := net.Listen("tcp", "127.0.0.1:8742"); err != nil {
		t.Fatalf("the demo's address 127.0.0.1:8742 is taken (make demo running?): %v", err)
	} else {
		_ = l.Close()
	}

	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd := exec.Command("bash", "scripts/demo.sh")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DEMO_FLEET=2", "TUMULT_BIN="+harness.TumultBinary(t))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	_ = w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// Whatever the test saw: no demo left behind.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		list, _ := cli.ContainerList(context.Background(), container.ListOptions{All: true, Filters: demo})
		for _, c := range list {
			_ = cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true})
		}
	})

	// The log, as tee would show it, until tee "dies".
	var log testlog.Buffer
	go func() { _, _ = io.Copy(&log, r) }()
	client, err := api.NewClient(api.ClientOptions{Address: "127.0.0.1:8742"})
	require.NoError(t, err)
	if !assert.Eventually(t, func() bool { return client.Health(ctx) == nil }, 2*time.Minute, 200*time.Millisecond) {
		t.Fatalf("the demo's agent never answered; its output:\n%s", log.String())
	}

	// A fault running now: arm the demo (a halt or pause may be carried
	// over from an earlier demo) and pause a member. The demo's own
	// faults may hold the fleet's one slot, or its members may not be
	// healthy yet: ask again until a gate lets it through. (EventuallyWithT
	// runs one try at a time and hands the last over through a channel.)
	_, err = client.Resume(ctx, api.ResumeRequest{Reason: "demo test"})
	require.NoError(t, err)
	var injected ledger.Record
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r, err := client.Inject(ctx, api.InjectRequest{Policy: "demo-pause", Reason: "demo test"})
		require.NoError(c, err, "inject")
		injected = r
	}, time.Minute, 500*time.Millisecond, "inject kept being refused")
	require.Equal(t, ledger.Injected, injected.Phase)

	// tee dies of the Ctrl-C first; the script and tumult get it too.
	require.NoError(t, r.Close())
	require.NoError(t, syscall.Kill(-cmd.Process.Pid, syscall.SIGINT))
	select {
	case err := <-exited:
		require.NoError(t, err, "the demo exits 0 after Ctrl-C; its output:\n%s", log.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("the demo did not end within 90s of Ctrl-C; its output:\n%s", log.String())
	}

	// Nothing left: no agent of the demo, no fleet, no unfinished record.
	require.Error(t, client.Health(ctx), "the demo's agent still answers after the demo ended")
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: demo})
	require.NoError(t, err)
	require.Empty(t, list, "the demo fleet is removed")
	store, err := bolt.Open(filepath.Join(root, "examples", ".demo-data", "ledger.db"), bolt.Options{})
	require.NoError(t, err)
	defer func() { _ = store.Close() }()
	active, err := store.Active(ctx)
	require.NoError(t, err)
	require.Empty(t, active, "every fault restored before the agent exited")
	got, err := store.History(ctx, ledger.HistoryQuery{Since: time.Now().Add(-time.Hour)})
	require.NoError(t, err)
	var restored bool
	for _, h := range got {
		if h.ID == injected.ID {
			restored = h.Result == ledger.Restored
		}
	}
	require.True(t, restored, "the injected pause was restored by the agent's stop")
}
