package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/inferensys/tumult/ledger"
)

// errClosed is what a closed Memory answers.
var errClosed = errors.New("memory ledger is closed")

// Memory is a ledger.Ledger in process memory, for tests of the packages
// that use a ledger. It keeps everything (no retention) and loses it all
// with the process. Reopen hands out a new handle onto the same state, the
// way reopening a file would.
type Memory struct {
	st     *memState
	mu     sync.Mutex
	closed bool
}

type memState struct {
	mu      sync.Mutex
	now     func() time.Time
	control ledger.Control
	active  map[string]ledger.Record
	history map[string]ledger.Record
}

var _ ledger.Ledger = (*Memory)(nil)

// NewMemory returns an empty in-memory ledger. now stamps Decided and
// Finished when callers leave them zero; nil means time.Now.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{st: &memState{
		now:     now,
		control: ledger.Control{State: ledger.Armed},
		active:  map[string]ledger.Record{},
		history: map[string]ledger.Record{},
	}}
}

// Reopen closes m and returns a new handle onto the same state.
func (m *Memory) Reopen() *Memory {
	_ = m.Close()
	return &Memory{st: m.st}
}

// lock checks ctx and the handle, and locks the state; the caller unlocks.
func (m *Memory) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory ledger: %w", err)
	}
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return errClosed
	}
	m.st.mu.Lock()
	return nil
}

// Control implements ledger.Ledger.
func (m *Memory) Control(ctx context.Context) (ledger.Control, error) {
	if err := m.lock(ctx); err != nil {
		return ledger.Control{}, err
	}
	defer m.st.mu.Unlock()
	return m.st.control.Clone(), nil
}

// UpdateControl implements ledger.Ledger.
func (m *Memory) UpdateControl(ctx context.Context, fn func(*ledger.Control) error) (ledger.Control, error) {
	if err := m.lock(ctx); err != nil {
		return ledger.Control{}, err
	}
	defer m.st.mu.Unlock()
	next, err := ledger.ApplyControl(m.st.control, m.st.now(), fn)
	if err != nil {
		return ledger.Control{}, err
	}
	m.st.control = next
	return next.Clone(), nil
}

// Begin implements ledger.Ledger.
func (m *Memory) Begin(ctx context.Context, r ledger.Record) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.st.mu.Unlock()
	r, err := ledger.PrepareBegin(r, m.st.now())
	if err != nil {
		return err
	}
	_, inActive := m.st.active[r.ID]
	_, inHistory := m.st.history[r.ID]
	if inActive || inHistory {
		return fmt.Errorf("begin record %s: %w", r.ID, ledger.ErrExists)
	}
	if r.Active() {
		m.st.active[r.ID] = r
	} else {
		m.st.history[r.ID] = r
	}
	return nil
}

// Update implements ledger.Ledger.
func (m *Memory) Update(ctx context.Context, id string, fn func(*ledger.Record) error) (ledger.Record, error) {
	if err := m.lock(ctx); err != nil {
		return ledger.Record{}, err
	}
	defer m.st.mu.Unlock()
	cur, ok := m.st.active[id]
	if !ok {
		if _, done := m.st.history[id]; done {
			return ledger.Record{}, fmt.Errorf("update record %s: %w", id, ledger.ErrFinished)
		}
		return ledger.Record{}, fmt.Errorf("update record %s: %w", id, ledger.ErrNotFound)
	}
	next, err := ledger.ApplyRecord(cur, m.st.now(), fn)
	if err != nil {
		return ledger.Record{}, err
	}
	if next.Active() {
		m.st.active[id] = next
	} else {
		delete(m.st.active, id)
		m.st.history[id] = next
	}
	return next.Clone(), nil
}

// UpdateMany implements ledger.Ledger.
func (m *Memory) UpdateMany(ctx context.Context, ups []ledger.RecordUpdate) ([]ledger.Record, []error) {
	return ledger.UpdateEach(ctx, m, ups)
}

// Active implements ledger.Ledger.
func (m *Memory) Active(ctx context.Context) ([]ledger.Record, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.st.mu.Unlock()
	out := cloneAll(m.st.active)
	ledger.SortActive(out)
	return out, nil
}

// History implements ledger.Ledger.
func (m *Memory) History(ctx context.Context, q ledger.HistoryQuery) ([]ledger.Record, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.st.mu.Unlock()
	all := cloneAll(m.st.history)
	ledger.SortHistory(all)
	var out []ledger.Record
	for _, r := range all {
		if q.Limit > 0 && len(out) >= q.Limit {
			break
		}
		if q.Match(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// CountSince implements ledger.Ledger.
func (m *Memory) CountSince(ctx context.Context, policy string, since time.Time) (int, error) {
	if err := m.lock(ctx); err != nil {
		return 0, err
	}
	defer m.st.mu.Unlock()
	n := 0
	for _, set := range []map[string]ledger.Record{m.st.active, m.st.history} {
		for _, r := range set {
			if r.Policy == policy && !r.Injected.IsZero() && !r.Injected.Before(since) {
				n++
			}
		}
	}
	return n, nil
}

// Close implements ledger.Ledger.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func cloneAll(set map[string]ledger.Record) []ledger.Record {
	out := make([]ledger.Record, 0, len(set))
	for _, r := range set {
		out = append(out, r.Clone())
	}
	return out
}
