package bolt

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/ledgertest"
)

func TestConformance(t *testing.T) {
	ledgertest.Run(t,
		func(t *testing.T) ledger.Ledger {
			return open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{})
		},
		func(t *testing.T, old ledger.Ledger) ledger.Ledger {
			s := old.(*Store)
			require.NoError(t, s.Close())
			return open(t, s.Path(), Options{})
		})
}

// open opens a store that the test closes at its end.
func open(t *testing.T, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// clock is a fake clock that tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var t0 = time.Date(2026, 10, 16, 9, 0, 0, 0, time.UTC)

// injectAndFinish writes a record that was injected and then finished, both
// at the clock's current time.
func injectAndFinish(t *testing.T, s *Store, clk *clock, id, policy string) {
	t.Helper()
	now := clk.Now()
	require.NoError(t, s.Begin(t.Context(), ledger.Record{ID: id, Policy: policy, Phase: ledger.Intent}))
	_, err := s.Update(t.Context(), id, func(r *ledger.Record) error {
		r.Phase, r.Injected = ledger.Injected, now
		return nil
	})
	require.NoError(t, err)
	_, err = s.Update(t.Context(), id, func(r *ledger.Record) error {
		r.Phase, r.Result = ledger.Finished, ledger.Passed
		return nil
	})
	require.NoError(t, err)
}

func historyIDs(t *testing.T, s *Store) []string {
	t.Helper()
	h, err := s.History(t.Context(), ledger.HistoryQuery{})
	require.NoError(t, err)
	var out []string
	for _, r := range h {
		out = append(out, r.ID)
	}
	return out
}

func TestRetentionMaxHistory(t *testing.T) {
	clk := &clock{now: t0}
	path := filepath.Join(t.TempDir(), "ledger.db")
	s := open(t, path, Options{MaxHistory: 5, Now: clk.Now})
	for i := range 20 {
		clk.Add(time.Minute)
		injectAndFinish(t, s, clk, fmt.Sprintf("r%02d", i), "p")
	}
	require.Equal(t, []string{"r19", "r18", "r17", "r16", "r15"}, historyIDs(t, s))
	_, hist := s.stats()
	require.Equal(t, 5, hist, "the stored history count follows the pruning")

	n, err := s.CountSince(t.Context(), "p", t0)
	require.NoError(t, err)
	require.Equal(t, 20, n, "MaxHistory does not make max_per_day forget today's faults")

	// A pruned ID is free again; a kept one is not.
	require.NoError(t, s.Begin(t.Context(), ledger.Record{ID: "r00", Policy: "p", Phase: ledger.Intent}))
	require.ErrorIs(t, s.Begin(t.Context(), ledger.Record{ID: "r19", Policy: "p", Phase: ledger.Intent}), ledger.ErrExists)
}

func TestRetentionAge(t *testing.T) {
	clk := &clock{now: t0}
	s := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{Retention: time.Hour, Now: clk.Now})

	injectAndFinish(t, s, clk, "old", "p")
	clk.Add(30 * time.Minute)
	injectAndFinish(t, s, clk, "mid", "p")
	require.Equal(t, []string{"mid", "old"}, historyIDs(t, s), "both are younger than an hour")

	clk.Add(31 * time.Minute)
	injectAndFinish(t, s, clk, "new", "p")
	require.Equal(t, []string{"new", "mid"}, historyIDs(t, s), "old is past retention")

	n, err := s.CountSince(t.Context(), "p", t0)
	require.NoError(t, err)
	require.Equal(t, 3, n, "injections stay countable for two days whatever the retention")

	clk.Add(49 * time.Hour)
	injectAndFinish(t, s, clk, "later", "p")
	require.Equal(t, []string{"later"}, historyIDs(t, s))
	n, err = s.CountSince(t.Context(), "p", t0)
	require.NoError(t, err)
	require.Equal(t, 1, n, "injections older than two days and the retention are pruned from the index")
}

func TestRetentionOnOpen(t *testing.T) {
	clk := &clock{now: t0}
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := Open(path, Options{Now: clk.Now})
	require.NoError(t, err)
	for i := range 30 {
		clk.Add(time.Minute)
		injectAndFinish(t, s, clk, fmt.Sprintf("r%02d", i), "p")
	}
	require.NoError(t, s.Close())

	s = open(t, path, Options{Now: clk.Now, MaxHistory: 4})
	require.Equal(t, []string{"r29", "r28", "r27", "r26"}, historyIDs(t, s), "a lowered MaxHistory applies at open")
}

func TestPruneIsBoundedPerWrite(t *testing.T) {
	clk := &clock{now: t0}
	s := open(t, filepath.Join(t.TempDir(), "ledger.db"), Options{Now: clk.Now})
	const n = pruneBudget + 36
	for i := range n {
		clk.Add(time.Second)
		injectAndFinish(t, s, clk, fmt.Sprintf("r%03d", i), "p")
	}
	s.opts.MaxHistory = 10 // as if lowered while running

	injectAndFinish(t, s, clk, "one", "p")
	_, hist := s.stats()
	require.Equal(t, n+1-pruneBudget, hist, "one write prunes at most pruneBudget records")
	require.Len(t, historyIDs(t, s), hist)

	injectAndFinish(t, s, clk, "two", "p")
	_, hist = s.stats()
	require.Equal(t, 10, hist)
	require.Len(t, historyIDs(t, s), 10)
}

func TestLockedByAnother(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	open(t, path, Options{})

	start := time.Now()
	_, err := Open(path, Options{Timeout: 200 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
	require.Contains(t, err.Error(), "ledger "+path+" is locked by another tumult")
	require.Less(t, time.Since(start), 5*time.Second, "Open gives up instead of hanging")
}

func TestSchemaMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keySchema, []byte("99"))
	}))
	require.NoError(t, db.Close())

	_, err = Open(path, Options{})
	require.ErrorContains(t, err, `schema version "99"`)
	// The failed open released the file.
	open(t, filepath.Join(t.TempDir(), "other.db"), Options{})
	db, err = bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 200 * time.Millisecond})
	require.NoError(t, err, "a failed Open must not keep the lock")
	require.NoError(t, db.Close())
}

func TestTimeKeyOrder(t *testing.T) {
	times := []time.Time{
		time.Time{},
		time.Unix(-1, 999_999_999),
		time.Unix(0, 0),
		time.Unix(0, 1),
		t0,
		t0.Add(time.Nanosecond),
		t0.Add(time.Second),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i := range times {
		require.True(t, keyTime(timeKey(times[i])).Equal(times[i]), "round trip of %s", times[i])
		if i > 0 {
			require.Less(t, string(timeKey(times[i-1])), string(timeKey(times[i])), "%s before %s", times[i-1], times[i])
		}
	}
	k := timeIDKey(t0, "abc")
	require.Equal(t, "abc", keyID(k))
}
