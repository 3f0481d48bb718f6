package ledger

import (
	"context"
	"errors"
	"time"
)

// Errors a Ledger returns; test for them with errors.Is.
var (
	// ErrNotFound: no record, active or finished, has that ID.
	ErrNotFound = errors.New("record not found")
	// ErrExists: Begin was given an ID that is already in the ledger.
	ErrExists = errors.New("record already exists")
	// ErrFinished: Update was asked to change a record that is already in
	// the history, which is read-only.
	ErrFinished = errors.New("record already finished")
	// ErrInvalid: a record or control state breaks a rule of this package
	// (unknown phase, finished without a result, steps rewritten, ...).
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: the storage failed (a full disk, an I/O error, a
	// backend that does not answer); nothing was written. Worth a retry
	// once the cause is fixed, unlike the errors above.
	ErrUnavailable = errors.New("ledger unavailable")
)

// Ledger is tumult's durable state. Every method that writes returns only
// once the write is durable: a record that Begin acknowledged survives a
// kill -9 of the agent a moment later. All methods are safe for concurrent
// use; read-modify-write methods are atomic with respect to each other.
// Times are kept in UTC: what a write returns is what later reads return.
// Update functions run while the ledger is locked for writing: they must
// be quick and must not call the ledger.
type Ledger interface {
	// Control returns the control state. An empty ledger is armed, at
	// Version 0.
	Control(ctx context.Context) (Control, error)
	// UpdateControl runs fn on a copy of the control state and stores the
	// result atomically, with Version incremented by one. An error from fn
	// aborts the update and is returned wrapped.
	UpdateControl(ctx context.Context, fn func(*Control) error) (Control, error)

	// Begin writes a new record before anything is done to the member
	// (write-ahead). It stamps Decided when it is zero. A record whose Phase
	// is already finished (a skipped decision) goes straight to the
	// history. An ID already in the ledger gives ErrExists.
	Begin(ctx context.Context, r Record) error
	// Update runs fn on a copy of the active record id and stores the
	// result atomically. When the Phase becomes finished the record moves
	// from the active set to the history (Finished is stamped when zero).
	// An unknown id gives ErrNotFound, a finished one ErrFinished; an error
	// from fn aborts the update and is returned wrapped.
	Update(ctx context.Context, id string, fn func(*Record) error) (Record, error)
	// UpdateMany applies several updates as Update does, in as few
	// durable writes as the storage allows (one for the embedded ledger),
	// so that a halt of a hundred members costs one write, not a hundred.
	// Each update stands alone: errs[i] is the error of ups[i] (unknown,
	// finished, an error from its function), which leaves its record as it
	// was and the others stored; a storage error is every update's error.
	// Updates of the same record apply in order. recs[i] is the record as
	// stored when errs[i] is nil.
	UpdateMany(ctx context.Context, ups []RecordUpdate) (recs []Record, errs []error)
	// Active returns the unfinished records, oldest Decided first.
	Active(ctx context.Context) ([]Record, error)
	// History returns finished records, newest Finished first.
	History(ctx context.Context, q HistoryQuery) ([]Record, error)
	// CountSince counts the faults of the policy that were really injected
	// at or after since, active and finished alike: records whose Injected
	// is set. Skips, and faults that failed before injection, leave
	// Injected zero and do not count. It backs max_per_day.
	CountSince(ctx context.Context, policy string, since time.Time) (int, error)

	// Close releases the storage. Calls after Close return errors.
	Close() error
}

// RecordUpdate is one update of UpdateMany: fn runs on the active record
// ID, as in Update.
type RecordUpdate struct {
	ID string
	Fn func(*Record) error
}

// UpdateEach implements UpdateMany with one Update per record, for
// storage that cannot write several records at once.
func UpdateEach(ctx context.Context, l interface {
	Update(ctx context.Context, id string, fn func(*Record) error) (Record, error)
}, ups []RecordUpdate) ([]Record, []error) {
	recs, errs := make([]Record, len(ups)), make([]error, len(ups))
	for i, u := range ups {
		recs[i], errs[i] = l.Update(ctx, u.ID, u.Fn)
	}
	return recs, errs
}

// HistoryQuery filters History. Zero fields do not filter.
type HistoryQuery struct {
	// Since keeps records finished at or after this time.
	Since time.Time
	// Policy keeps the records of this policy only.
	Policy string
	// Limit caps the number of records returned; 0 or less means no cap.
	Limit int
}

// Match reports whether a finished record passes the Since and Policy
// filters (Limit is the caller's to apply).
func (q HistoryQuery) Match(r Record) bool {
	if !q.Since.IsZero() && r.Finished.Before(q.Since) {
		return false
	}
	return q.Policy == "" || r.Policy == q.Policy
}
