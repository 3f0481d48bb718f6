package ledgertest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// OpenFunc returns a fresh, empty ledger. It should register a t.Cleanup
// that closes it (Close must be safe to call twice).
type OpenFunc func(t *testing.T) ledger.Ledger

// ReopenFunc closes old, as a clean shutdown would, and opens the same
// storage again.
type ReopenFunc func(t *testing.T, old ledger.Ledger) ledger.Ledger

// Concurrency of the concurrent-writer cases: goroutines × updates each.
const (
	Writers          = 8
	UpdatesPerWriter = 50
)

// Run runs the conformance suite against an implementation.
//
// Timestamps are taken close to the wall clock (within a few hours before
// now), so that implementations that prune history by age keep them.
func Run(t *testing.T, open OpenFunc, reopen ReopenFunc) {
	s := suite{open: open, reopen: reopen, base: time.Now().UTC().Truncate(time.Millisecond)}
	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"control/empty ledger is armed", s.controlEmpty},
		{"control/update persists and counts versions", s.controlUpdate},
		{"control/fn error aborts", s.controlAbort},
		{"control/invalid state refused", s.controlInvalid},
		{"record/every unfinished phase survives reopen", s.recordPhasesSurviveReopen},
		{"record/finish moves to history", s.recordFinish},
		{"record/begin finished goes to history", s.recordBeginFinished},
		{"record/begin duplicate", s.recordDuplicate},
		{"record/begin invalid", s.recordBeginInvalid},
		{"record/update unknown or finished", s.recordUpdateMissing},
		{"record/update aborts", s.recordUpdateAborts},
		{"record/update many", s.recordUpdateMany},
		{"record/active oldest first", s.recordActiveOrder},
		{"history/filters", s.historyFilters},
		{"count since", s.countSince},
		{"concurrent/control", s.concurrentControl},
		{"concurrent/records", s.concurrentRecords},
		{"cancelled context", s.cancelled},
		{"close", s.close},
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

type suite struct {
	open   OpenFunc
	reopen ReopenFunc
	base   time.Time
}

// at returns a time d after the suite's base (d is usually negative).
func (s suite) at(d time.Duration) time.Time { return s.base.Add(d) }

// record returns a record with every field set, so that a lossy encoding
// shows up as a difference.
func (s suite) record(id, policy string, decided time.Duration) ledger.Record {
	return ledger.Record{
		ID: id, Policy: policy, Actor: "scheduler",
		Member: targets.Member{
			Driver: policies.DriverDocker, Endpoint: "local", ID: "c0ffee" + id, Name: "checkout-" + id,
			Labels: map[string]string{"app": "checkout", "tumult.enable": "true"}, Healthy: true, Status: "running",
		},
		Fault:   policies.FaultSpec{Kind: policies.FaultStop, Timeout: 10 * time.Second, RestoreAfter: 5 * time.Minute},
		Phase:   ledger.Intent,
		Decided: s.at(decided),
		Steps:   []ledger.Step{{At: s.at(decided), What: "decided: member " + id}},
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func (s suite) controlEmpty(t *testing.T) {
	l := s.open(t)
	c, err := l.Control(ctx(t))
	require.NoError(t, err)
	require.Equal(t, ledger.Armed, c.State)
	require.Equal(t, uint64(0), c.Version)
	require.Empty(t, c.Policies)
}

func (s suite) controlUpdate(t *testing.T) {
	l := s.open(t)
	want := ledger.Control{
		State: ledger.Paused, Actor: "ana", Reason: "deploy in progress", Source: "cli",
		Since: s.at(-time.Minute), Until: s.at(time.Hour),
		Policies: map[string]ledger.PolicyControl{
			"checkout-crash": {State: ledger.Halted, Actor: "guardian", Reason: "alert CheckoutDown", Source: "main", Since: s.at(-2 * time.Minute)},
		},
		Version: 1,
	}
	got, err := l.UpdateControl(ctx(t), func(c *ledger.Control) error {
		require.Equal(t, ledger.Armed, c.State, "the update function sees the current state")
		v := want
		v.Version = 42 // the store owns Version
		v.Changes = []ledger.ControlChange{{Reason: "the store owns the journal"}}
		*c = v.Clone()
		return nil
	})
	// The store journals both transitions, stamped with their Since.
	want.Changes = []ledger.ControlChange{
		{At: s.at(-time.Minute), From: ledger.Armed, To: ledger.Paused, Actor: "ana", Reason: "deploy in progress", Source: "cli", Until: s.at(time.Hour)},
		{At: s.at(-2 * time.Minute), Policy: "checkout-crash", From: ledger.Armed, To: ledger.Halted, Actor: "guardian", Reason: "alert CheckoutDown", Source: "main"},
	}
	require.NoError(t, err)
	require.Equal(t, want, got)

	read, err := l.Control(ctx(t))
	require.NoError(t, err)
	require.Equal(t, want, read)

	got, err = l.UpdateControl(ctx(t), func(c *ledger.Control) error {
		require.Equal(t, want, *c)
		c.State, c.Actor, c.Until = ledger.Armed, "bo", time.Time{}
		delete(c.Policies, "checkout-crash")
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, uint64(2), got.Version)
	require.Equal(t, ledger.Armed, got.State)
	require.Empty(t, got.Policies)
	require.Len(t, got.Changes, 4, "two more transitions journaled: %+v", got.Changes)
	require.Equal(t, want.Changes, got.Changes[:2], "the journal is append-only")
	require.Equal(t, ledger.ControlChange{At: got.Changes[2].At, From: ledger.Paused, To: ledger.Armed, Actor: "bo", Reason: "deploy in progress", Source: "cli"}, got.Changes[2])
	require.False(t, got.Changes[2].At.IsZero(), "a transition that kept Since is stamped with the store's clock")
	require.Equal(t, ledger.ControlChange{At: got.Changes[3].At, Policy: "checkout-crash", From: ledger.Halted, To: ledger.Armed}, got.Changes[3])

	l = s.reopen(t, l)
	read, err = l.Control(ctx(t))
	require.NoError(t, err)
	require.Equal(t, got, read, "the control state survives a reopen")

	got, err = l.UpdateControl(ctx(t), func(c *ledger.Control) error { return nil })
	require.NoError(t, err)
	require.Equal(t, uint64(3), got.Version, "Version counts on after a reopen")
}

func (s suite) controlAbort(t *testing.T) {
	l := s.open(t)
	first, err := l.UpdateControl(ctx(t), func(c *ledger.Control) error {
		c.State = ledger.Paused
		c.Policies = map[string]ledger.PolicyControl{"a": {State: ledger.Paused, Actor: "ana"}}
		return nil
	})
	require.NoError(t, err)

	boom := errors.New("boom")
	_, err = l.UpdateControl(ctx(t), func(c *ledger.Control) error {
		c.State = ledger.Halted
		c.Policies["a"] = ledger.PolicyControl{State: ledger.Halted}
		c.Policies["b"] = ledger.PolicyControl{State: ledger.Halted}
		return boom
	})
	require.ErrorIs(t, err, boom)

	read, err := l.Control(ctx(t))
	require.NoError(t, err)
	require.Equal(t, first, read, "an aborted update changes nothing, not even the map it was handed")
}

func (s suite) controlInvalid(t *testing.T) {
	l := s.open(t)
	for _, fn := range []func(*ledger.Control) error{
		func(c *ledger.Control) error { c.State = "asleep"; return nil },
		func(c *ledger.Control) error {
			c.Policies = map[string]ledger.PolicyControl{"a": {State: "asleep"}}
			return nil
		},
	} {
		_, err := l.UpdateControl(ctx(t), fn)
		require.ErrorIs(t, err, ledger.ErrInvalid)
	}
	read, err := l.Control(ctx(t))
	require.NoError(t, err)
	require.Equal(t, uint64(0), read.Version)
}

func (s suite) recordPhasesSurviveReopen(t *testing.T) {
	for _, phase := range []ledger.Phase{ledger.Intent, ledger.Injected, ledger.Restoring} {
		t.Run(string(phase), func(t *testing.T) {
			l := s.open(t)
			want := s.record("r-"+string(phase), "checkout-crash", -time.Minute)
			require.NoError(t, l.Begin(ctx(t), want))
			if phase != ledger.Intent {
				var err error
				want, err = l.Update(ctx(t), want.ID, func(r *ledger.Record) error {
					r.Phase = phase
					r.Injected = s.at(-50 * time.Second)
					r.RestoreBy = s.at(4 * time.Minute)
					r.AddStep(s.at(-50*time.Second), "injected")
					if phase == ledger.Restoring {
						r.AddStep(s.at(-10*time.Second), "restoring: halted by ana")
					}
					return nil
				})
				require.NoError(t, err)
				require.Equal(t, phase, want.Phase)
			}
			// A finished neighbour must not come back as active.
			done := s.record("r-done", "checkout-crash", -2*time.Minute)
			done.Phase, done.Result, done.Finished = ledger.Finished, ledger.Passed, s.at(-time.Minute)
			require.NoError(t, l.Begin(ctx(t), done))

			l = s.reopen(t, l)
			active, err := l.Active(ctx(t))
			require.NoError(t, err)
			require.Equal(t, []ledger.Record{want}, active, "the record comes back as it was written")

			hist, err := l.History(ctx(t), ledger.HistoryQuery{})
			require.NoError(t, err)
			require.Equal(t, []ledger.Record{done}, hist)
		})
	}
}

func (s suite) recordFinish(t *testing.T) {
	l := s.open(t)
	r := s.record("r1", "a", -time.Hour)
	require.NoError(t, l.Begin(ctx(t), r))

	mid, err := l.Update(ctx(t), "r1", func(r *ledger.Record) error {
		r.Result = ledger.Failed // a result alone does not finish a record
		return nil
	})
	require.NoError(t, err)
	active, err := l.Active(ctx(t))
	require.NoError(t, err)
	require.Equal(t, []ledger.Record{mid}, active)

	fin, err := l.Update(ctx(t), "r1", func(r *ledger.Record) error {
		r.Phase = ledger.Finished
		r.Outcome = targets.Outcome{How: targets.Restored}
		r.AddStep(s.at(-30*time.Minute), "finished")
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, ledger.Finished, fin.Phase)
	require.False(t, fin.Finished.IsZero(), "Finished is stamped when the update leaves it zero")
	require.Len(t, fin.Steps, 2)

	active, err = l.Active(ctx(t))
	require.NoError(t, err)
	require.Empty(t, active)
	hist, err := l.History(ctx(t), ledger.HistoryQuery{})
	require.NoError(t, err)
	require.Equal(t, []ledger.Record{fin}, hist)

	l = s.reopen(t, l)
	hist, err = l.History(ctx(t), ledger.HistoryQuery{})
	require.NoError(t, err)
	require.Equal(t, []ledger.Record{fin}, hist, "history survives a reopen")
}

func (s suite) recordBeginFinished(t *testing.T) {
	l := s.open(t)
	r := s.record("skip-1", "a", -time.Minute)
	r.Phase, r.Result, r.Reason = ledger.Finished, ledger.Skipped, "paused by ana"
	require.NoError(t, l.Begin(ctx(t), r))

	active, err := l.Active(ctx(t))
	require.NoError(t, err)
	require.Empty(t, active)
	hist, err := l.History(ctx(t), ledger.HistoryQuery{})
	require.NoError(t, err)
	require.Len(t, hist, 1)
	require.Equal(t, "paused by ana", hist[0].Reason)
	require.False(t, hist[0].Finished.IsZero(), "Finished is stamped when Begin gets it zero")
}

func (s suite) recordDuplicate(t *testing.T) {
	l := s.open(t)
	require.NoError(t, l.Begin(ctx(t), s.record("r1", "a", -time.Minute)))
	require.ErrorIs(t, l.Begin(ctx(t), s.record("r1", "b", 0)), ledger.ErrExists, "while active")

	_, err := l.Update(ctx(t), "r1", finish(ledger.Passed, s.at(0)))
	require.NoError(t, err)
	require.ErrorIs(t, l.Begin(ctx(t), s.record("r1", "b", 0)), ledger.ErrExists, "once finished")

	active, err := l.Active(ctx(t))
	require.NoError(t, err)
	require.Empty(t, active)
	hist, err := l.History(ctx(t), ledger.HistoryQuery{})
	require.NoError(t, err)
	require.Len(t, hist, 1)
	require.Equal(t, "a", hist[0].Policy, "the duplicate did not overwrite the first")
}

func (s suite) recordBeginInvalid(t *testing.T) {
	l := s.open(t)
	bad := map[string]ledger.Record{
		"no id":            {Policy: "a", Phase: ledger.Intent},
		"no policy":        {ID: "x", Phase: ledger.Intent},
		"no phase":         {ID: "x", Policy: "a"},
		"unknown result":   {ID: "x", Policy: "a", Phase: ledger.Intent, Result: "great"},
		"finished, no res": {ID: "x", Policy: "a", Phase: ledger.Finished},
	}
	for name, r := range bad {
		require.ErrorIs(t, l.Begin(ctx(t), r), ledger.ErrInvalid, name)
	}
	active, err := l.Active(ctx(t))
	require.NoError(t, err)
	require.Empty(t, active)
	hist, err := l.History(ctx(t), ledger.HistoryQuery{})
	require.NoError(t, err)
	require.Empty(t, hist)
}

func (s suite) recordUpdateMissing(t *testing.T) {
	l := s.open(t)
	called := false
	_, err := l.Update(ctx(t), "nope", func(*ledger.Record) error { called = true; return nil })
	require.ErrorIs(t, err, ledger.ErrNotFound)
	require.False(t, called)

	require.NoError(t, l.Begin(ctx(t), s.record("r1", "a", -time.Minute)))
	_, err = l.Update(ctx(t), "r1", finish(ledger.Passed, s.at(0)))
	require.NoError(t, err)
	_, err = l.Update(ctx(t), "r1", func(*ledger.Record) error { called = true; return nil })
	require.ErrorIs(t, err, ledger.ErrFinished)
	require.False(t, called)
}

func (s suite) recordUpdateAborts(t *testing.T) {
	l := s.open(t)
	want := s.record("r1", "a", -time.Minute)
	require.NoError(t, l.Begin(ctx(t), want))

	boom := errors.New("boom")
	for name, fn := range map[string]func(*ledger.Record) error{
		"fn error": func(r *ledger.Record) error {
			r.Phase = ledger.Injected
			r.Member.Labels["app"] = "changed"
			return boom
		},
		"id change":       func(r *ledger.Record) error { r.ID = "r2"; return nil },
		"steps rewritten": func(r *ledger.Record) error { r.Steps[0].What = "forged"; return nil },
		"finished, no result": func(r *ledger.Record) error {
			r.Phase = ledger.Finished
			return nil
		},
	} {
		_, err := l.Update(ctx(t), "r1", fn)
		require.Error(t, err, name)
		if name == "fn error" {
			require.ErrorIs(t, err, boom)
		} else {
			require.ErrorIs(t, err, ledger.ErrInvalid, name)
		}
	}
	active, err := l.Active(ctx(t))
	require.NoError(t, err)
	require.Equal(t, []ledger.Record{want}, active, "failed updates change nothing")
}

// recordUpdateMany: each update of a batch stands alone; the good ones
// are stored, in order, and survive a reopen.
func (s suite) recordUpdateMany(t *testing.T) {
	l := s.open(t)
	a, b, c := s.record("a", "p", -3*time.Minute), s.record("b", "p", -2*time.Minute), s.record("c", "p", -time.Minute)
	for _, r := range []ledger.Record{a, b, c} {
		require.NoError(t, l.Begin(ctx(t), r))
	}
	boom := errors.New("boom")
	restoring := func(r *ledger.Record) error { r.Phase = ledger.Restoring; return nil }
	recs, errs := l.UpdateMany(ctx(t), []ledger.RecordUpdate{
		{ID: "a", Fn: restoring},
		{ID: "missing", Fn: restoring},
		{ID: "b", Fn: func(r *ledger.Record) error { r.Phase = ledger.Restoring; return boom }},
		{ID: "c", Fn: func(r *ledger.Record) error {
			r.Phase, r.Result = ledger.Finished, ledger.Restored
			r.Finished = s.at(0)
			return nil
		}},
		{ID: "a", Fn: func(r *ledger.Record) error {
			require.Equal(t, ledger.Restoring, r.Phase, "updates of one record apply in order")
			r.AddStep(s.at(0), "restoring at once")
			return nil
		}},
	})
	require.Len(t, recs, 5)
	require.Len(t, errs, 5)
	require.NoError(t, errs[0])
	require.ErrorIs(t, errs[1], ledger.ErrNotFound)
	require.ErrorIs(t, errs[2], boom)
	require.NoError(t, errs[3])
	require.NoError(t, errs[4])
	require.Equal(t, ledger.Finished, recs[3].Phase)
	require.Len(t, recs[4].Steps, 2)

	l = s.reopen(t, l)
	active, err := l.Active(ctx(t))
	require.NoError(t, err)
	require.Len(t, active, 2)
	require.Equal(t, "a", active[0].ID)
	require.Equal(t, ledger.Restoring, active[0].Phase)
	require.Equal(t, "restoring at once", active[0].Steps[1].What)
	require.Equal(t, b, active[1], "a failed update changes nothing")
	hist, err := l.History(ctx(t), ledger.HistoryQuery{})
	require.NoError(t, err)
	require.Len(t, hist, 1)
	require.Equal(t, "c", hist[0].ID)

	recs, errs = l.UpdateMany(ctx(t), nil)
	require.Empty(t, recs)
	require.Empty(t, errs)
}

func (s suite) recordActiveOrder(t *testing.T) {
	l := s.open(t)
	// Begun in an order unlike their Decided times and IDs.
	for _, r := range []ledger.Record{
		s.record("b", "p", -2*time.Minute),
		s.record("c", "p", -3*time.Minute),
		s.record("a", "p", -time.Minute),
	} {
		require.NoError(t, l.Begin(ctx(t), r))
	}
	active, err := l.Active(ctx(t))
	require.NoError(t, err)
	require.Equal(t, []string{"c", "b", "a"}, ids(active))
}

func (s suite) historyFilters(t *testing.T) {
	l := s.open(t)
	// h1..h6 finished an hour apart, h6 newest; policies alternate a, b.
	for i := 1; i <= 6; i++ {
		id := fmt.Sprintf("h%d", i)
		pol := "a"
		if i%2 == 0 {
			pol = "b"
		}
		r := s.record(id, pol, -time.Duration(8-i)*time.Hour)
		require.NoError(t, l.Begin(ctx(t), r))
		_, err := l.Update(ctx(t), id, finish(ledger.Passed, s.at(-time.Duration(7-i)*time.Hour)))
		require.NoError(t, err)
	}
	require.NoError(t, l.Begin(ctx(t), s.record("still-active", "a", -time.Minute)))

	tests := []struct {
		name string
		q    ledger.HistoryQuery
		want []string
	}{
		{"all, newest first", ledger.HistoryQuery{}, []string{"h6", "h5", "h4", "h3", "h2", "h1"}},
		{"since is inclusive", ledger.HistoryQuery{Since: s.at(-3 * time.Hour)}, []string{"h6", "h5", "h4"}},
		{"policy", ledger.HistoryQuery{Policy: "a"}, []string{"h5", "h3", "h1"}},
		{"limit", ledger.HistoryQuery{Limit: 2}, []string{"h6", "h5"}},
		{"policy and limit", ledger.HistoryQuery{Policy: "b", Limit: 2}, []string{"h6", "h4"}},
		{"since and policy", ledger.HistoryQuery{Since: s.at(-3 * time.Hour), Policy: "a"}, []string{"h5"}},
		{"unknown policy", ledger.HistoryQuery{Policy: "zzz"}, nil},
		{"since in the future", ledger.HistoryQuery{Since: s.at(time.Hour)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := l.History(ctx(t), tt.q)
			require.NoError(t, err)
			require.Equal(t, tt.want, ids(got))
		})
	}
}

func (s suite) countSince(t *testing.T) {
	l := s.open(t)
	inject := func(id, policy string, injected time.Duration, finished bool) {
		t.Helper()
		require.NoError(t, l.Begin(ctx(t), s.record(id, policy, injected-time.Second)))
		_, err := l.Update(ctx(t), id, func(r *ledger.Record) error {
			r.Phase, r.Injected = ledger.Injected, s.at(injected)
			return nil
		})
		require.NoError(t, err)
		if finished {
			_, err = l.Update(ctx(t), id, finish(ledger.Passed, s.at(injected+time.Minute)))
			require.NoError(t, err)
		}
	}
	inject("a1", "a", -3*time.Hour, true)
	inject("a2", "a", -2*time.Hour, true)
	inject("a3", "a", -time.Minute, false) // still active
	inject("b1", "b", -time.Hour, true)

	// Decisions that injected nothing do not count.
	require.NoError(t, l.Begin(ctx(t), s.record("a-intent", "a", -time.Minute)))
	skip := s.record("a-skip", "a", -time.Minute)
	skip.Phase, skip.Result, skip.Reason = ledger.Finished, ledger.Skipped, "guardian tripped"
	require.NoError(t, l.Begin(ctx(t), skip))
	require.NoError(t, l.Begin(ctx(t), s.record("a-err", "a", -time.Minute)))
	_, err := l.Update(ctx(t), "a-err", func(r *ledger.Record) error {
		r.Phase, r.Result, r.Error = ledger.Finished, ledger.Error, "docker unreachable"
		return nil
	})
	require.NoError(t, err)

	tests := []struct {
		policy string
		since  time.Time
		want   int
	}{
		{"a", s.at(-4 * time.Hour), 3},
		{"a", s.at(-3 * time.Hour), 3}, // since is inclusive
		{"a", s.at(-3*time.Hour + time.Nanosecond), 2},
		{"a", s.at(-90 * time.Minute), 1},
		{"a", s.at(0), 0},
		{"b", s.at(-4 * time.Hour), 1},
		{"c", s.at(-4 * time.Hour), 0},
	}
	check := func(l ledger.Ledger) {
		t.Helper()
		for _, tt := range tests {
			got, err := l.CountSince(ctx(t), tt.policy, tt.since)
			require.NoError(t, err)
			require.Equal(t, tt.want, got, "policy %s since %s", tt.policy, tt.since.Sub(s.base))
		}
	}
	check(l)
	l = s.reopen(t, l)
	check(l)
}

func (s suite) concurrentControl(t *testing.T) {
	l := s.open(t)
	versions := make(chan uint64, Writers*UpdatesPerWriter)
	var wg sync.WaitGroup
	for w := range Writers {
		wg.Go(func() {
			for i := range UpdatesPerWriter {
				c, err := l.UpdateControl(ctx(t), func(c *ledger.Control) error {
					// A read-modify-write of the map: a lost update would
					// drop one writer's entry or count.
					name := fmt.Sprintf("w%d", w)
					p := c.Policies[name]
					p.State, p.Reason = ledger.Paused, fmt.Sprint(i+1)
					if c.Policies == nil {
						c.Policies = map[string]ledger.PolicyControl{}
					}
					c.Policies[name] = p
					return nil
				})
				if !assertNoError(t, err) {
					return
				}
				versions <- c.Version
			}
		})
	}
	wg.Wait()
	close(versions)

	seen := map[uint64]bool{}
	for v := range versions {
		require.False(t, seen[v], "version %d handed out twice", v)
		seen[v] = true
	}
	require.Len(t, seen, Writers*UpdatesPerWriter)

	c, err := l.Control(ctx(t))
	require.NoError(t, err)
	require.Equal(t, uint64(Writers*UpdatesPerWriter), c.Version)
	require.Len(t, c.Policies, Writers)
	for w := range Writers {
		require.Equal(t, fmt.Sprint(UpdatesPerWriter), c.Policies[fmt.Sprintf("w%d", w)].Reason)
	}
}

func (s suite) concurrentRecords(t *testing.T) {
	l := s.open(t)
	require.NoError(t, l.Begin(ctx(t), s.record("shared", "p", -time.Hour)))
	var wg sync.WaitGroup
	for w := range Writers {
		wg.Go(func() {
			own := fmt.Sprintf("own-%d", w)
			if !assertNoError(t, l.Begin(ctx(t), s.record(own, "p", -time.Duration(w+1)*time.Minute))) {
				return
			}
			for i := range UpdatesPerWriter {
				for _, id := range []string{own, "shared"} {
					_, err := l.Update(ctx(t), id, func(r *ledger.Record) error {
						r.AddStep(s.at(0), "writer %d update %d", w, i)
						return nil
					})
					if !assertNoError(t, err) {
						return
					}
				}
			}
		})
	}
	wg.Wait()

	active, err := l.Active(ctx(t))
	require.NoError(t, err)
	require.Len(t, active, Writers+1)
	for _, r := range active {
		want := UpdatesPerWriter + 1
		if r.ID == "shared" {
			want = Writers*UpdatesPerWriter + 1
		}
		require.Len(t, r.Steps, want, "steps of %s: an update was lost", r.ID)
	}
}

func (s suite) cancelled(t *testing.T) {
	l := s.open(t)
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	_, err := l.Control(c)
	require.ErrorIs(t, err, context.Canceled)
	_, err = l.UpdateControl(c, func(*ledger.Control) error { return nil })
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, l.Begin(c, s.record("r1", "a", 0)), context.Canceled)
	_, err = l.Update(c, "r1", func(*ledger.Record) error { return nil })
	require.ErrorIs(t, err, context.Canceled)
	_, err = l.Active(c)
	require.ErrorIs(t, err, context.Canceled)
	_, err = l.History(c, ledger.HistoryQuery{})
	require.ErrorIs(t, err, context.Canceled)
	_, err = l.CountSince(c, "a", time.Time{})
	require.ErrorIs(t, err, context.Canceled)

	active, err := l.Active(ctx(t))
	require.NoError(t, err)
	require.Empty(t, active, "a cancelled Begin writes nothing")
}

func (s suite) close(t *testing.T) {
	l := s.open(t)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close is safe to call twice")
	_, err := l.Control(ctx(t))
	require.Error(t, err)
	require.Error(t, l.Begin(ctx(t), s.record("r1", "a", 0)))
}

// finish returns an update that finishes a record with the result at the
// given time.
func finish(res ledger.Result, at time.Time) func(*ledger.Record) error {
	return func(r *ledger.Record) error {
		r.Phase, r.Result, r.Finished = ledger.Finished, res, at
		return nil
	}
}

func ids(rs []ledger.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// assertNoError reports an error from a goroutine other than the test's,
// where require's FailNow must not be called.
func assertNoError(t *testing.T, err error) bool {
	if err != nil {
		t.Errorf("unexpected error: %v", err)
		return false
	}
	return true
}
