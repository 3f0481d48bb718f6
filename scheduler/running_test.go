package scheduler

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
)

// TestRestoreRunningLeavesOtherRecords: RestoreRunning restores the runs
// of this process (those keep selects) and adopts no other unfinished
// record of the ledger — on a follower those are the leader's.
func TestRestoreRunningLeavesOtherRecords(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, 6)
	mk := func(name string) *policies.Policy {
		return pol(t, name, func(p *policies.Policy) {
			p.Fault = policies.FaultSpec{Kind: policies.FaultPause, Duration: time.Hour}
			p.Limits = policies.Limits{MaxDisrupted: policies.Quantity{Count: 4}, MinHealthy: 1}
		})
	}
	a, b := mk("a"), mk("b")
	r.engine.SetPolicies([]*policies.Policy{a, b})
	for i, p := range []*policies.Policy{a, a, b} {
		rec := r.engine.Decide(ctx, p, t0.Add(time.Duration(i)*time.Minute))
		require.Equal(t, ledger.Injected, rec.Phase, rec.Reason)
	}
	// Another replica's record: active in the shared ledger, not run here.
	require.NoError(t, r.ledger.Begin(ctx, ledger.Record{ID: "elsewhere", Policy: "a", Phase: ledger.Injected}))

	n, err := r.engine.RestoreRunning(ctx, "halted by bob: incident", func(rec ledger.Record) bool { return rec.Policy == "a" })
	require.NoError(t, err)
	require.Equal(t, 2, n)
	require.Len(t, r.fleet.Down(), 1, "b's fault runs on")
	active, err := r.ledger.Active(ctx)
	require.NoError(t, err)
	var ids []string
	for _, rec := range active {
		ids = append(ids, rec.ID)
	}
	require.Len(t, ids, 2)
	require.Contains(t, ids, "elsewhere", "a record this process does not run is left alone")

	n, err = r.engine.RestoreRunning(ctx, "stop", nil)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Empty(t, r.fleet.Down())
	active, err = r.ledger.Active(ctx)
	require.NoError(t, err)
	require.Len(t, active, 1)
	require.Equal(t, "elsewhere", active[0].ID)
}
