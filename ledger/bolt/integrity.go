package bolt

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/inferensys/tumult/ledger"
)

// What Open refuses a ledger file for. An IntegrityError wraps one of them.
var (
	// ErrEmpty: the file exists but holds zero bytes. bbolt never leaves
	// a file it created empty, so it was truncated.
	ErrEmpty = errors.New("empty")
	// ErrMissing: the file is gone but its commit marker says it held
	// committed transactions.
	ErrMissing = errors.New("missing")
	// ErrRolledBack: the file holds an older transaction than its commit
	// marker names (a damaged newer meta page, or an old copy put back).
	ErrRolledBack = errors.New("rolled back")
	// ErrCorrupt: the file cannot be read safely.
	ErrCorrupt = errors.New("corrupt")
	// ErrMarker: the commit marker beside the file cannot be read.
	ErrMarker = errors.New("unverifiable")
)

// IntegrityError is why Open refused a ledger file. Its message is one
// line that names the file, what is wrong, the faults that may be left
// active, and what to do.
type IntegrityError struct {
	Path   string
	Kind   error
	Detail string
	// Active are the faults unfinished at the last commit the marker
	// knows of; nil when there is no marker.
	Active []ActiveFault
	marker *marker
}

func (e *IntegrityError) Error() string {
	var todo string
	switch e.Kind {
	case ErrMissing:
		todo = "to start a new ledger"
	case ErrRolledBack, ErrMarker:
		todo = "to start from what it holds"
	default:
		todo = "to move it aside and start a new ledger"
	}
	return fmt.Sprintf("ledger %s is %s (%s); %s. Restore it from a backup, or run `tumult ledger accept %s` %s; `tumult ledger check %s` tells more",
		e.Path, e.Kind, e.Detail, faultList(e.marker), e.Path, todo, e.Path)
}

func (e *IntegrityError) Unwrap() error { return e.Kind }

// ActiveFault is an unfinished fault named by a commit marker.
type ActiveFault = activeFault

// verified is a ledger file that passed every check.
type verified struct {
	db     *bbolt.DB
	file   fileState
	marker *marker
}

// verify checks the ledger at path and opens it: the file's structure
// without a memory map first, then through bbolt with its consistency
// check, then its last transaction against the commit marker. A missing
// file without a marker is created (unless readOnly).
func verify(path string, opts *bbolt.Options) (*verified, error) {
	fail := func(kind error, m *marker, format string, args ...any) (*verified, error) {
		e := &IntegrityError{Path: path, Kind: kind, Detail: fmt.Sprintf(format, args...), marker: m}
		if m != nil {
			e.Active = m.Active
			if e.Active == nil {
				e.Active = []ActiveFault{}
			}
		}
		return nil, e
	}
	mk, err := readMarker(path)
	if err != nil {
		return fail(ErrMarker, nil, "%v", err)
	}
	st, err := inspectFile(path)
	if err != nil {
		return nil, err
	}
	switch {
	case st.Missing && mk != nil:
		return fail(ErrMissing, mk, "its commit marker %s says it held transaction %d", MarkerPath(path), mk.TxID)
	case st.Empty:
		return fail(ErrEmpty, mk, "0 bytes; a ledger tumult wrote is never empty, so it was truncated")
	case st.Damage != "":
		return fail(ErrCorrupt, mk, "%s", st.Damage)
	}
	if mk != nil && st.TxID < mk.TxID {
		return fail(ErrRolledBack, mk, "it holds transaction %d, its commit marker %s says %d was committed", st.TxID, MarkerPath(path), mk.TxID)
	}
	db, err := openSafely(path, opts)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("ledger %s is %w (waited %s for its lock)", path, ErrLocked, opts.Timeout)
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("open ledger %s: %w", path, err)
		}
		return fail(ErrCorrupt, mk, "%v", err)
	}
	if st.BadMeta >= 0 {
		// A torn meta page is what a crash during a commit leaves, and
		// bbolt's check cannot read past it. The walk above checked the
		// pages; one commit rewrites the damaged meta page.
		if opts.ReadOnly {
			return &verified{db: db, file: st, marker: mk}, nil
		}
		if err := db.Update(func(*bbolt.Tx) error { return nil }); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("ledger %s: rewrite damaged meta page %d: %w", path, st.BadMeta, err)
		}
	}
	txid, err := consistency(db)
	if err != nil {
		_ = db.Close()
		return fail(ErrCorrupt, mk, "%v", err)
	}
	if mk != nil && txid < mk.TxID {
		_ = db.Close()
		return fail(ErrRolledBack, mk, "it holds transaction %d, its commit marker %s says %d was committed", txid, MarkerPath(path), mk.TxID)
	}
	st.TxID = txid
	return &verified{db: db, file: st, marker: mk}, nil
}

// openSafely opens the file with bbolt, turning its panics on a damaged
// file, and faults on the memory map, into errors. The file was already
// checked; this is the second line of defence.
func openSafely(path string, opts *bbolt.Options) (db *bbolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("bbolt failed to read it: %v", r)
		}
	}()
	return bbolt.Open(path, 0o600, opts)
}

// consistency runs bbolt's own check over every page and returns the last
// committed transaction.
func consistency(db *bbolt.DB) (txid uint64, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt failed to read it: %v", r)
		}
	}()
	err = db.View(func(tx *bbolt.Tx) error {
		txid = uint64(tx.ID())
		var first error
		n := 0
		// Drain the channel: the check runs in its own goroutine.
		for e := range tx.Check() {
			if first == nil {
				first = e
			}
			n++
		}
		if first != nil {
			return fmt.Errorf("consistency check: %w (%d problems)", first, n)
		}
		return nil
	})
	return txid, err
}

// Report is the state of a ledger file, as `tumult ledger check` prints it.
type Report struct {
	Path string `json:"path"`
	// State is one of: ok, new (no file yet), empty, missing, rolled back,
	// corrupt, unverifiable, locked.
	State  string `json:"state"`
	Detail string `json:"detail,omitempty"`
	// TxID is the file's last transaction; MarkerTxID the marker's.
	TxID       uint64 `json:"txid,omitempty"`
	MarkerTxID uint64 `json:"marker_txid,omitempty"`
	// Active are the file's unfinished records, when it could be read.
	Active  []ledger.Record `json:"active,omitempty"`
	History int             `json:"history"`
	Control *ledger.Control `json:"control,omitempty"`
	// MarkerActive are the faults unfinished at the marker's last commit.
	MarkerActive []ActiveFault `json:"marker_active,omitempty"`
}

// OK reports whether an agent would open the file.
func (r Report) OK() bool { return r.State == "ok" || r.State == "new" }

// Check tells the state of the ledger at path without changing it: it
// never creates the file or writes the marker. A ledger held by a running
// agent is reported as locked after timeout.
func Check(path string, timeout time.Duration) Report {
	rep := Report{Path: path}
	if mk, err := readMarker(path); err == nil && mk != nil {
		rep.MarkerTxID, rep.MarkerActive = mk.TxID, mk.Active
	}
	if st, err := inspectFile(path); err == nil && st.Missing {
		if rep.MarkerTxID == 0 {
			rep.State = "new"
			rep.Detail = "no ledger file yet; an agent creates it"
			return rep
		}
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	v, err := verify(path, &bbolt.Options{ReadOnly: true, Timeout: timeout})
	var ie *IntegrityError
	switch {
	case errors.As(err, &ie):
		rep.State, rep.Detail = ie.Kind.Error(), ie.Error()
		return rep
	case errors.Is(err, ErrLocked):
		rep.State, rep.Detail = "locked", "a running tumult has it open; ask it with `tumult status` and `tumult faults`"
		return rep
	case err != nil:
		rep.State, rep.Detail = "unreadable", err.Error()
		return rep
	}
	defer v.db.Close()
	rep.State, rep.TxID = "ok", v.file.TxID
	if v.file.BadMeta >= 0 {
		rep.Detail = fmt.Sprintf("meta page %d is damaged (%s); the other one is read, and the next start rewrites it", v.file.BadMeta, v.file.BadMetaWhy)
	}
	err = v.db.View(func(tx *bbolt.Tx) error {
		if b := tx.Bucket(bucketActive); b != nil {
			if err := b.ForEach(func(k, val []byte) error {
				var r ledger.Record
				if err := json.Unmarshal(val, &r); err != nil {
					return fmt.Errorf("decode record %s: %w", k, err)
				}
				rep.Active = append(rep.Active, r)
				return nil
			}); err != nil {
				return err
			}
		}
		if b := tx.Bucket(bucketMeta); b != nil {
			rep.History = int(getUint64(b.Get(keyHistoryCount)))
		}
		if b := tx.Bucket(bucketControl); b != nil {
			c, err := readControl(tx)
			if err != nil {
				return err
			}
			rep.Control = &c
		}
		return nil
	})
	if err != nil {
		rep.State, rep.Detail = "corrupt", err.Error()
	}
	ledger.SortActive(rep.Active)
	return rep
}

// Accept makes the ledger at path acceptable to Open again, after an
// operator decided so: a file that is empty or corrupt is renamed aside
// (to path.broken-TIME, returned) and a new ledger starts; a missing
// file's marker is removed; a rolled-back file's marker is set to what the
// file holds. Faults the lost records held may be left active: the caller
// prints them from the returned error's IntegrityError. Accept of a sound
// ledger changes nothing. It returns what it did, for the operator.
func Accept(path string, now time.Time) (string, error) {
	_, err := verify(path, &bbolt.Options{ReadOnly: true, Timeout: DefaultTimeout})
	var ie *IntegrityError
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return "nothing to accept: the ledger is sound", nil
	}
	if !errors.As(err, &ie) {
		return "", err
	}
	switch ie.Kind {
	case ErrEmpty, ErrCorrupt:
		aside := fmt.Sprintf("%s.broken-%s", path, now.UTC().Format("20060102T150405Z"))
		if err := os.Rename(path, aside); err != nil {
			return "", fmt.Errorf("move ledger aside: %w", err)
		}
		if err := os.Remove(MarkerPath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("remove commit marker: %w", err)
		}
		return fmt.Sprintf("moved %s to %s; the next start creates a new ledger", path, aside), nil
	case ErrMissing:
		if err := os.Remove(MarkerPath(path)); err != nil {
			return "", fmt.Errorf("remove commit marker: %w", err)
		}
		return fmt.Sprintf("removed %s; the next start creates a new ledger", MarkerPath(path)), nil
	default: // rolled back, marker unreadable: the file itself is sound.
		if err := os.Remove(MarkerPath(path)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("remove commit marker: %w", err)
		}
		v, err := verify(path, &bbolt.Options{ReadOnly: true, Timeout: DefaultTimeout})
		if err != nil {
			return "", err
		}
		var active []ActiveFault
		_ = v.db.View(func(tx *bbolt.Tx) error {
			if tx.Bucket(bucketActive) != nil {
				active = activeFaults(tx)
			}
			return nil
		})
		txid := v.file.TxID
		_ = v.db.Close()
		if err := writeMarker(path, marker{TxID: txid, Written: now.UTC(), Active: active}); err != nil {
			return "", err
		}
		return fmt.Sprintf("accepted %s as it is, at transaction %d", path, txid), nil
	}
}
