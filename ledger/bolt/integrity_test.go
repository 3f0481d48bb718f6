package bolt

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// unfinished is the fault every damaged ledger below forgets: its member
// stays disrupted unless the operator is told.
var unfinished = ledger.Record{
	ID: "f-0001", Policy: "checkout-crash", Actor: "scheduler", Phase: ledger.Injected,
	Member: targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: "4f1c0a9e2b3d", Name: "checkout-1"},
	Fault:  policies.FaultSpec{Kind: policies.FaultStop},
}

// ledgerWithFault writes some finished history and then one unfinished
// fault, so that the file spans several pages and its last transaction
// is the one that recorded the fault.
func ledgerWithFault(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ledger.db")
	clk := &clock{now: t0}
	s, err := Open(path, Options{Now: clk.Now})
	require.NoError(t, err)
	for i := range 30 {
		clk.Add(time.Minute)
		injectAndFinish(t, s, clk, "h-"+string(rune('a'+i%26))+string(rune('a'+i/26)), "p")
	}
	r := unfinished
	r.Injected = clk.Now()
	require.NoError(t, s.Begin(t.Context(), r))
	require.NoError(t, s.Close())
	return path
}

// scribble writes seeded random bytes over page n (page size 4096).
func scribble(t *testing.T, path string, page int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 4096)
	r := rand.New(rand.NewPCG(uint64(page), 12))
	for i := range buf {
		buf[i] = byte(r.Uint32())
	}
	_, err = f.WriteAt(buf, page*4096)
	require.NoError(t, err)
}

// newerMeta is the meta page bbolt wrote last: page txid%2.
func newerMeta(t *testing.T, path string) int64 {
	t.Helper()
	st, err := inspectFile(path)
	require.NoError(t, err)
	require.Empty(t, st.Damage)
	return int64(st.TxID % 2)
}

func TestOpenRefusesDamagedLedger(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   error
	}{
		{"truncated to zero bytes", func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, 0)) }, ErrEmpty},
		{"newer meta page damaged", func(t *testing.T, path string) { scribble(t, path, newerMeta(t, path)) }, ErrRolledBack},
		{"older copy put back", func(t *testing.T, path string) {
			// The copy is what the file held before the fault's record.
			old := filepath.Join(t.TempDir(), "old.db")
			s, err := Open(old, Options{})
			require.NoError(t, err)
			require.NoError(t, s.Close())
			data, err := os.ReadFile(old)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, data, 0o600))
		}, ErrRolledBack},
		{"removed", func(t *testing.T, path string) { require.NoError(t, os.Remove(path)) }, ErrMissing},
		{"truncated to 16384 bytes", func(t *testing.T, path string) { require.NoError(t, os.Truncate(path, 16384)) }, ErrCorrupt},
		{"random bytes over page 2", func(t *testing.T, path string) { scribble(t, path, 2) }, ErrCorrupt},
		{"random bytes over page 3", func(t *testing.T, path string) { scribble(t, path, 3) }, ErrCorrupt},
		{"both meta pages damaged", func(t *testing.T, path string) { scribble(t, path, 0); scribble(t, path, 1) }, ErrCorrupt},
		{"commit marker damaged", func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(MarkerPath(path), []byte("{\"txid\":"), 0o600))
		}, ErrMarker},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := ledgerWithFault(t)
			tt.damage(t, path)

			_, err := Open(path, Options{})
			require.ErrorIs(t, err, tt.want)
			var ie *IntegrityError
			require.ErrorAs(t, err, &ie)
			msg := err.Error()
			require.NotContains(t, msg, "\n", "one line")
			require.Contains(t, msg, path)
			require.Contains(t, msg, "tumult ledger accept "+path)
			if tt.want != ErrMarker {
				require.Contains(t, msg, "f-0001 (policy checkout-crash, stop on checkout-1 docker/local/4f1c0a9e2b3d)",
					"the operator learns which fault may be left active")
			}

			rep := Check(path, time.Second)
			require.False(t, rep.OK())
			require.Equal(t, tt.want.Error(), rep.State)

			did, err := Accept(path, t0)
			require.NoError(t, err)
			require.NotEmpty(t, did)
			s, err := Open(path, Options{})
			require.NoError(t, err, "accepted, the ledger opens")
			require.NoError(t, s.Close())
			require.True(t, Check(path, time.Second).OK())
		})
	}
}

func TestOpenWithoutMarkerWritesOne(t *testing.T) {
	path := ledgerWithFault(t)
	require.NoError(t, os.Remove(MarkerPath(path)), "as a ledger of an earlier tumult")
	s, err := Open(path, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	m, err := readMarker(path)
	require.NoError(t, err)
	require.NotNil(t, m)
	require.Equal(t, []ActiveFault{{ID: "f-0001", Policy: "checkout-crash", Kind: "stop", Member: "docker/local/4f1c0a9e2b3d", Name: "checkout-1"}}, m.Active)
}

func TestCheckReportsSoundLedger(t *testing.T) {
	path := ledgerWithFault(t)
	rep := Check(path, time.Second)
	require.Equal(t, "ok", rep.State, rep.Detail)
	require.Equal(t, rep.MarkerTxID, rep.TxID)
	require.Len(t, rep.Active, 1)
	require.Equal(t, "f-0001", rep.Active[0].ID)
	require.Equal(t, 30, rep.History)

	rep = Check(filepath.Join(t.TempDir(), "none.db"), time.Second)
	require.Equal(t, "new", rep.State)

	s, err := Open(path, Options{})
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, "locked", Check(path, 50*time.Millisecond).State)
}

// A torn older meta page is what a crash during a commit leaves; bbolt
// reads the other one, and so does tumult, without a word of refusal.
func TestOpenReadsPastDamagedOlderMeta(t *testing.T) {
	path := ledgerWithFault(t)
	scribble(t, path, 1-newerMeta(t, path))

	rep := Check(path, time.Second)
	require.Equal(t, "ok", rep.State, rep.Detail)
	require.Contains(t, rep.Detail, "is damaged")

	s, err := Open(path, Options{})
	require.NoError(t, err)
	active, err := s.Active(t.Context())
	require.NoError(t, err)
	require.Len(t, active, 1)
	require.NoError(t, s.Close())
	st, err := inspectFile(path)
	require.NoError(t, err)
	require.Equal(t, -1, st.BadMeta, "the next commit rewrote it")
}
