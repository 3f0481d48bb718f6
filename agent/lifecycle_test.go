package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/agent"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/bolt"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
	"github.com/inferensys/tumult/targets/targettest"
)

// panicky is a target that panics in List once armed: a bug anywhere in a
// goroutine the agent runs.
type panicky struct {
	*targettest.Fake
	armed atomic.Bool
}

func (p *panicky) List(ctx context.Context, sel policies.Selector) (targets.Fleet, error) {
	if p.armed.Load() {
		panic("injected: a bug in the scheduler's loop")
	}
	return p.Fake.List(ctx, sel)
}

type oneTarget struct{ t targets.Target }

func (o oneTarget) Target(policies.Driver, string) (targets.Target, error) { return o.t, nil }

const pausePolicy = `
policy "pause-all" {
  target "docker" {
    labels = { "app" = "web" }
  }
  fault "pause" {
    duration = "1h"
  }
  window {
    cron     = "@daily"
    duration = "24h"
  }
  every {
    mean = "1s"
  }
  limits {
    max_disrupted = "100%"
    min_healthy   = 0
  }
}
`

func lifecycleConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := config.DefaultConfig()
	dir := t.TempDir()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.PolicyDir = filepath.Join(dir, "policies")
	require.NoError(t, os.MkdirAll(cfg.PolicyDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cfg.PolicyDir, "p.hcl"), []byte(pausePolicy), 0o644))
	cfg.Docker = []config.DockerEndpoint{{Name: "local"}}
	cfg.HTTP.Address = "127.0.0.1:0"
	return cfg
}

// A panic in a goroutine of the agent ends Run the way a stop does: every
// running fault restored, the ledger left without an active record, and
// the panic returned.
func TestPanicStopsInOrderAndRestores(t *testing.T) {
	cfg := lifecycleConfig(t)
	fake := targettest.New(policies.DriverDocker, "local")
	for _, id := range []string{"web-1", "web-2", "web-3"} {
		fake.Add(id, map[string]string{"app": "web", "tumult.enable": "true"}, "")
	}
	tg := &panicky{Fake: fake}
	a, err := agent.New(agent.Options{Config: cfg, Targets: oneTarget{tg}, StopTimeout: 10 * time.Second})
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- a.Run(t.Context(), nil) }()
	require.Eventually(t, func() bool { return len(fake.Down()) >= 2 }, 20*time.Second, 10*time.Millisecond,
		"the scheduler pauses members")
	tg.armed.Store(true)

	select {
	case err := <-done:
		require.ErrorContains(t, err, "panic in scheduler: run loop: injected: a bug in the scheduler's loop")
	case <-time.After(30 * time.Second):
		t.Fatal("the agent did not stop after the panic")
	}
	require.Empty(t, fake.Down(), "every member restored on the way out")

	store, err := bolt.Open(filepath.Join(cfg.DataDir, "ledger.db"), bolt.Options{})
	require.NoError(t, err)
	defer store.Close()
	active, err := store.Active(context.Background())
	require.NoError(t, err)
	require.Empty(t, active)
	hist, err := store.History(context.Background(), ledger.HistoryQuery{})
	require.NoError(t, err)
	require.NotEmpty(t, hist)
	for _, r := range hist {
		if r.Result != ledger.Skipped {
			require.Equal(t, ledger.Restored, r.Result, "%s: %s", r.ID, r.Reason)
		}
	}
}

// Faults an earlier run left are restored before the policies are read:
// a policy directory that does not load does not keep them in place.
func TestRecoveryComesBeforePolicies(t *testing.T) {
	cfg := lifecycleConfig(t)
	require.NoError(t, os.WriteFile(filepath.Join(cfg.PolicyDir, "broken.hcl"), []byte(`policy "x" {`), 0o644))
	require.NoError(t, os.MkdirAll(cfg.DataDir, 0o700))
	store, err := bolt.Open(filepath.Join(cfg.DataDir, "ledger.db"), bolt.Options{})
	require.NoError(t, err)
	fake := targettest.New(policies.DriverDocker, "local")
	fake.Add("web-1", map[string]string{"app": "web", "tumult.enable": "true"}, "")
	m := targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: "web-1", Name: "web-1"}
	spec := policies.FaultSpec{Kind: policies.FaultPause, Duration: time.Hour}
	require.NoError(t, fake.Inject(context.Background(), m, spec))
	require.NoError(t, store.Begin(context.Background(), ledger.Record{ID: "left-behind", Policy: "gone", Member: m, Fault: spec, Phase: ledger.Injected}))
	require.NoError(t, store.Close())

	a, err := agent.New(agent.Options{Config: cfg, Targets: oneTarget{fake}, StopTimeout: 10 * time.Second})
	require.NoError(t, err)
	err = a.Run(t.Context(), nil)
	require.ErrorContains(t, err, "have errors")
	require.Empty(t, fake.Down(), "restored though the policies do not load")
}
