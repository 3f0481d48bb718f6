package ledger

import (
	"fmt"
	"time"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// State is the control state, global or of one policy: armed, paused
// (no new faults) or halted (everything restored, no new faults).
type State string

const (
	// Armed: faults may be scheduled.
	Armed State = "armed"
	// Paused: no new faults; running faults end normally (or at once, when
	// paused with -restore).
	Paused State = "paused"
	// Halted: everything is restored at once and no new faults start.
	Halted State = "halted"
)

// Valid reports whether s is one of the three states.
func (s State) Valid() bool { return s == Armed || s == Paused || s == Halted }

// severity orders states so that the strictest one governs.
func (s State) severity() int {
	switch s {
	case Halted:
		return 2
	case Paused:
		return 1
	default:
		return 0
	}
}

// Control is the control state: global, plus per-policy pauses and halts.
// Every change records who made it, why and when, and survives restarts.
type Control struct {
	State State `json:"state"`
	// Actor is who changed the state: a token name, "cli", or "guardian".
	Actor  string `json:"actor,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Source is where the change came from: "cli", "api", or the name of
	// the guardian source that tripped.
	Source string    `json:"source,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	// Until is when the state expires back to armed (pause -for); zero
	// means never.
	Until time.Time `json:"until,omitzero"`
	// Restore, with a pause, says it was asked to restore running faults
	// at once (pause -restore): the replica that leads restores them when
	// it sees the state, whichever replica was asked.
	Restore bool `json:"restore,omitempty"`
	// Policies holds per-policy pauses and halts, by policy name. A policy
	// absent from the map is governed by the global state alone.
	Policies map[string]PolicyControl `json:"policies,omitempty"`
	// Version counts updates. The store sets it; changes made by an update
	// function are overwritten.
	Version uint64 `json:"version"`
	// Changes is the journal of state transitions, oldest first, at most
	// MaxChanges of them. The store appends to it (see ApplyControl);
	// changes an update function makes to it are overwritten. It is what
	// tells, later, when tumult was halted and what tripped it.
	Changes []ControlChange `json:"changes,omitempty"`
}

// MaxChanges bounds Control.Changes: the oldest transitions are dropped
// first. Halts and pauses are rare events, so this keeps months of them in
// a few tens of kilobytes.
const MaxChanges = 256

// ControlChange is one transition of the control state, global or of one
// policy.
type ControlChange struct {
	At time.Time `json:"at"`
	// Policy is the policy whose state changed; empty for the global state.
	Policy string `json:"policy,omitempty"`
	From   State  `json:"from"`
	To     State  `json:"to"`
	Actor  string `json:"actor,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Source is "cli", "api", "expiry", "experiment" or the guardian source
	// that tripped.
	Source string    `json:"source,omitempty"`
	Until  time.Time `json:"until,omitzero"`
}

// PolicyControl is the control state of one policy.
type PolicyControl struct {
	State  State     `json:"state"`
	Actor  string    `json:"actor,omitempty"`
	Reason string    `json:"reason,omitempty"`
	Source string    `json:"source,omitempty"`
	Since  time.Time `json:"since,omitzero"`
	Until  time.Time `json:"until,omitzero"`
	// Restore: see Control.Restore.
	Restore bool `json:"restore,omitempty"`
}

// Restores reports whether running faults under this state are to be
// restored at once: halted, or paused with restore.
func (p PolicyControl) Restores() bool {
	return p.State == Halted || (p.State == Paused && p.Restore)
}

// expired reports whether a state with this Until no longer holds at now.
func expired(until, now time.Time) bool { return !until.IsZero() && !now.Before(until) }

// Global returns the global state as a PolicyControl, as it holds at now:
// armed once an expiring state has passed its Until.
func (c Control) Global(now time.Time) PolicyControl {
	g := PolicyControl{State: c.State, Actor: c.Actor, Reason: c.Reason, Source: c.Source, Since: c.Since, Until: c.Until, Restore: c.Restore}
	if g.State == "" {
		g.State = Armed
	}
	if g.State != Armed && expired(g.Until, now) {
		return PolicyControl{State: Armed, Since: g.Until}
	}
	return g
}

// Effective returns the control that governs the policy at now: the global
// state or the policy's own, whichever is stricter (halted over paused over
// armed; the global one on a tie). Expired states count as armed. Its Actor
// and Reason say why a fault is not scheduled.
func (c Control) Effective(policy string, now time.Time) PolicyControl {
	g := c.Global(now)
	p, ok := c.Policies[policy]
	if !ok || expired(p.Until, now) || p.State.severity() <= g.State.severity() {
		return g
	}
	return p
}

// Expire rewrites states whose Until has passed at now: the global state
// becomes armed and expired policy entries are removed. It reports whether
// it changed anything; call it inside UpdateControl so that the expiry is
// recorded like any other change.
func (c *Control) Expire(now time.Time) bool {
	changed := false
	if c.State != "" && c.State != Armed && expired(c.Until, now) {
		*c = Control{
			State:    Armed,
			Actor:    "tumult",
			Reason:   fmt.Sprintf("%s by %s expired", c.State, c.Actor),
			Source:   "expiry",
			Since:    c.Until,
			Policies: c.Policies,
			Version:  c.Version,
		}
		changed = true
	}
	for name, p := range c.Policies {
		if expired(p.Until, now) {
			delete(c.Policies, name)
			changed = true
		}
	}
	return changed
}

// Phase is how far a fault has come. Every phase but Finished is restored
// on the next start after a crash.
type Phase string

const (
	// Intent: written before injecting; the member may or may not have
	// been touched.
	Intent Phase = "intent"
	// Injected: the fault holds the member.
	Injected Phase = "injected"
	// Restoring: tumult is bringing the member back.
	Restoring Phase = "restoring"
	// Verifying: the member is back; tumult checks that it (or its
	// replacement) is healthy and the steady state in bounds within
	// recover_within. Restoring it again after a crash is harmless.
	Verifying Phase = "verifying"
	// Finished: nothing left to do; the record is history.
	Finished Phase = "finished"
)

// Valid reports whether p is one of the phases.
func (p Phase) Valid() bool {
	return p == Intent || p == Injected || p == Restoring || p == Verifying || p == Finished
}

// Result is how an experiment ended; empty while the record is active.
type Result string

const (
	// Passed: the member and the steady state recovered in time.
	Passed Result = "passed"
	// Failed: they did not; the policy is paused.
	Failed Result = "failed"
	// Restored: ended early by tumult (halt, pause -restore, shutdown, or
	// recovery after a crash) and the member was brought back.
	Restored Result = "restored"
	// Skipped: a decision that injected nothing; Reason says why.
	Skipped Result = "skipped"
	// Error: injecting or restoring failed; Error says how.
	Error Result = "error"
	// Aborted: given up without a restore (the member was gone, ...).
	Aborted Result = "aborted"
)

// Valid reports whether r is empty or one of the known results.
func (r Result) Valid() bool {
	switch r {
	case "", Passed, Failed, Restored, Skipped, Error, Aborted:
		return true
	}
	return false
}

// Record is one fault decision, written before the fault (write-ahead) and
// updated after each step, so that the next start can restore whatever a
// crash left behind.
type Record struct {
	ID     string `json:"id"`
	Policy string `json:"policy"`
	// Actor is "scheduler" or the person who asked for the fault.
	Actor  string             `json:"actor,omitempty"`
	Member targets.Member     `json:"member"`
	Fault  policies.FaultSpec `json:"fault"`
	DryRun bool               `json:"dry_run,omitempty"`
	// Mechanism is how the driver put the fault in place where it had a
	// choice: "netem" or "netfilter" for network faults (by what the
	// member's kernel has), "cgroup" for stress.
	Mechanism string `json:"mechanism,omitempty"`

	Phase  Phase  `json:"phase"`
	Result Result `json:"result,omitempty"`
	// Reason says why a decision was skipped or an experiment failed.
	Reason  string          `json:"reason,omitempty"`
	Outcome targets.Outcome `json:"outcome,omitzero"`
	Error   string          `json:"error,omitempty"`

	// ActorReason is why the actor asked for this fault (tumult inject);
	// empty for the scheduler's own decisions.
	ActorReason string `json:"actor_reason,omitempty"`

	Decided   time.Time `json:"decided,omitzero"`
	Injected  time.Time `json:"injected,omitzero"`
	RestoreBy time.Time `json:"restore_by,omitzero"`
	Restored  time.Time `json:"restored,omitzero"`
	// HealthyAt is when verification first saw the member (or its
	// replacement) healthy after the restore; zero when it never did or
	// was not checked.
	HealthyAt time.Time `json:"healthy_at,omitzero"`
	// SteadyAt is when verification first saw the whole hypothesis hold
	// again, the member healthy and the steady state in bounds; zero for
	// a policy without steady_state, or when it never held.
	SteadyAt time.Time `json:"steady_at,omitzero"`
	Finished time.Time `json:"finished,omitzero"`

	// Steps is the append-only audit of what happened to this record.
	Steps []Step `json:"steps,omitempty"`
}

// Step is one line of a record's audit trail.
type Step struct {
	At   time.Time `json:"at"`
	What string    `json:"what"`
}

// AddStep appends a line to the audit trail.
func (r *Record) AddStep(at time.Time, format string, args ...any) {
	r.Steps = append(r.Steps, Step{At: at, What: fmt.Sprintf(format, args...)})
}

// Active reports whether the record still needs attention (restore on
// start, a slot in max_disrupted).
func (r Record) Active() bool { return r.Phase != Finished }
