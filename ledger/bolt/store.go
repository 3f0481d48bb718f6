package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.etcd.io/bbolt"

	"github.com/inferensys/tumult/ledger"
)

// ErrLocked: another process (another tumult) has the ledger file open.
var ErrLocked = errors.New("locked by another tumult")

// DefaultTimeout is how long Open waits for the file lock.
const DefaultTimeout = time.Second

// pruneBudget bounds the entries one finishing write may prune, so a
// lowered MaxHistory or Retention never turns one write into a long stall;
// Open prunes the backlog in batches of openPruneBatch.
const (
	pruneBudget    = 64
	openPruneBatch = 1000
)

// Options configure a Store. Zero values take the defaults.
type Options struct {
	// Retention is how long finished records are kept (default
	// ledger.DefaultRetention).
	Retention time.Duration
	// MaxHistory caps the number of finished records kept (default
	// ledger.DefaultMaxHistory).
	MaxHistory int
	// Now is the clock for stamps and retention (default time.Now).
	Now func() time.Time
	// Logger (default: a null logger).
	Logger hclog.Logger
	// Timeout is how long Open waits for the file lock before it gives up
	// with ErrLocked (default 1s).
	Timeout time.Duration
}

func (o Options) withDefaults() Options {
	ledger.KeepDefaults(&o.Retention, &o.MaxHistory, &o.Now)
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// Store is a ledger.Ledger in one bbolt file.
type Store struct {
	db   *bbolt.DB
	path string
	opts Options
	log  hclog.Logger

	closeOnce sync.Once
	closeErr  error

	// markMu orders commit marker writes; marked is the transaction the
	// marker names.
	markMu sync.Mutex
	marked uint64
}

var _ ledger.Ledger = (*Store)(nil)

// Open opens or creates the ledger file at path (its directory is created
// with mode 0700), and prunes history beyond the retention limits.
//
// Before bbolt maps the file, Open checks it: a file that is empty,
// damaged, missing or behind its commit marker (path + ".commit") is
// refused with an *IntegrityError (wrapping ErrEmpty, ErrCorrupt,
// ErrMissing, ErrRolledBack or ErrMarker) whose message says what to do,
// instead of being taken for a new ledger or crashing the process. A file
// held by another process gives ErrLocked.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open ledger %s: create its directory: %w", path, err)
	}
	v, err := verify(path, &bbolt.Options{Timeout: opts.Timeout})
	if err != nil {
		return nil, err
	}
	s := &Store{db: v.db, path: path, opts: opts, log: opts.Logger.Named("ledger")}
	if v.marker != nil {
		s.marked = v.marker.TxID
	} else if !v.file.Missing {
		s.log.Info("ledger has no commit marker yet; writing one", "path", path, "marker", MarkerPath(path))
	}
	if err := s.init(); err != nil {
		_ = v.db.Close()
		return nil, err
	}
	active, hist := s.stats()
	s.log.Info("opened ledger", "path", path, "active", active, "history", hist)
	return s, nil
}

// init creates the buckets, checks the schema, and prunes the backlog.
func (s *Store) init() error {
	err := s.commit(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keySchema); {
		case v == nil:
			if err := meta.Put(keySchema, []byte(schemaVersion)); err != nil {
				return fmt.Errorf("write schema version: %w", err)
			}
		case string(v) != schemaVersion:
			return fmt.Errorf("schema version %q, this tumult reads %q", v, schemaVersion)
		}
		if meta.Get(keyHistoryCount) == nil {
			n := tx.Bucket(bucketHistory).Stats().KeyN
			if err := meta.Put(keyHistoryCount, putUint64(uint64(n))); err != nil {
				return fmt.Errorf("write history count: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("open ledger %s: %w", s.path, err)
	}
	for {
		var hist, idx int
		err := s.commit(func(tx *bbolt.Tx) error {
			var err error
			hist, idx, err = s.prune(tx, openPruneBatch)
			return err
		})
		if err != nil {
			return fmt.Errorf("open ledger %s: prune: %w", s.path, err)
		}
		if hist > 0 || idx > 0 {
			s.log.Debug("pruned ledger", "history", hist, "injections", idx)
		}
		if hist < openPruneBatch && idx < openPruneBatch {
			return nil
		}
	}
}

// stats counts active and finished records, for the log.
func (s *Store) stats() (active, history int) {
	_ = s.db.View(func(tx *bbolt.Tx) error {
		active = tx.Bucket(bucketActive).Stats().KeyN
		history = int(getUint64(tx.Bucket(bucketMeta).Get(keyHistoryCount)))
		return nil
	})
	return active, history
}

// Path returns the file the store uses.
func (s *Store) Path() string { return s.path }

// view and update check ctx, run fn in a transaction, and say where an
// error happened.
func (s *Store) view(ctx context.Context, op string, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ledger %s: %s: %w", s.path, op, err)
	}
	if err := s.db.View(fn); err != nil {
		return fmt.Errorf("ledger %s: %s: %w", s.path, op, err)
	}
	return nil
}

func (s *Store) update(ctx context.Context, op string, fn func(*bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ledger %s: %s: %w", s.path, op, err)
	}
	if err := s.commit(fn); err != nil {
		return fmt.Errorf("ledger %s: %s: %w", s.path, op, err)
	}
	return nil
}

// commit runs fn in a write transaction and, once bbolt has committed it,
// writes the commit marker. A failure of bbolt itself (not of fn) wraps
// ledger.ErrUnavailable. A marker that cannot be written is logged, not
// returned: the transaction is durable, and an older marker only makes
// the next start's check less strict.
func (s *Store) commit(fn func(*bbolt.Tx) error) error {
	var txid uint64
	var active []activeFault
	var fnErr error
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if fnErr = fn(tx); fnErr != nil {
			return fnErr
		}
		txid, active = uint64(tx.ID()), activeFaults(tx)
		return nil
	})
	if err != nil && fnErr == nil {
		// bbolt itself failed (a full disk, an I/O error): the
		// transaction was rolled back.
		return fmt.Errorf("%w: %w", ledger.ErrUnavailable, err)
	}
	if err != nil {
		return err
	}
	s.markMu.Lock()
	defer s.markMu.Unlock()
	if txid <= s.marked {
		return nil
	}
	if err := writeMarker(s.path, marker{TxID: txid, Written: s.opts.Now().UTC(), Active: active}); err != nil {
		s.log.Warn("commit marker not updated", "path", MarkerPath(s.path), "error", err)
		return nil
	}
	s.marked = txid
	return nil
}

// Control implements ledger.Ledger.
func (s *Store) Control(ctx context.Context) (ledger.Control, error) {
	var c ledger.Control
	err := s.view(ctx, "read control state", func(tx *bbolt.Tx) error {
		var err error
		c, err = readControl(tx)
		return err
	})
	return c, err
}

func readControl(tx *bbolt.Tx) (ledger.Control, error) {
	c := ledger.Control{State: ledger.Armed}
	v := tx.Bucket(bucketControl).Get(keyControl)
	if v == nil {
		return c, nil
	}
	if err := json.Unmarshal(v, &c); err != nil {
		return ledger.Control{}, fmt.Errorf("decode control state: %w", err)
	}
	return c, nil
}

// UpdateControl implements ledger.Ledger. fn runs inside the write
// transaction: it must be quick and must not call the Store.
func (s *Store) UpdateControl(ctx context.Context, fn func(*ledger.Control) error) (ledger.Control, error) {
	var next ledger.Control
	err := s.update(ctx, "update control state", func(tx *bbolt.Tx) error {
		cur, err := readControl(tx)
		if err != nil {
			return err
		}
		next, err = ledger.ApplyControl(cur, s.opts.Now(), fn)
		if err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketControl), keyControl, next)
	})
	if err != nil {
		return ledger.Control{}, err
	}
	s.log.Debug("control state updated", "state", next.State, "actor", next.Actor, "version", next.Version)
	return next, nil
}

// Begin implements ledger.Ledger.
func (s *Store) Begin(ctx context.Context, r ledger.Record) error {
	return s.update(ctx, "begin record "+r.ID, func(tx *bbolt.Tx) error {
		rec, err := ledger.PrepareBegin(r, s.opts.Now())
		if err != nil {
			return err
		}
		id := []byte(rec.ID)
		if tx.Bucket(bucketActive).Get(id) != nil || tx.Bucket(bucketHistoryIDs).Get(id) != nil {
			return ledger.ErrExists
		}
		if err := s.index(tx, ledger.Record{}, rec); err != nil {
			return err
		}
		if rec.Active() {
			return putJSON(tx.Bucket(bucketActive), id, rec)
		}
		return s.finish(tx, rec)
	})
}

// Update implements ledger.Ledger. fn runs inside the write transaction:
// it must be quick and must not call the Store.
func (s *Store) Update(ctx context.Context, id string, fn func(*ledger.Record) error) (ledger.Record, error) {
	var next ledger.Record
	err := s.update(ctx, "update record "+id, func(tx *bbolt.Tx) error {
		var err error
		next, err = s.updateIn(tx, id, fn)
		return err
	})
	if err != nil {
		return ledger.Record{}, err
	}
	return next, nil
}

// UpdateMany implements ledger.Ledger in one write transaction (one
// fsync). The functions run inside it: they must be quick and must not
// call the Store.
func (s *Store) UpdateMany(ctx context.Context, ups []ledger.RecordUpdate) ([]ledger.Record, []error) {
	recs, errs := make([]ledger.Record, len(ups)), make([]error, len(ups))
	if len(ups) == 0 {
		return recs, errs
	}
	err := s.update(ctx, fmt.Sprintf("update %d records", len(ups)), func(tx *bbolt.Tx) error {
		for i, u := range ups {
			recs[i], errs[i] = s.updateIn(tx, u.ID, u.Fn)
			if errs[i] != nil && !errors.Is(errs[i], errRecord) {
				return errs[i] // the storage failed: nothing is written
			}
		}
		return nil
	})
	for i := range errs {
		switch {
		case err != nil:
			recs[i], errs[i] = ledger.Record{}, err
		case errs[i] != nil:
			recs[i], errs[i] = ledger.Record{}, fmt.Errorf("ledger %s: update record %s: %w", s.path, ups[i].ID, errors.Unwrap(errs[i]))
		}
	}
	return recs, errs
}

// errRecord marks, inside UpdateMany's transaction, an error of one
// record that leaves the others to be written.
var errRecord = errors.New("record error")

type recordError struct{ err error }

func (e recordError) Error() string        { return e.err.Error() }
func (e recordError) Unwrap() error        { return e.err }
func (e recordError) Is(target error) bool { return target == errRecord }

// updateIn applies one update inside tx. An error of the record itself
// (unknown, finished, refused by fn or by validation) changes nothing
// and is a recordError; any other is the storage's.
func (s *Store) updateIn(tx *bbolt.Tx, id string, fn func(*ledger.Record) error) (ledger.Record, error) {
	active := tx.Bucket(bucketActive)
	v := active.Get([]byte(id))
	if v == nil {
		if tx.Bucket(bucketHistoryIDs).Get([]byte(id)) != nil {
			return ledger.Record{}, recordError{ledger.ErrFinished}
		}
		return ledger.Record{}, recordError{ledger.ErrNotFound}
	}
	var cur ledger.Record
	if err := json.Unmarshal(v, &cur); err != nil {
		return ledger.Record{}, recordError{fmt.Errorf("decode: %w", err)}
	}
	next, err := ledger.ApplyRecord(cur, s.opts.Now(), fn)
	if err != nil {
		return ledger.Record{}, recordError{err}
	}
	if err := s.index(tx, cur, next); err != nil {
		return ledger.Record{}, err
	}
	if next.Active() {
		return next, putJSON(active, []byte(id), next)
	}
	if err := active.Delete([]byte(id)); err != nil {
		return ledger.Record{}, fmt.Errorf("remove from active: %w", err)
	}
	return next, s.finish(tx, next)
}

// index keeps the injection index in step with a record's Injected time
// and policy.
func (s *Store) index(tx *bbolt.Tx, cur, next ledger.Record) error {
	if cur.Injected.Equal(next.Injected) && cur.Policy == next.Policy {
		return nil
	}
	b := tx.Bucket(bucketInjected)
	if !cur.Injected.IsZero() {
		if err := b.Delete(timeIDKey(cur.Injected, cur.ID)); err != nil {
			return fmt.Errorf("unindex injection: %w", err)
		}
	}
	if !next.Injected.IsZero() {
		if err := b.Put(timeIDKey(next.Injected, next.ID), []byte(next.Policy)); err != nil {
			return fmt.Errorf("index injection: %w", err)
		}
	}
	return nil
}

// finish writes a finished record to the history and prunes a little.
func (s *Store) finish(tx *bbolt.Tx, r ledger.Record) error {
	key := timeIDKey(r.Finished, r.ID)
	if err := putJSON(tx.Bucket(bucketHistory), key, r); err != nil {
		return err
	}
	if err := tx.Bucket(bucketHistoryIDs).Put([]byte(r.ID), key); err != nil {
		return fmt.Errorf("write history ID: %w", err)
	}
	meta := tx.Bucket(bucketMeta)
	if err := meta.Put(keyHistoryCount, putUint64(getUint64(meta.Get(keyHistoryCount))+1)); err != nil {
		return fmt.Errorf("write history count: %w", err)
	}
	_, _, err := s.prune(tx, pruneBudget)
	return err
}

// prune removes at most budget history records (oldest first, while over
// MaxHistory or older than Retention) and at most budget injection index
// entries (older than ledger.IndexCutoff).
func (s *Store) prune(tx *bbolt.Tx, budget int) (history, injections int, err error) {
	now := s.opts.Now()
	meta := tx.Bucket(bucketMeta)
	count := getUint64(meta.Get(keyHistoryCount))
	cutoff := now.Add(-s.opts.Retention)
	ids := tx.Bucket(bucketHistoryIDs)
	c := tx.Bucket(bucketHistory).Cursor()
	// Deleting under a cursor and then calling Next can skip a key in
	// bbolt; starting again from First after each delete cannot.
	for k, _ := c.First(); k != nil && history < budget; k, _ = c.First() {
		if count <= uint64(s.opts.MaxHistory) && !keyTime(k).Before(cutoff) {
			break
		}
		if err := ids.Delete([]byte(keyID(k))); err != nil {
			return history, injections, fmt.Errorf("prune history ID: %w", err)
		}
		if err := c.Delete(); err != nil {
			return history, injections, fmt.Errorf("prune history: %w", err)
		}
		history++
		if count > 0 {
			count--
		}
	}
	if history > 0 {
		if err := meta.Put(keyHistoryCount, putUint64(count)); err != nil {
			return history, injections, fmt.Errorf("write history count: %w", err)
		}
	}

	idxCutoff := ledger.IndexCutoff(now, s.opts.Retention)
	c = tx.Bucket(bucketInjected).Cursor()
	for k, _ := c.First(); k != nil && injections < budget && keyTime(k).Before(idxCutoff); k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return history, injections, fmt.Errorf("prune injection index: %w", err)
		}
		injections++
	}
	return history, injections, nil
}

// Active implements ledger.Ledger.
func (s *Store) Active(ctx context.Context) ([]ledger.Record, error) {
	var out []ledger.Record
	err := s.view(ctx, "list active records", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketActive).ForEach(func(k, v []byte) error {
			var r ledger.Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode record %s: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	ledger.SortActive(out)
	return out, nil
}

// History implements ledger.Ledger.
func (s *Store) History(ctx context.Context, q ledger.HistoryQuery) ([]ledger.Record, error) {
	var out []ledger.Record
	err := s.view(ctx, "list history", func(tx *bbolt.Tx) error {
		var since []byte
		if !q.Since.IsZero() {
			since = timeKey(q.Since)
		}
		c := tx.Bucket(bucketHistory).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if since != nil && bytes.Compare(k[:timeLen], since) < 0 {
				break
			}
			if q.Limit > 0 && len(out) >= q.Limit {
				break
			}
			var r ledger.Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode record %s: %w", keyID(k), err)
			}
			if q.Match(r) {
				out = append(out, r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CountSince implements ledger.Ledger from the injection index: it reads
// keys and policy names, never records.
func (s *Store) CountSince(ctx context.Context, policy string, since time.Time) (int, error) {
	n := 0
	err := s.view(ctx, "count injections of policy "+policy, func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketInjected).Cursor()
		p := []byte(policy)
		for k, v := c.Seek(timeKey(since)); k != nil; k, v = c.Next() {
			if bytes.Equal(v, p) {
				n++
			}
		}
		return nil
	})
	return n, err
}

// Close implements ledger.Ledger. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close ledger %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if err := b.Put(key, data); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
