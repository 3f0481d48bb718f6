package bolt

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/bbolt"

	"github.com/inferensys/tumult/ledger"
)

// The commit marker is a small file beside the ledger (ledger.db.commit)
// that names the last transaction the store committed and the faults that
// were unfinished then. bbolt alone cannot tell a ledger that lost its
// data from a new one: a file truncated to zero bytes opens as empty, and
// a damaged newer meta page makes bbolt fall back, silently, to the
// previous transaction. Both forget unfinished faults, whose members then
// stay disrupted. With the marker, Open sees that the file is behind what
// was committed and refuses, naming the faults that may be left active.
//
// The marker is written after each commit (temporary file, rename), and
// not fsynced: it must never be ahead of the file, and it cannot be, since
// bbolt has fsynced the commit before the marker is written. A crash or a
// power loss can only leave it behind the file (or, on some file systems,
// empty, which reads as no marker), and only a file behind its marker is
// refused. Without its own fsync, the marker costs a fault's three writes
// almost nothing.

// markerSuffix is appended to the ledger's path.
const markerSuffix = ".commit"

// marker is the commit marker's content.
type marker struct {
	TxID    uint64    `json:"txid"`
	Written time.Time `json:"written"`
	// Active are the unfinished faults at that transaction.
	Active []activeFault `json:"active"`
}

// activeFault is what an operator needs to find a fault by hand.
type activeFault struct {
	ID     string `json:"id"`
	Policy string `json:"policy"`
	Kind   string `json:"kind"`
	Member string `json:"member"`
	Name   string `json:"name,omitempty"`
}

func (f activeFault) String() string {
	if f.Name != "" {
		return fmt.Sprintf("%s (policy %s, %s on %s %s)", f.ID, f.Policy, f.Kind, f.Name, f.Member)
	}
	return fmt.Sprintf("%s (policy %s, %s on %s)", f.ID, f.Policy, f.Kind, f.Member)
}

// MarkerPath is the commit marker of the ledger at path.
func MarkerPath(path string) string { return path + markerSuffix }

// readMarker returns the marker of the ledger at path, nil when there is
// none.
func readMarker(path string) (*marker, error) {
	data, err := os.ReadFile(MarkerPath(path))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read commit marker %s: %w", MarkerPath(path), err)
	}
	if len(data) == 0 {
		// A rename that a power loss caught before its data reached the
		// disk; as if there were no marker.
		return nil, nil
	}
	var m marker
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("commit marker %s is damaged (%v); it says which transaction the ledger must hold", MarkerPath(path), err)
	}
	return &m, nil
}

// writeMarker replaces the marker atomically (see above for why it is
// not fsynced).
func writeMarker(path string, m marker) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode commit marker: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".commit-*")
	if err != nil {
		return fmt.Errorf("write commit marker: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write commit marker %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write commit marker %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), MarkerPath(path)); err != nil {
		return fmt.Errorf("write commit marker: %w", err)
	}
	return nil
}

// activeFaults summarises the unfinished records a transaction sees.
func activeFaults(tx *bbolt.Tx) []activeFault {
	var out []activeFault
	_ = tx.Bucket(bucketActive).ForEach(func(k, v []byte) error {
		var r ledger.Record
		if err := json.Unmarshal(v, &r); err != nil {
			out = append(out, activeFault{ID: string(k), Kind: "undecodable record"})
			return nil
		}
		out = append(out, activeFault{ID: r.ID, Policy: r.Policy, Kind: string(r.Fault.Kind), Member: r.Member.Key(), Name: r.Member.Name})
		return nil
	})
	return out
}

// faultList names faults for an operator, or says none are known.
func faultList(m *marker) string {
	switch {
	case m == nil:
		return "which faults it held unfinished is not known (no commit marker)"
	case len(m.Active) == 0:
		return "it held no unfinished fault at its last commit"
	}
	names := make([]string, len(m.Active))
	for i, f := range m.Active {
		names[i] = f.String()
	}
	return "faults unfinished at its last commit, which may be left active: " + strings.Join(names, ", ")
}
