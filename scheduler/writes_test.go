package scheduler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/ledgertest"
)

// gatedLedger counts UpdateMany calls and holds the first until released.
type gatedLedger struct {
	*ledgertest.Memory
	mu      sync.Mutex
	batches []int
	entered chan struct{}
	release chan struct{}
}

func (g *gatedLedger) UpdateMany(ctx context.Context, ups []ledger.RecordUpdate) ([]ledger.Record, []error) {
	g.mu.Lock()
	g.batches = append(g.batches, len(ups))
	first := len(g.batches) == 1
	g.mu.Unlock()
	if first {
		close(g.entered)
		<-g.release
	}
	return g.Memory.UpdateMany(ctx, ups)
}

func TestWritesGroupConcurrentUpdates(t *testing.T) {
	mem := ledgertest.NewMemory(func() time.Time { return t0 })
	const n = 20
	for i := range n {
		require.NoError(t, mem.Begin(t.Context(), ledger.Record{ID: fmt.Sprint("r", i), Policy: "p", Phase: ledger.Injected}))
	}
	g := &gatedLedger{Memory: mem, entered: make(chan struct{}), release: make(chan struct{})}
	w := &writes{l: g}
	restoring := func(r *ledger.Record) error { r.Phase = ledger.Restoring; return nil }

	type res struct {
		rec ledger.Record
		err error
	}
	results := make([]res, n+1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); results[0].rec, results[0].err = w.Update(t.Context(), "r0", restoring) }()
	<-g.entered // the first write is under way: the rest queue behind it
	for i := 1; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i].rec, results[i].err = w.Update(t.Context(), fmt.Sprint("r", i), restoring)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		results[n].rec, results[n].err = w.Update(t.Context(), "unknown", restoring)
	}()
	require.Eventually(t, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.queue) == n
	}, 5*time.Second, time.Millisecond)
	close(g.release)
	wg.Wait()

	require.Equal(t, []int{1, n}, g.batches, "one write for the first, one for all that came while it ran")
	for i := range n {
		require.NoError(t, results[i].err)
		require.Equal(t, ledger.Restoring, results[i].rec.Phase)
	}
	require.ErrorIs(t, results[n].err, ledger.ErrNotFound, "an update's error is its own")
	active, err := mem.Active(t.Context())
	require.NoError(t, err)
	for _, r := range active {
		require.Equal(t, ledger.Restoring, r.Phase, r.ID)
	}

	// Idle again: a lone write goes at once, alone.
	_, err = w.Update(t.Context(), "r0", func(r *ledger.Record) error { r.AddStep(t0, "again"); return nil })
	require.NoError(t, err)
	require.Equal(t, []int{1, n, 1}, g.batches)
}

func TestWritesPanicFailsTheBatchAndFreesTheNext(t *testing.T) {
	mem := ledgertest.NewMemory(func() time.Time { return t0 })
	require.NoError(t, mem.Begin(t.Context(), ledger.Record{ID: "r", Policy: "p", Phase: ledger.Injected}))
	w := &writes{l: mem}
	require.Panics(t, func() {
		_, _ = w.Update(t.Context(), "r", func(*ledger.Record) error { panic("boom") })
	})
	rec, err := w.Update(t.Context(), "r", func(r *ledger.Record) error { r.Phase = ledger.Restoring; return nil })
	require.NoError(t, err, "the writer that panicked does not block the next")
	require.Equal(t, ledger.Restoring, rec.Phase)
	require.False(t, errors.Is(err, errWriterPanicked))
}
