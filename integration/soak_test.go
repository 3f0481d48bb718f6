//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
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

// soakHelperFaults are the kinds that work through a helper container:
// they act on a second fleet, on an internal network of the test's own
// and under a small CPU quota that bounds the stressors. The partition
// drops traffic to a TEST-NET range: nothing is ever sent there, but the
// drop rule is installed and must be removed.
var soakHelperFaults = []struct{ name, fault string }{
	{"network", `"network" {
    delay    = "50ms"
    loss     = 1
    duration = "3s"
  }`},
	{"partition", `"partition" {
    duration = "3s"
    to {
      cidrs = ["192.0.2.0/24"]
    }
  }`},
	{"stress", `"stress" {
    duration    = "3s"
    cpu_workers = 1
  }`},
}

// soakHelperCPUs is the CPU quota of the helper kinds' members, so that a
// stress fault costs the shared machine at most this.
const soakHelperCPUs = 0.1

// TestCrashSoak kills the tumult binary with SIGKILL at random moments
// while faults of every kind are active (or being injected, or being
// recovered after the last kill), starts it again, and repeats, for
// TUMULT_SOAK_CYCLES cycles (default 10; `make soak` runs 100); the first
// kill waits until a network, a partition and a stress fault are in
// place together. Then it
// stops tumult cleanly and counts
//
//	orphaned: members left degraded — a fault nothing restored: down
//	          (not running, or paused),
//	          or keeping a helper container, or (network and partition)
//	          keeping a table or qdisc of tumult's in its namespace
//	lost:     faults Docker saw (a pause, a kill signal, which kill,
//	          stop, restart and signal all send, or the start of a
//	          helper container for a member) that no ledger record
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
	net := harness.CreateNetwork(ctx, t, cli, "tumult-soak")
	helperLabels := map[string]string{runLabel: run, "tumult.enable": "true", "soak": "helper"}
	helperFleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-h", N: 2 * len(soakHelperFaults),
		Labels: helperLabels, Networks: []string{net}, CPUs: soakHelperCPUs})
	members := map[string]bool{}
	for _, c := range append(fleet, helperFleet...) {
		members[c.ID] = true
	}
	// Not opted in: the end marker of the event stream.
	sentinel := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-end", N: 1, Labels: map[string]string{runLabel: run}})[0]
	seen := soakWatch(ctx, t, cli, run, sentinel.ID, members)
	var ps []agPolicy
	for _, f := range soakFaults {
		ps = append(ps, agPolicy{Name: "soak-" + f.name, Labels: labels, Fault: f.fault, Mean: "1s", MaxDisrupted: `"100%"`})
	}
	for _, f := range soakHelperFaults {
		ps = append(ps, agPolicy{Name: "soak-" + f.name, Labels: helperLabels, Fault: f.fault, Mean: "1s", MaxDisrupted: `"100%"`})
	}
	a := harness.StartAgent(ctx, t, harness.AgentOptions{LogLevel: "info", Policies: map[string]string{"soak.hcl": agPolicies(ps...)}})

	// The first kill comes while a fault of each helper kind is in
	// place, so that every run leaves helpers, rules and stressors for
	// the next start to restore; the helper kinds are too few in a short
	// run to count on the random moments for that.
	require.Eventually(t, func() bool {
		f, err := a.Client.Faults(ctx)
		if err != nil {
			return false
		}
		in := map[policies.FaultKind]bool{}
		for _, r := range f {
			if r.Phase == ledger.Injected {
				in[r.Fault.Kind] = true
			}
		}
		for _, k := range soakHelperFaults {
			if !in[policies.FaultKind(k.name)] {
				return false
			}
		}
		return true
	}, time.Minute, 50*time.Millisecond, "a fault of each helper kind should be in place at once")
	a.Kill()
	a.Restart(ctx)
	for i := 1; i < cycles; i++ {
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
	orphaned := 0
	for _, c := range append(fleet, helperFleet...) {
		if st := agState(ctx, t, cli, c.ID); !st.Running || st.Paused {
			orphaned++
			t.Errorf("orphaned: %s is %+v", c.Name, st)
			continue
		}
		if left := helpersLeft(ctx, t, cli, c.ID); len(left) > 0 {
			orphaned++
			t.Errorf("orphaned: %s keeps helpers %v", c.Name, left)
			continue
		}
		if soakNetworked(records[c.ID]) {
			if got := kernelLeftovers(ctx, t, cli, c.ID); got != "tumult-helper found 0" {
				orphaned++
				t.Errorf("orphaned: %s keeps kernel state: %s", c.Name, got)
			}
		}
	}
	kinds := map[policies.FaultKind]int{}
	for _, rs := range records {
		for _, r := range rs {
			if !r.Injected.IsZero() {
				kinds[r.Fault.Kind]++
			}
		}
	}
	lost := 0
	for _, f := range faults {
		if !soakCovered(records[f.id], f.at) {
			lost++
			t.Errorf("lost: docker %s of %s at %s has no ledger record", f.action, f.id[:12], f.at.Format(time.RFC3339Nano))
		}
	}
	fmt.Printf("crash soak: cycles run %d, faults seen by docker %d, records %d (%d injected: %s), faults orphaned %d, records lost %d, left active %d\n",
		cycles, len(faults), len(hist)+len(active), injected, soakKinds(kinds), orphaned, lost, len(active))
	require.Zero(t, orphaned, "faults orphaned")
	require.Zero(t, lost, "records lost")
	require.Empty(t, active, "records left active after the clean stop")
	require.NotZero(t, injected, "the soak injected nothing: it tested nothing")
	for _, f := range soakHelperFaults {
		require.NotZero(t, kinds[policies.FaultKind(f.name)], "no %s fault was injected: the soak did not test it", f.name)
	}
}

// soakNetworked reports whether a network or partition fault was put on
// the member, whose namespace must then hold nothing of tumult's.
func soakNetworked(recs []ledger.Record) bool {
	for _, r := range recs {
		if r.Fault.Kind == policies.FaultNetwork || r.Fault.Kind == policies.FaultPartition {
			return true
		}
	}
	return false
}

// soakKinds prints the injected faults by kind, in a stable order.
func soakKinds(kinds map[policies.FaultKind]int) string {
	var parts []string
	for k, n := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

type soakFault struct {
	id, action string
	at         time.Time
}

// soakWatch follows, from now on, the pause and kill events of the run's
// containers and the start of helper containers for its members (every
// fault kind causes one; Docker keeps too few past events to ask
// afterwards) until the sentinel's kill event, and then sends what it
// saw. Helpers carry no run label, so the stream is filtered here, by
// the member each helper names.
func soakWatch(ctx context.Context, t *testing.T, cli *client.Client, run, sentinel string, members map[string]bool) <-chan []soakFault {
	t.Helper()
	msgs, errs := cli.Events(ctx, events.ListOptions{
		// From now, though the stream may take a moment to be set up.
		Since: gdDockerTime(time.Now()),
		Filters: filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)),
			filters.Arg("event", string(events.ActionPause)), filters.Arg("event", string(events.ActionKill)),
			filters.Arg("event", string(events.ActionStart))),
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
				at := time.Unix(0, m.TimeNano)
				switch {
				case m.Action == events.ActionStart:
					if member := m.Actor.Attributes["tumult.helper.member"]; members[member] {
						seen = append(seen, soakFault{id: member, action: "start of a " + m.Actor.Attributes["tumult.helper"] + " helper", at: at})
					}
				case m.Actor.Attributes[runLabel] == run:
					seen = append(seen, soakFault{id: m.Actor.ID, action: string(m.Action), at: at})
				}
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
