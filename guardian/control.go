package guardian

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/internal/crash"
	"github.com/inferensys/tumult/ledger"
)

// Errors of control operations; callers map them to API answers.
var (
	ErrInvalid  = errors.New("invalid request")
	ErrUnknown  = errors.New("unknown policy")
	ErrConflict = errors.New("conflicts with the current state")
)

// ControlLedger is where the control state lives.
type ControlLedger interface {
	Control(ctx context.Context) (ledger.Control, error)
	UpdateControl(ctx context.Context, fn func(*ledger.Control) error) (ledger.Control, error)
}

// Restorer restores active faults at once.
type Restorer interface {
	// RestoreAll restores every active fault keep selects (nil: all) and
	// waits until they are back or ctx ends; it returns how many.
	RestoreAll(ctx context.Context, reason string, keep func(ledger.Record) bool) (int, error)
	// Hold keeps any new fault of policy (of every policy when policy is
	// "") from starting on this replica until release is called, so that
	// a halt can restore while it is still being recorded. It returns nil
	// where a hold cannot keep new faults from starting (a follower: the
	// leader injects); the halt is then recorded before it restores.
	Hold(policy string) (release func())
}

// ControllerOptions configure a Controller.
type ControllerOptions struct {
	Ledger   ControlLedger
	Restorer Restorer
	// Known reports whether a policy name is loaded, for -policy checks.
	Known  func(name string) bool
	Clock  clock.Clock
	Logger hclog.Logger
	// OnHalt, when set, hears about every halt with how long restoring
	// took (for metrics and announcements).
	OnHalt func(source string, restored int, took time.Duration)
	// FollowTimeout bounds the restore that Follow starts for a halt
	// written elsewhere (default 60s).
	FollowTimeout time.Duration
	// ExpireEvery is how often RunExpiry looks for pauses that ran out
	// (default 1s).
	ExpireEvery time.Duration
}

// Controller is the one owner of the control state: every pause,
// resume, halt and expiry — asked for by on-call through the API, by the
// guardian's trip wires, by a failed experiment, or written by another
// replica and seen by the leader's watch — is decided and recorded here,
// and carried out through the injected Restorer. Nothing else writes the
// control state.
type Controller struct {
	opts ControllerOptions
	log  hclog.Logger
	// following makes sure one reaction to a change seen by Follow runs
	// at a time; pending is the latest change not yet carried out.
	following sync.Mutex
	pending   atomic.Pointer[ledger.Control]
}

// NewController returns a controller.
func NewController(opts ControllerOptions) *Controller {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Known == nil {
		opts.Known = func(string) bool { return true }
	}
	if opts.FollowTimeout <= 0 {
		opts.FollowTimeout = time.Minute
	}
	if opts.ExpireEvery <= 0 {
		opts.ExpireEvery = time.Second
	}
	return &Controller{opts: opts, log: opts.Logger}
}

// Change is a request to change the control state.
type Change struct {
	Actor  string
	Source string // "cli", "api", a guardian source, …
	Reason string
	// Policy limits the change to one policy; empty means global.
	Policy string
	// For makes a pause expire after this long; 0 means never.
	For time.Duration
	// Restore, with a pause, restores running faults at once.
	Restore bool
}

func (c *Controller) check(ch Change) error {
	if ch.Reason == "" {
		return fmt.Errorf("%w: a reason is required", ErrInvalid)
	}
	if ch.For < 0 {
		return fmt.Errorf("%w: for must be positive", ErrInvalid)
	}
	if ch.Policy != "" && !c.opts.Known(ch.Policy) {
		return fmt.Errorf("%w %q", ErrUnknown, ch.Policy)
	}
	return nil
}

// Pause stops new faults, globally or for one policy. Running faults end
// normally, or at once with Restore.
func (c *Controller) Pause(ctx context.Context, ch Change) (ledger.Control, error) {
	if err := c.check(ch); err != nil {
		return ledger.Control{}, err
	}
	now := c.opts.Clock.Now()
	var until time.Time
	if ch.For > 0 {
		until = now.Add(ch.For)
	}
	ctrl, err := c.opts.Ledger.UpdateControl(ctx, func(s *ledger.Control) error {
		s.Expire(now)
		if s.Global(now).State == ledger.Halted {
			return fmt.Errorf("%w: tumult is halted (%s); resume it first", ErrConflict, s.Reason)
		}
		if ch.Policy == "" {
			s.State, s.Actor, s.Reason, s.Source, s.Since, s.Until = ledger.Paused, ch.Actor, ch.Reason, ch.Source, now, until
			s.Restore = ch.Restore
			return nil
		}
		if cur, ok := s.Policies[ch.Policy]; ok && cur.State == ledger.Halted {
			return fmt.Errorf("%w: policy %s is halted (%s); resume it first", ErrConflict, ch.Policy, cur.Reason)
		}
		if s.Policies == nil {
			s.Policies = map[string]ledger.PolicyControl{}
		}
		s.Policies[ch.Policy] = ledger.PolicyControl{State: ledger.Paused, Actor: ch.Actor, Reason: ch.Reason, Source: ch.Source, Since: now, Until: until, Restore: ch.Restore}
		return nil
	})
	if err != nil {
		return ledger.Control{}, fmt.Errorf("pause: %w", err)
	}
	c.log.Warn("paused", "policy", orAll(ch.Policy), "actor", ch.Actor, "reason", ch.Reason, "until", until, "restore", ch.Restore)
	if ch.Restore {
		if _, err := c.opts.Restorer.RestoreAll(ctx, "paused with restore by "+ch.Actor+": "+ch.Reason, forPolicy(ch.Policy)); err != nil {
			return ctrl, fmt.Errorf("paused, but restoring failed: %w", err)
		}
	}
	return ctrl, nil
}

// PauseFailed pauses a policy one of whose experiments failed, so that a
// person looks before it runs again: actor "tumult", source "experiment".
// A halted policy stays halted. It does not restore: the failed run has
// restored its own fault already.
func (c *Controller) PauseFailed(ctx context.Context, policy, reason string) error {
	now := c.opts.Clock.Now()
	_, err := c.opts.Ledger.UpdateControl(ctx, func(s *ledger.Control) error {
		if s.Policies == nil {
			s.Policies = map[string]ledger.PolicyControl{}
		}
		if cur, ok := s.Policies[policy]; ok && cur.State == ledger.Halted {
			return nil
		}
		s.Policies[policy] = ledger.PolicyControl{
			State: ledger.Paused, Actor: "tumult", Source: "experiment", Reason: reason, Since: now,
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pause policy %s after a failed experiment: %w", policy, err)
	}
	return nil
}

// Resume arms tumult again, globally or for one policy. A global resume
// leaves per-policy pauses and halts in place.
func (c *Controller) Resume(ctx context.Context, ch Change) (ledger.Control, error) {
	if err := c.check(ch); err != nil {
		return ledger.Control{}, err
	}
	now := c.opts.Clock.Now()
	ctrl, err := c.opts.Ledger.UpdateControl(ctx, func(s *ledger.Control) error {
		s.Expire(now)
		if ch.Policy != "" {
			delete(s.Policies, ch.Policy)
			return nil
		}
		s.State, s.Actor, s.Reason, s.Source, s.Since, s.Until = ledger.Armed, ch.Actor, ch.Reason, ch.Source, now, time.Time{}
		s.Restore = false
		return nil
	})
	if err != nil {
		return ledger.Control{}, fmt.Errorf("resume: %w", err)
	}
	c.log.Warn("resumed", "policy", orAll(ch.Policy), "actor", ch.Actor, "reason", ch.Reason)
	return ctrl, nil
}

// Halt stops every fault and restores every disrupted member at once,
// globally or for one policy. It restores even when the state was halted
// already, so that calling it again is a way to finish a halt.
//
// The restore does not wait for the halt's durable record: the Restorer
// is held (no new fault can start) while the halt is written, and the
// restore runs meanwhile, so members come back one ledger write sooner.
// The hold ends once the halt is recorded or, when it cannot be, once
// the restore has ended as well.
func (c *Controller) Halt(ctx context.Context, ch Change) (ledger.Control, error) {
	if err := c.check(ch); err != nil {
		return ledger.Control{}, err
	}
	start := c.opts.Clock.Now()
	w := c.beginHalt(ctx, ch, start)
	if w.held {
		crash.Go("guardian: record halt", w.write)
	} else {
		w.write() // a follower: the leader must see the halt before anything else
	}
	rerr := func() error {
		defer w.restored() // even when the restore panics: never leave the engine held
		return c.restoreHalt(ctx, ch, start)
	}()
	return w.ctrl, errors.Join(wrapIf("record halt", w.err), wrapIf("restore", rerr))
}

// HaltInBackground is Halt that answers once the halt is recorded: the
// restore goes on in the background, retrying each member until it is
// back (or tumult stops, leaving the record for the next start), so an
// on-call engineer never waits on a slow or failing engine to learn that
// the halt took. Progress is in the ledger: a fault still being restored
// is active, with the last failure in its Error. An error means the halt
// could not be recorded; the restore runs all the same.
//
// Unlike Halt it writes the halt before it starts the restore: run side
// by side, the restore's own work held the answer up (HTTP p50 31 ms
// instead of 4 ms with 10 members paused, 41 ms instead of 8 with 100),
// and the answer is what on-call waits for. A write that fails still
// holds new faults back until the restore has ended.
func (c *Controller) HaltInBackground(ctx context.Context, ch Change) (ledger.Control, error) {
	if err := c.check(ch); err != nil {
		return ledger.Control{}, err
	}
	start := c.opts.Clock.Now()
	w := c.beginHalt(ctx, ch, start)
	w.write()
	rctx := context.WithoutCancel(ctx)
	crash.Go("guardian: halt restore", func() {
		defer w.restored()
		if err := c.restoreHalt(rctx, ch, start); err != nil {
			c.log.Error("halt: restore", "error", err)
		}
	})
	if w.err != nil {
		return w.ctrl, fmt.Errorf("record halt (restoring anyway): %w", w.err)
	}
	return w.ctrl, nil
}

// haltWrite is a halt to be written into the control state while the
// Restorer holds new faults back.
type haltWrite struct {
	// held: the Restorer holds; false where it cannot (a follower).
	held    bool
	release func()
	writeFn func() (ledger.Control, error)
	done    chan struct{} // closed once the write has ended; then ctrl and err are set
	ctrl    ledger.Control
	err     error
}

// beginHalt logs the halt and holds the Restorer: from then on no new
// fault can start, so the caller may restore before the halt is written.
func (c *Controller) beginHalt(ctx context.Context, ch Change, start time.Time) *haltWrite {
	c.log.Warn("halting", "policy", orAll(ch.Policy), "actor", ch.Actor, "source", ch.Source, "reason", ch.Reason)
	w := &haltWrite{release: func() {}, done: make(chan struct{}),
		writeFn: func() (ledger.Control, error) { return c.writeHalt(ctx, ch, start) }}
	if hold := c.opts.Restorer.Hold(ch.Policy); hold != nil {
		// Once only, whatever the Restorer's own release does when called twice.
		w.held, w.release = true, sync.OnceFunc(hold)
	}
	return w
}

// write writes the halt and, once it is durable, ends the hold (from then
// on the recorded state keeps faults from starting).
func (w *haltWrite) write() {
	defer close(w.done)
	w.err = errors.New("writing the halt ended in a panic")
	w.ctrl, w.err = w.writeFn()
	if w.err == nil {
		w.release()
	}
}

// restored is called once the halt's restore has ended: it waits for the
// write and ends the hold, which a write that failed has left on so that
// no fault could start under the restore.
func (w *haltWrite) restored() {
	<-w.done
	w.release()
}

// writeHalt writes the halt into the control state.
func (c *Controller) writeHalt(ctx context.Context, ch Change, start time.Time) (ledger.Control, error) {
	ctrl, err := c.opts.Ledger.UpdateControl(ctx, func(s *ledger.Control) error {
		if ch.Policy == "" {
			if s.State == ledger.Halted {
				return nil // keep who halted first and since when
			}
			s.State, s.Actor, s.Reason, s.Source, s.Since, s.Until = ledger.Halted, ch.Actor, ch.Reason, ch.Source, start, time.Time{}
			s.Restore = false
			return nil
		}
		if cur, ok := s.Policies[ch.Policy]; ok && cur.State == ledger.Halted {
			return nil
		}
		if s.Policies == nil {
			s.Policies = map[string]ledger.PolicyControl{}
		}
		s.Policies[ch.Policy] = ledger.PolicyControl{State: ledger.Halted, Actor: ch.Actor, Reason: ch.Reason, Source: ch.Source, Since: start}
		return nil
	})
	if err != nil {
		// The halt could not be recorded: restore anyway. Stopping the
		// damage matters more than the record of why.
		c.log.Error("record halt failed; restoring anyway", "error", err)
	}
	return ctrl, err
}

// restoreHalt restores every fault the halt covers and waits until they
// are back or ctx ends.
func (c *Controller) restoreHalt(ctx context.Context, ch Change, start time.Time) error {
	n, err := c.opts.Restorer.RestoreAll(context.WithoutCancel(ctx), "halted by "+ch.Actor+": "+ch.Reason, forPolicy(ch.Policy))
	took := c.opts.Clock.Now().Sub(start)
	c.log.Warn("halted", "policy", orAll(ch.Policy), "restored", n, "took", took)
	if c.opts.OnHalt != nil {
		c.opts.OnHalt(ch.Source, n, took)
	}
	return err
}

func wrapIf(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

func forPolicy(name string) func(ledger.Record) bool {
	if name == "" {
		return nil
	}
	return func(r ledger.Record) bool { return r.Policy == name }
}

func orAll(policy string) string {
	if policy == "" {
		return "(all)"
	}
	return policy
}

// Expire arms states whose pause has run out, recording who and why. The
// agent calls it periodically.
func (c *Controller) Expire(ctx context.Context) error {
	now := c.opts.Clock.Now()
	cur, err := c.opts.Ledger.Control(ctx)
	if err != nil {
		return err
	}
	if probe := cur; !probe.Expire(now) {
		return nil
	}
	_, err = c.opts.Ledger.UpdateControl(ctx, func(s *ledger.Control) error {
		s.Expire(now)
		return nil
	})
	return err
}

// RunExpiry arms pauses that ran out (Expire) every ExpireEvery until ctx
// ends.
func (c *Controller) RunExpiry(ctx context.Context) {
	for {
		ch, stop := c.opts.Clock.After(c.opts.ExpireEvery)
		select {
		case <-ctx.Done():
			stop()
			return
		case <-ch:
		}
		if err := c.Expire(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("expire pauses", "error", err)
		}
	}
}

// Follow carries out a control state written elsewhere — by another
// replica whose guardian tripped or whose API was asked — on the replica
// where the faults run: a global halt, or pause with restore, restores
// every fault; halted policies, and policies paused with restore,
// restore theirs. The restore runs in the background, one at a time; a
// change that comes while one runs is carried out once it ends, with the
// latest state. The leader's control watch calls it; deciding who
// restores is this method's business, the restore itself the Restorer's.
func (c *Controller) Follow(ctl ledger.Control) {
	c.pending.Store(&ctl)
	go func() {
		defer crash.Recover("guardian: restore after a halt from another replica")
		// The goroutine holding following looks at pending again after it
		// lets go, so a change stored while it was finishing is not lost.
		for c.pending.Load() != nil {
			if !c.following.TryLock() {
				return
			}
			for next := c.pending.Swap(nil); next != nil; next = c.pending.Swap(nil) {
				c.follow(*next)
			}
			c.following.Unlock()
		}
	}()
}

// follow restores what one control state asks to restore.
func (c *Controller) follow(ctl ledger.Control) {
	now := c.opts.Clock.Now()
	var keep func(ledger.Record) bool
	var reason string
	if g := ctl.Global(now); g.Restores() {
		reason = string(g.State) + " by " + g.Actor + ": " + g.Reason
		if g.State == ledger.Paused {
			reason = "paused with restore by " + g.Actor + ": " + g.Reason
		}
	} else {
		scope := map[string]bool{}
		for name := range ctl.Policies {
			if p := ctl.Effective(name, now); p.Restores() {
				scope[name] = true
				reason = "policy halted"
				if p.State == ledger.Paused {
					reason = "policy paused with restore by " + p.Actor + ": " + p.Reason
				}
			}
		}
		switch len(scope) {
		case 0:
			return
		case 1:
		default:
			reason = "policies halted or paused with restore"
		}
		keep = func(r ledger.Record) bool { return scope[r.Policy] }
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.FollowTimeout)
	defer cancel()
	if n, err := c.opts.Restorer.RestoreAll(ctx, reason, keep); err != nil {
		c.log.Error("restore after a control change from another replica", "error", err)
	} else if n > 0 {
		c.log.Warn("restored faults after a control change written by another replica", "count", n, "reason", reason)
	}
}
