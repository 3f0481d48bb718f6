package scheduler

import (
	"context"
	"errors"
	"sync"

	"github.com/inferensys/tumult/ledger"
)

// writes coalesces the record updates of concurrent fault runs into
// UpdateMany calls (group commit): the first writer writes at once, and
// every update that arrives while a write is under way goes into the
// next one. A halt of a hundred members then costs a handful of durable
// writes instead of two hundred, without making a lone write wait.
type writes struct {
	l Ledger

	mu    sync.Mutex
	queue []*pendingWrite
	busy  bool // a writer is flushing the queue
}

type pendingWrite struct {
	up   ledger.RecordUpdate
	done chan struct{}
	rec  ledger.Record
	err  error
}

// maxBatch bounds one UpdateMany, so that a write transaction stays short.
const maxBatch = 256

var errWriterPanicked = errors.New("the write batch this update was in ended in a panic; not written")

// Update is Ledger.Update through the batch: it returns once the update
// is durable, or failed.
func (w *writes) Update(ctx context.Context, id string, fn func(*ledger.Record) error) (ledger.Record, error) {
	p := &pendingWrite{up: ledger.RecordUpdate{ID: id, Fn: fn}, done: make(chan struct{})}
	w.mu.Lock()
	w.queue = append(w.queue, p)
	lead := !w.busy
	w.busy = true
	w.mu.Unlock()
	if lead {
		w.flush(ctx)
	}
	<-p.done
	return p.rec, p.err
}

// flush writes the queue in batches until it is empty. Only one caller
// flushes at a time; the others wait for their own update.
func (w *writes) flush(ctx context.Context) {
	for {
		w.mu.Lock()
		batch := w.queue[:min(len(w.queue), maxBatch)]
		w.queue = w.queue[len(batch):]
		if len(batch) == 0 {
			w.busy = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		w.write(ctx, batch)
	}
}

// write writes one batch. A panic (in an update function) fails the
// batch and the queue behind it, instead of leaving them waiting for a
// writer that is gone; the panic goes on to the fault run's own recover,
// and the records stay active for the restore at stop or next start.
func (w *writes) write(ctx context.Context, batch []*pendingWrite) {
	written := false
	defer func() {
		if written {
			return
		}
		w.mu.Lock()
		batch = append(batch, w.queue...)
		w.queue, w.busy = nil, false
		w.mu.Unlock()
		for _, p := range batch {
			p.err = errWriterPanicked
			close(p.done)
		}
	}()
	ups := make([]ledger.RecordUpdate, len(batch))
	for i, p := range batch {
		ups[i] = p.up
	}
	recs, errs := w.l.UpdateMany(ctx, ups)
	written = true
	for i, p := range batch {
		p.rec, p.err = recs[i], errs[i]
		close(p.done)
	}
}
