package ledger

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"
)

// These helpers hold the rules every Ledger implementation shares, so that
// a record means the same thing in bolt and in Consul.

// Clone returns a deep copy: changing the copy's Policies leaves c alone.
func (c Control) Clone() Control {
	c.Policies = maps.Clone(c.Policies)
	return c
}

// Clone returns a deep copy: changing the copy's Steps or member labels
// leaves r alone.
func (r Record) Clone() Record {
	r.Steps = slices.Clone(r.Steps)
	r.Member.Labels = maps.Clone(r.Member.Labels)
	return r
}

// Validate checks the control state's states.
func (c Control) Validate() error {
	if !c.State.Valid() {
		return fmt.Errorf("%w control state %q: want armed, paused or halted", ErrInvalid, c.State)
	}
	for name, p := range c.Policies {
		if name == "" {
			return fmt.Errorf("%w control state: policy entry without a name", ErrInvalid)
		}
		if !p.State.Valid() {
			return fmt.Errorf("%w control state of policy %q: %q: want armed, paused or halted", ErrInvalid, name, p.State)
		}
	}
	return nil
}

// Validate checks a record on its own: an ID, a policy, a known phase and
// result, and a result once finished.
func (r Record) Validate() error {
	switch {
	case r.ID == "":
		return fmt.Errorf("%w record: empty ID", ErrInvalid)
	case r.Policy == "":
		return fmt.Errorf("%w record %s: empty policy", ErrInvalid, r.ID)
	case !r.Phase.Valid():
		return fmt.Errorf("%w record %s: phase %q: want intent, injected, restoring or finished", ErrInvalid, r.ID, r.Phase)
	case !r.Result.Valid():
		return fmt.Errorf("%w record %s: unknown result %q", ErrInvalid, r.ID, r.Result)
	case r.Phase == Finished && r.Result == "":
		return fmt.Errorf("%w record %s: finished without a result", ErrInvalid, r.ID)
	}
	return nil
}

// ApplyControl runs fn on a copy of cur and returns the new control state
// with Version = cur.Version+1, the transition appended to its Changes
// (stamped with the state's Since, or now) and its times in UTC. An empty State means
// armed. An error from fn
// or an invalid result leaves cur as it was.
func ApplyControl(cur Control, now time.Time, fn func(*Control) error) (Control, error) {
	next := cur.Clone()
	if next.State == "" {
		next.State = Armed
	}
	if err := fn(&next); err != nil {
		return cur, fmt.Errorf("update control state: %w", err)
	}
	if next.State == "" {
		next.State = Armed
	}
	if err := next.Validate(); err != nil {
		return cur, err
	}
	if len(next.Policies) == 0 {
		next.Policies = nil
	}
	next.Version = cur.Version + 1
	next.Changes = journal(cur, next, now)
	next.utc()
	return next, nil
}

// journal returns cur's journal with the transitions from cur to next
// appended, trimmed to MaxChanges. A transition is a change of state, or
// a new actor or reason for the same state (halted again by another
// source).
func journal(cur, next Control, now time.Time) []ControlChange {
	out := slices.Clone(cur.Changes)
	curState := cmp.Or(cur.State, Armed)
	if curState != next.State || cur.Actor != next.Actor || cur.Reason != next.Reason || !cur.Since.Equal(next.Since) {
		out = append(out, ControlChange{
			At: stamp(cur.Since, next.Since, now), From: curState, To: next.State,
			Actor: next.Actor, Reason: next.Reason, Source: next.Source, Until: next.Until,
		})
	}
	for _, name := range slices.Sorted(maps.Keys(next.Policies)) {
		p := next.Policies[name]
		old, had := cur.Policies[name]
		if had && old.State == p.State && old.Actor == p.Actor && old.Reason == p.Reason && old.Since.Equal(p.Since) {
			continue
		}
		from := Armed
		if had {
			from = old.State
		}
		out = append(out, ControlChange{
			At: stamp(old.Since, p.Since, now), Policy: name, From: from, To: p.State,
			Actor: p.Actor, Reason: p.Reason, Source: p.Source, Until: p.Until,
		})
	}
	for _, name := range slices.Sorted(maps.Keys(cur.Policies)) {
		if _, ok := next.Policies[name]; ok {
			continue
		}
		// A policy entry removed: resumed, or expired. The entry is gone, so
		// who asked is not known here.
		out = append(out, ControlChange{At: now, Policy: name, From: cur.Policies[name].State, To: Armed})
	}
	if len(out) > MaxChanges {
		out = slices.Clone(out[len(out)-MaxChanges:])
	}
	return out
}

// stamp is when a transition happened: the new Since when the update set
// one, else now (an update that changed the state but kept Since).
func stamp(oldSince, newSince, now time.Time) time.Time {
	if !newSince.IsZero() && !newSince.Equal(oldSince) {
		return newSince
	}
	return now
}

// PrepareBegin validates a new record, stamps Decided (and Finished, for a
// record that begins finished) with now when zero, and converts its times
// to UTC.
func PrepareBegin(r Record, now time.Time) (Record, error) {
	r = r.Clone()
	if r.Decided.IsZero() {
		r.Decided = now
	}
	if r.Phase == Finished && r.Finished.IsZero() {
		r.Finished = now
	}
	if err := r.Validate(); err != nil {
		return Record{}, fmt.Errorf("begin: %w", err)
	}
	r.utc()
	return r, nil
}

// ApplyRecord runs fn on a copy of the active record cur and returns the
// new record, its times in UTC. fn may not change the ID or rewrite earlier
// steps; when it sets Phase to finished without a Finished time, now is
// stamped. An error
// from fn or an invalid result leaves cur as it was.
func ApplyRecord(cur Record, now time.Time, fn func(*Record) error) (Record, error) {
	next := cur.Clone()
	if err := fn(&next); err != nil {
		return cur, fmt.Errorf("update record %s: %w", cur.ID, err)
	}
	if next.ID != cur.ID {
		return cur, fmt.Errorf("%w update of record %s: ID changed to %q", ErrInvalid, cur.ID, next.ID)
	}
	if len(next.Steps) < len(cur.Steps) || !slices.EqualFunc(cur.Steps, next.Steps[:len(cur.Steps)], stepEqual) {
		return cur, fmt.Errorf("%w update of record %s: steps are append-only", ErrInvalid, cur.ID)
	}
	if next.Phase == Finished && next.Finished.IsZero() {
		next.Finished = now
	}
	if err := next.Validate(); err != nil {
		return cur, fmt.Errorf("update: %w", err)
	}
	next.utc()
	return next, nil
}

// utc converts every time to UTC (and drops monotonic readings), so that a
// record reads back from any storage exactly as it was returned when
// written.
func (c *Control) utc() {
	c.Since, c.Until = c.Since.UTC(), c.Until.UTC()
	for i := range c.Changes {
		c.Changes[i].At, c.Changes[i].Until = c.Changes[i].At.UTC(), c.Changes[i].Until.UTC()
	}
	for name, p := range c.Policies {
		p.Since, p.Until = p.Since.UTC(), p.Until.UTC()
		c.Policies[name] = p
	}
}

func (r *Record) utc() {
	for _, t := range []*time.Time{&r.Decided, &r.Injected, &r.RestoreBy, &r.Restored, &r.HealthyAt, &r.SteadyAt, &r.Finished} {
		*t = t.UTC()
	}
	for i := range r.Steps {
		r.Steps[i].At = r.Steps[i].At.UTC()
	}
}

func stepEqual(a, b Step) bool { return a.At.Equal(b.At) && a.What == b.What }

// SortActive sorts records the way Active returns them: oldest Decided
// first, then by ID.
func SortActive(rs []Record) {
	slices.SortFunc(rs, func(a, b Record) int {
		return cmp.Or(a.Decided.Compare(b.Decided), cmp.Compare(a.ID, b.ID))
	})
}

// SortHistory sorts records the way History returns them: newest Finished
// first, then by ID, descending.
func SortHistory(rs []Record) {
	slices.SortFunc(rs, func(a, b Record) int {
		return cmp.Or(b.Finished.Compare(a.Finished), cmp.Compare(b.ID, a.ID))
	})
}
