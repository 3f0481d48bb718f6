package consul

import (
	"context"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/inferensys/tumult/ledger"
)

// Blocking-query settings of WatchControl.
const (
	// watchWait is how long one blocking query waits for a change before
	// Consul answers anyway (it adds up to 1/16 of jitter).
	watchWait = 5 * time.Minute
	// watchRetryMin and watchRetryMax bound the pause after a failed
	// query, doubling in between, so an unreachable Consul is not hammered.
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// WatchControl calls fn with the control state now, and again each time
// any replica changes it, until ctx ends. It waits on Consul blocking
// queries (the request returns when the key's index moves), so a halt
// written by another replica reaches fn within one round trip, without
// polling. fn runs on WatchControl's goroutine, one call at a time; a slow
// fn delays the next call and changes in between are coalesced into the
// latest state.
//
// Consul errors are logged and retried with backoff; fn is not called
// while Consul cannot be read. Callers that need to fail closed on an
// unreachable Consul learn it from their own writes and reads, which
// return errors.
func (s *Store) WatchControl(ctx context.Context, fn func(ledger.Control)) {
	key := s.prefix + keyControl
	var (
		waitIndex uint64
		// delivered is the ModifyIndex last handed to fn; 0 with
		// started=false means nothing was delivered yet (0 is also the
		// index of a control key that does not exist).
		delivered uint64
		started   bool
		retry     = watchRetryMin
	)
	for ctx.Err() == nil && !s.closed.Load() {
		q := (&api.QueryOptions{RequireConsistent: true, WaitIndex: waitIndex, WaitTime: watchWait}).WithContext(ctx)
		p, meta, err := s.kv.Get(key, q)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("watch control state: read failed; retrying", "error", err, "retry_in", retry)
			if !sleep(ctx, retry) {
				return
			}
			retry = min(2*retry, watchRetryMax)
			waitIndex = 0
			continue
		}
		retry = watchRetryMin
		// An index that went backwards means Consul's state was reset
		// (a restore from snapshot): start over from a plain read.
		// Consul's guidance: never wait on index 0, which would not block.
		if meta.LastIndex < waitIndex {
			waitIndex = 0
		} else {
			waitIndex = max(meta.LastIndex, 1)
		}
		var index uint64
		if p != nil {
			index = p.ModifyIndex
		}
		if started && index == delivered {
			continue // the wait timed out, or another key moved the index
		}
		c, err := decodeControl(p)
		if err != nil {
			s.log.Error("watch control state: cannot decode it; waiting for the next change", "error", err)
			delivered, started = index, true
			continue
		}
		delivered, started = index, true
		fn(c)
	}
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
