package bolt

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// BenchmarkFaultLifecycle measures one fault's ledger cost: Begin, the
// injected update, and the finishing update (three fsync'd transactions).
func BenchmarkFaultLifecycle(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "ledger.db"), Options{})
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, s.Close()) })
	ctx := b.Context()
	member := targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: "4f1c0a9e2b3d", Name: "checkout-1",
		Labels: map[string]string{"app": "checkout", "tumult.enable": "true"}, Healthy: true, Status: "running"}
	fault := policies.FaultSpec{Kind: policies.FaultKill, Signal: "SIGKILL", RestoreAfter: 2 * time.Minute}

	i := 0
	for b.Loop() {
		id := fmt.Sprintf("r%09d", i)
		i++
		require.NoError(b, s.Begin(ctx, ledger.Record{ID: id, Policy: "checkout-crash", Actor: "scheduler", Member: member, Fault: fault, Phase: ledger.Intent}))
		_, err := s.Update(ctx, id, func(r *ledger.Record) error {
			r.Phase, r.Injected = ledger.Injected, time.Now()
			r.AddStep(r.Injected, "injected")
			return nil
		})
		require.NoError(b, err)
		_, err = s.Update(ctx, id, func(r *ledger.Record) error {
			r.Phase, r.Result = ledger.Finished, ledger.Passed
			r.AddStep(time.Now(), "passed")
			return nil
		})
		require.NoError(b, err)
	}
}

// BenchmarkCountSince measures the max_per_day check with a day of 5,000
// injections across 100 policies in the index.
func BenchmarkCountSince(b *testing.B) {
	clk := &clock{now: time.Now().Add(-24 * time.Hour)}
	s, err := Open(filepath.Join(b.TempDir(), "ledger.db"), Options{Now: clk.Now})
	require.NoError(b, err)
	b.Cleanup(func() { require.NoError(b, s.Close()) })
	// One transaction for the setup; the benchmark is about reads.
	require.NoError(b, s.db.Update(func(tx *bbolt.Tx) error {
		for i := range 5000 {
			clk.Add(17 * time.Second)
			r := ledger.Record{ID: fmt.Sprintf("r%05d", i), Policy: fmt.Sprintf("p%03d", i%100), Phase: ledger.Intent, Injected: clk.Now()}
			if err := s.index(tx, ledger.Record{}, r); err != nil {
				return err
			}
		}
		return nil
	}))
	since := time.Now().Add(-24 * time.Hour)
	n := 0
	for b.Loop() {
		n, err = s.CountSince(b.Context(), "p042", since)
		require.NoError(b, err)
	}
	require.Equal(b, 50, n)
}
