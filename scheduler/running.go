package scheduler

import (
	"context"
	"fmt"

	"github.com/inferensys/tumult/ledger"
)

// RestoreRunning cuts short the faults this process runs, and only those,
// and waits until they are restored or ctx ends; keep, when set, selects
// which. Unlike RestoreAll it adopts no other unfinished record of the
// ledger: a replica that does not lead uses it, since the shared ledger's
// records are the leader's to restore (its fenced writes would refuse
// ours), and its own runs — left from when it led — are all it answers
// for. It returns how many it restored.
func (e *Engine) RestoreRunning(ctx context.Context, reason string, keep func(ledger.Record) bool) (int, error) {
	var runs []*faultRun
	e.mu.Lock()
	for _, r := range e.runs {
		if keep == nil || keep(r.rec) {
			runs = append(runs, r)
		}
	}
	e.mu.Unlock()
	for _, r := range runs {
		r.endNow(reason)
	}
	for _, r := range runs {
		select {
		case <-r.done:
		case <-ctx.Done():
			return len(runs), fmt.Errorf("restores still under way: %w", ctx.Err())
		}
	}
	return len(runs), nil
}
