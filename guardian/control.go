package guardian

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/inferensys/tumult/clock"
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
	RestoreAll(ctx context.Context, reason string, keep func(ledger.Record) bool) (int, error)
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
}

// Controller changes the control state and carries out what a change
// implies: a halt, or a pause with restore, restores at once.
type Controller struct {
	opts ControllerOptions
	log  hclog.Logger
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
			return nil
		}
		if cur, ok := s.Policies[ch.Policy]; ok && cur.State == ledger.Halted {
			return fmt.Errorf("%w: policy %s is halted (%s); resume it first", ErrConflict, ch.Policy, cur.Reason)
		}
		if s.Policies == nil {
			s.Policies = map[string]ledger.PolicyControl{}
		}
		s.Policies[ch.Policy] = ledger.PolicyControl{State: ledger.Paused, Actor: ch.Actor, Reason: ch.Reason, Source: ch.Source, Since: now, Until: until}
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
func (c *Controller) Halt(ctx context.Context, ch Change) (ledger.Control, error) {
	if err := c.check(ch); err != nil {
		return ledger.Control{}, err
	}
	start := c.opts.Clock.Now()
	ctrl, err := c.opts.Ledger.UpdateControl(ctx, func(s *ledger.Control) error {
		if ch.Policy == "" {
			if s.State == ledger.Halted {
				return nil // keep who halted first and since when
			}
			s.State, s.Actor, s.Reason, s.Source, s.Since, s.Until = ledger.Halted, ch.Actor, ch.Reason, ch.Source, start, time.Time{}
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
	c.log.Warn("halting", "policy", orAll(ch.Policy), "actor", ch.Actor, "source", ch.Source, "reason", ch.Reason)
	n, rerr := c.opts.Restorer.RestoreAll(context.WithoutCancel(ctx), "halted by "+ch.Actor+": "+ch.Reason, forPolicy(ch.Policy))
	took := c.opts.Clock.Now().Sub(start)
	c.log.Warn("halted", "policy", orAll(ch.Policy), "restored", n, "took", took)
	if c.opts.OnHalt != nil {
		c.opts.OnHalt(ch.Source, n, took)
	}
	return ctrl, errors.Join(wrapIf("record halt", err), wrapIf("restore", rerr))
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
