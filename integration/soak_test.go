//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
)

// soakFaults are the fault kinds the crash soak keeps active, one policy
// each, every one of them a second apart on average.
var soakFaults = []struct{ name, fault string }{
	{"kill", `"kill" {
    signal        = "SIGKILL"
    restore_after = "3s"
  }`},
	{"stop", `"stop" {
    timeout       = "1s"
    restore_after = "3s"
  }`},
	{"pause", `"pause" { duration = "3s" }`},
	{"restart", `"restart" { timeout = "1s" }`},
	{"signal", `"signal" { signal = "SIGHUP" }`},
}

// TestCrashSoak kills the tumult binary with SIGKILL at random moments
// while faults of every kind are active (or being injected, or being
// recovered after the last kill), starts it again, and repeats, for
// TUMULT_SOAK_CYCLES cycles (default 10; `make soak` runs 100). Then it
// stops tumult cleanly and counts
//
//	orphaned: members left down (not running, or paused) — a fault
//	          nothing restored
//	lost:     faults Docker saw (a pause, or a kill signal, which kill,
//	          stop, restart and signal all send) that no ledger record
//	          covers (decided before, finished after): a fault injected
//	          without its write-ahead record
//
// and requires both to be zero, and no record left active.
func TestCrashSoak(t *testing.T) {
	cli := harness.RequireDocker(t)
	cycles := 10
	if s := os.Getenv("TUMULT_SOAK_CYCLES"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err, "TUMULT_SOAK_CYCLES")
		require.True(t, n >= 1 && n <= 1000, "TUMULT_SOAK_CYCLES=%d: want 1 to 1000", n)
		cycles = n
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("TUMULT_SOAK_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		require.NoError(t, err, "TUMULT_SOAK_SEED")
		seed = n
	}
	t.Logf("soak: %d cycles, seed %d (TUMULT_SOAK_SEED repeats the kill moments)", cycles, seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	ctx := agCtx(t, time.Duration(cycles)*10*time.Second+3*time.Minute)
	run := harness.Unique("soak")
	labels := map[string]string{runLabel: run, "tumult.enable": "true"}
	fleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 2 * len(soakFaults), Labels: labels})
	// Not opted in: the end marker of the event stream.
	sentinel := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-end", N: 1, Labels: map[string]string{runLabel: run}})[0]
	seen := soakWatch(ctx, t, cli, run, sentinel.ID)
	var ps []agPolicy
	for _, f := range soakFaults {
		ps = append(ps, agPolicy{Name: "soak-" + f.name, Labels: labels, Fault: f.fault, Mean: "1s", MaxDisrupted: `"100%"`})
	}
	a := harness.StartAgent(ctx, t, harness.AgentOptions{LogLevel: "info", Policies: map[string]string{"soak.hcl": agPolicies(ps...)}})

	for i := range cycles {
		// A random moment: right after the start (recovery under way),
		// or with faults piling up.
		wait := time.Duration(rng.Int64N(int64(2500 * time.Millisecond)))
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			t.Fatalf("cycle %d: %v", i+1, ctx.Err())
		}
		a.Kill()
		a.Restart(ctx)
	}
	// The last start recovers; then a clean stop restores what runs.
	_, err := a.Stop(time.Minute)
	require.NoError(t, err, "clean stop at the end")
	// SIGHUP, which the fleet program ignores: once its event is in,
	// every earlier one is.
	require.NoError(t, cli.ContainerKill(ctx, sentinel.ID, "SIGHUP"))
	faults := <-seen

	orphaned := 0
	for _, c := range fleet {
		if st := agState(ctx, t, cli, c.ID); !st.Running || st.Paused {
			orphaned++
			t.Errorf("orphaned: %s is %+v", c.Name, st)
		}
	}
	store := agOpenLedger(t, a)
	active, err := store.Active(ctx)
	require.NoError(t, err)
	hist, err := store.History(ctx, ledger.HistoryQuery{})
	require.NoError(t, err)
	records := map[string][]ledger.Record{}
	injected := 0
	for _, r := range append(active, hist...) {
		records[r.Member.ID] = append(records[r.Member.ID], r)
		if !r.Injected.IsZero() {
			injected++
		}
	}
	lost := 0
	for _, f := range faults {
		if !soakCovered(records[f.id], f.at) {
			lost++
			t.Errorf("lost: docker %s of %s at %s has no ledger record", f.action, f.id[:12], f.at.Format(time.RFC3339Nano))
		}
	}
	fmt.Printf("crash soak: cycles run %d, faults seen by docker %d, records %d (%d injected), faults orphaned %d, records lost %d, left active %d\n",
		cycles, len(faults), len(hist)+len(active), injected, orphaned, lost, len(active))
	require.Zero(t, orphaned, "faults orphaned")
	require.Zero(t, lost, "records lost")
	require.Empty(t, active, "records left active after the clean stop")
	require.NotZero(t, injected, "the soak injected nothing: it tested nothing")
}

type soakFault struct {
	id, action string
	at         time.Time
}

// soakWatch follows the pause and kill events of the run's containers
// from now on (every fault kind sends one; Docker keeps too few past
// events to ask afterwards) until the sentinel's kill event, and then
// sends what it saw.
func soakWatch(ctx context.Context, t *testing.T, cli *client.Client, run, sentinel string) <-chan []soakFault {
	t.Helper()
	msgs, errs := cli.Events(ctx, events.ListOptions{
		// From now, though the stream may take a moment to be set up.
		Since: gdDockerTime(time.Now()),
		Filters: filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)),
			filters.Arg("label", runLabel+"="+run), filters.Arg("event", string(events.ActionPause)), filters.Arg("event", string(events.ActionKill))),
	})
	out := make(chan []soakFault, 1)
	go func() {
		var seen []soakFault
		defer func() { out <- seen }()
		for {
			select {
			case m := <-msgs:
				if m.Actor.ID == sentinel {
					return
				}
				seen = append(seen, soakFault{id: m.Actor.ID, action: string(m.Action), at: time.Unix(0, m.TimeNano)})
			case err := <-errs:
				if !errors.Is(err, io.EOF) && ctx.Err() == nil {
					t.Errorf("docker events: %v", err)
				}
				return
			}
		}
	}()
	return out
}

// soakCovered reports whether one of the member's records was open at
// at: decided at or before it, and not finished before it.
func soakCovered(recs []ledger.Record, at time.Time) bool {
	for _, r := range recs {
		if r.Decided.After(at) {
			continue
		}
		if r.Phase != ledger.Finished || !r.Finished.Before(at) {
			return true
		}
	}
	return false
}
