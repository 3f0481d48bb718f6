package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/inferensys/tumult/internal/crash"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// faultRun is the life of one active fault after injection: wait until it
// is due to end (or is cut short), restore, verify, finish. Exactly one
// run exists per active record in this process.
type faultRun struct {
	rec    ledger.Record
	policy *policies.Policy // nil when the policy is gone
	target targets.Target

	mu     sync.Mutex
	cut    chan struct{} // closed to restore at once
	reason string        // why it was cut; guarded by mu
	done   chan struct{}
	// settle, when set, is when an injection that another process may
	// have left in flight has surely ended: the restore waits for it,
	// even when cut short (see settleOf).
	settle time.Time
}

// endNow cuts the run short with a reason. The first reason wins.
func (r *faultRun) endNow(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.reason != "" {
		return
	}
	r.reason = reason
	close(r.cut)
}

// cutReason says why the run was cut short, or "" when it was not.
func (r *faultRun) cutReason() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reason
}

// startRun starts the run of rec, due to restore at `at`. A non-empty
// reason restores at once and skips verification.
func (e *Engine) startRun(rec ledger.Record, p *policies.Policy, t targets.Target, at time.Time, reason string) *faultRun {
	return e.startRunAt(rec, p, t, at, reason, time.Time{})
}

// startRunSettled starts a run that restores at once (reason) but not
// before settle.
func (e *Engine) startRunSettled(rec ledger.Record, p *policies.Policy, t targets.Target, reason string, settle time.Time) *faultRun {
	return e.startRunAt(rec, p, t, e.opts.Clock.Now(), reason, settle)
}

func (e *Engine) startRunAt(rec ledger.Record, p *policies.Policy, t targets.Target, at time.Time, reason string, settle time.Time) *faultRun {
	e.mu.Lock()
	if r, ok := e.runs[rec.ID]; ok {
		e.mu.Unlock()
		if reason != "" {
			r.endNow(reason)
		}
		return r
	}
	r := &faultRun{rec: rec, policy: p, target: t, cut: make(chan struct{}), done: make(chan struct{}), settle: settle}
	e.runs[rec.ID] = r
	e.wg.Add(1)
	e.mu.Unlock()
	if reason != "" {
		r.endNow(reason)
	}
	go func() {
		defer crash.Recover("scheduler: fault run " + rec.ID)
		defer e.wg.Done()
		defer close(r.done)
		defer func() {
			e.mu.Lock()
			delete(e.runs, rec.ID)
			e.mu.Unlock()
		}()
		e.runFault(r, at)
	}()
	return r
}

func (e *Engine) runFault(r *faultRun, at time.Time) {
	ctx := e.runCtx
	log := e.log.With("policy", r.rec.Policy, "fault_id", r.rec.ID, "member", r.rec.Member.Short())
	if wait := at.Sub(e.opts.Clock.Now()); wait > 0 {
		c, stop := e.opts.Clock.After(wait)
		select {
		case <-c:
		case <-r.cut:
		case <-ctx.Done():
			stop()
			return // shutting down: the record stays active for the next start
		}
		stop()
	}
	if wait := r.settle.Sub(e.opts.Clock.Now()); wait > 0 {
		log.Info("waiting for an injection the previous run may have left in flight", "wait", wait)
		c, stop := e.opts.Clock.After(wait)
		select {
		case <-c:
		case <-ctx.Done():
			stop()
			return
		}
	}
	cutWhy := r.cutReason()
	cut := cutWhy != ""

	start := e.opts.Clock.Now()
	// The record says "restoring" while the restore runs, not before it:
	// the member comes back one durable write sooner, and nothing depends
	// on the order (a record is restored on the next start whether it says
	// injected or restoring). Later writes of the record wait for this one.
	rec := r.rec
	marked := make(chan struct{})
	crash.Go("scheduler: record restoring "+r.rec.ID, func() {
		defer close(marked)
		updated, err := e.writes.Update(ctx, r.rec.ID, func(x *ledger.Record) error {
			x.Phase = ledger.Restoring
			if cut {
				x.AddStep(start, "restoring at once: %s", cutWhy)
			} else {
				x.AddStep(start, "restoring")
			}
			return nil
		})
		if err != nil {
			log.Error("record restore start", "error", err)
			return
		}
		rec = updated
	})
	outcome, err := e.restoreWithRetry(ctx, r, marked, log)
	<-marked
	if err != nil {
		// Only a shutdown stops the retries: the record stays active and
		// the next start restores it.
		log.Warn("restore interrupted; the record stays active for the next start", "error", err)
		return
	}
	took := e.opts.Clock.Now().Sub(start)
	rec.Outcome = outcome
	e.opts.Observer.Observe(Event{Kind: EventRestored, Record: rec, Took: took})
	log.Info("restored", "how", outcome.How, "took", took)

	result, reason := ledger.Restored, cutWhy
	var seen recovery
	if injectErr := r.rec.Error; injectErr != "" && cut {
		result, reason = ledger.Error, "injection failed: "+injectErr
	} else if !cut && r.policy != nil {
		// The member is back: what follows checks the hypothesis, and
		// on-call must not read "restoring" for a member that is up.
		if _, err := e.opts.Ledger.Update(ctx, r.rec.ID, func(x *ledger.Record) error {
			x.Phase = ledger.Verifying
			x.AddStep(e.opts.Clock.Now(), "verifying recovery (%s, within %s)", outcome.How, policies.FormatDuration(e.recoverWithin(r.policy)))
			return nil
		}); err != nil {
			log.Error("record verification start", "error", err)
		}
		result, reason, seen = e.verify(ctx, r, outcome, log)
	}
	now := e.opts.Clock.Now()
	rec, err = e.writes.Update(ctx, r.rec.ID, func(x *ledger.Record) error {
		x.Phase, x.Result, x.Reason, x.Outcome = ledger.Finished, result, reason, outcome
		x.Restored, x.Finished = start.Add(took), now
		x.HealthyAt, x.SteadyAt = seen.healthy, seen.steady
		x.AddStep(now, "%s (%s)", result, outcome.How)
		return nil
	})
	if err != nil {
		log.Error("record finish", "error", err)
		return
	}
	e.opts.Observer.Observe(Event{Kind: EventFinished, Record: rec})
	if result == ledger.Failed && r.policy != nil {
		// pauseFailed says it, at WARN, with the reason: once is enough.
		e.pauseFailed(ctx, r.policy.Name, rec)
		return
	}
	log.Info("experiment "+string(result), "result", result, "reason", cmp.Or(reason, "-"))
}

// restoreWithRetry restores until it succeeds, backing off between
// attempts; only the end of ctx stops it.
func (e *Engine) restoreWithRetry(ctx context.Context, r *faultRun, marked <-chan struct{}, log interface {
	Warn(string, ...any)
}) (targets.Outcome, error) {
	backoff := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		select {
		case e.sem <- struct{}{}:
		case <-ctx.Done():
			return targets.Outcome{}, ctx.Err()
		}
		// Undo survives the cancellation of whatever asked for it; only
		// the engine's own end stops it.
		actx, cancel := context.WithTimeout(ctx, e.opts.RestoreTimeout)
		out, err := r.target.Restore(actx, r.rec.Member, r.rec.Fault)
		cancel()
		<-e.sem
		if err == nil {
			return out, nil
		}
		if errors.Is(err, targets.ErrGone) {
			return targets.Outcome{How: targets.Gone}, nil
		}
		log.Warn("restore failed; retrying", "attempt", attempt, "error", err, "backoff", backoff)
		<-marked
		_, _ = e.writes.Update(ctx, r.rec.ID, func(x *ledger.Record) error {
			x.Error = err.Error()
			if attempt <= 5 || attempt%10 == 0 {
				x.AddStep(e.opts.Clock.Now(), "restore attempt %d failed: %v", attempt, err)
			}
			return nil
		})
		c, stop := e.opts.Clock.After(backoff)
		select {
		case <-c:
		case <-ctx.Done():
			stop()
			return targets.Outcome{}, ctx.Err()
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// recovery is when verification first saw the member healthy, and the
// whole hypothesis (member and steady state) hold; zero when it did not.
type recovery struct {
	healthy, steady time.Time
}

// verify checks the hypothesis after a restore: the member (or its
// replacement) healthy and the steady state in bounds again, within
// recover_within. It also says when each first held, for the report's
// time to recover.
func (e *Engine) verify(ctx context.Context, r *faultRun, out targets.Outcome, log interface {
	Info(string, ...any)
}) (ledger.Result, string, recovery) {
	p := r.policy
	within := e.recoverWithin(p)
	member := r.rec.Member
	if out.How == targets.Replaced && out.Replacement != "" {
		member.ID, member.Name = out.Replacement, ""
	}
	deadline := e.opts.Clock.Now().Add(within)
	var seen recovery
	var last string
	for {
		now := e.opts.Clock.Now()
		memberOK, ok, why := e.recovered(ctx, r, member, out)
		if memberOK && seen.healthy.IsZero() && out.How != targets.Gone {
			seen.healthy = now
		}
		if ok {
			if p.SteadyState != nil && !r.rec.DryRun {
				seen.steady = now
			}
			return ledger.Passed, "recovered: " + why, seen
		}
		last = why
		if !e.opts.Clock.Now().Before(deadline) {
			return ledger.Failed, fmt.Sprintf("not recovered within %s: %s", policies.FormatDuration(within), last), seen
		}
		// Said when seen, before the wait: logged after it, the line came
		// right before the check that passed and told of one 2s old.
		log.Info("waiting for recovery", "why", why, "next_check", e.opts.VerifyInterval)
		c, stop := e.opts.Clock.After(e.opts.VerifyInterval)
		select {
		case <-c:
		case <-r.cut:
			stop()
			return ledger.Restored, "verification cut short: " + r.cutReason(), seen
		case <-ctx.Done():
			stop()
			return ledger.Restored, "verification cut short: agent stopping", seen
		}
	}
}

// recoverWithin is how long a member has to recover after a restore.
func (e *Engine) recoverWithin(p *policies.Policy) time.Duration {
	if p.SteadyState != nil {
		return p.SteadyState.RecoverWithin
	}
	return e.opts.DefaultRecoverWithin
}

// recovered reports whether the member is healthy (or gone, when it was
// not replaced), and whether the whole hypothesis holds, with why.
func (e *Engine) recovered(ctx context.Context, r *faultRun, m targets.Member, out targets.Outcome) (memberOK, ok bool, why string) {
	var parts []string
	if out.How != targets.Gone {
		st, err := r.target.State(ctx, m)
		switch {
		case err != nil:
			return false, false, fmt.Sprintf("read %s: %v", m.Short(), err)
		case !st.Healthy:
			return false, false, fmt.Sprintf("%s is %s", m.Short(), cmp.Or(st.Status, "-"))
		}
		parts = append(parts, m.Short()+" healthy")
	}
	if ss := r.policy.SteadyState; ss != nil && !r.rec.DryRun {
		if e.opts.Steady == nil {
			return true, false, "no Prometheus source for the steady state"
		}
		v, err := e.opts.Steady.Query(ctx, ss.Prometheus, ss.Query)
		if err != nil {
			return true, false, fmt.Sprintf("steady state unreadable: %v", err)
		}
		if !ss.InBounds(v) {
			return true, false, fmt.Sprintf("steady state %g not in %s", v, bounds(ss))
		}
		parts = append(parts, fmt.Sprintf("steady state %g in %s", v, bounds(ss)))
	}
	if len(parts) == 0 {
		return true, true, string(out.How)
	}
	return true, true, joinAnd(parts)
}

func joinAnd(parts []string) string {
	out := parts[0]
	for _, p := range parts[1:] {
		out += ", " + p
	}
	return out
}

// pauseFailed has the controller pause a policy whose experiment failed,
// so that a person looks before it runs again.
func (e *Engine) pauseFailed(ctx context.Context, policy string, rec ledger.Record) {
	if err := e.opts.Control.PauseFailed(ctx, policy, fmt.Sprintf("experiment %s failed: %s", rec.ID, rec.Reason)); err != nil {
		e.log.Error("pause policy after failed experiment", "policy", policy, "error", err)
		return
	}
	e.log.Warn("experiment failed; policy paused", "policy", policy, "fault_id", rec.ID, "reason", rec.Reason)
}

// Hold keeps every new fault of policy (of every policy when policy is
// "") from being injected until release is called; release is safe to
// call more than once, and holds nest. A halt holds the engine while it
// records itself, so that its RestoreAll can start at once instead of
// after a durable write: a decision that reaches the gate while a hold
// covers its policy skips, and one already past the gate is waited for
// by RestoreAll, as under a recorded halt.
func (e *Engine) Hold(policy string) (release func()) {
	e.holdMu.Lock()
	e.holds[policy]++
	e.holdMu.Unlock()
	return sync.OnceFunc(func() {
		e.holdMu.Lock()
		defer e.holdMu.Unlock()
		if e.holds[policy]--; e.holds[policy] <= 0 {
			delete(e.holds, policy)
		}
	})
}

// heldBack says why a hold keeps the policy's faults from starting, or
// "" when none does.
func (e *Engine) heldBack(policy string) string {
	e.holdMu.Lock()
	defer e.holdMu.Unlock()
	switch {
	case e.holds[""] > 0:
		return "a halt of every policy is being recorded"
	case e.holds[policy] > 0:
		return "a halt of policy " + policy + " is being recorded"
	}
	return ""
}

// RestoreAll restores at once every active fault that keep selects (nil:
// all), cancelling injections in flight, and waits until they are
// restored or ctx ends. Call it once no fault can start any more: after
// the halt or pause has been recorded in the ledger, or under a Hold. It
// returns how many faults it restored.
func (e *Engine) RestoreAll(ctx context.Context, reason string, keep func(ledger.Record) bool) (int, error) {
	e.injectMu.Lock()
	e.injectCancel()
	e.injectCtx, e.injectCancel = context.WithCancel(context.Background())
	e.injectMu.Unlock()
	// Wait for decisions under way: they either saw the new state and
	// skip, or finished injecting and are in the ledger's active set.
	e.gate.Lock()
	//lint:ignore SA2001 taking the write lock is the point: it waits until no injection is under way.
	e.gate.Unlock()

	var runs []*faultRun
	var errs []error
	active, err := e.opts.Ledger.Active(context.WithoutCancel(ctx))
	if err != nil {
		// Fail closed: an unreachable ledger (Consul down) must not keep
		// the faults this process holds in place. Restore those; records
		// it cannot update stay active, and the next RestoreAll or start
		// restores them again (restore is idempotent).
		errs = append(errs, fmt.Errorf("read active faults: %w", err))
		active = e.running()
	}
	for _, rec := range active {
		if keep != nil && !keep(rec) {
			continue
		}
		r, err := e.adopt(rec, reason)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		runs = append(runs, r)
	}
	for _, r := range runs {
		select {
		case <-r.done:
		case <-ctx.Done():
			return len(runs), errors.Join(append(errs, fmt.Errorf("restores still under way: %w", ctx.Err()))...)
		}
	}
	return len(runs), errors.Join(errs...)
}

// adopt makes sure a run exists for rec and cuts it short.
func (e *Engine) adopt(rec ledger.Record, reason string) (*faultRun, error) {
	e.mu.Lock()
	r, ok := e.runs[rec.ID]
	e.mu.Unlock()
	if ok {
		r.endNow(reason)
		return r, nil
	}
	t, err := e.targetFor(rec)
	if err != nil {
		return nil, fmt.Errorf("restore %s of %s: %w", rec.ID, rec.Member.Short(), err)
	}
	p, _ := e.Policy(rec.Policy)
	return e.startRunSettled(rec, p, t, reason, settleOf(rec)), nil
}

// injectionGrace covers the time between a record's decision and its
// injection call, and the engine's own latency.
const injectionGrace = 2 * time.Second

// defaultEngineStop is how long an engine waits before it kills a member
// that a stop or restart without a timeout asked to end (Docker's and
// Nomad's default, 10s).
const defaultEngineStop = 10 * time.Second

// settleOf is, for a record this process did not inject, when an
// injection of it still in flight has surely ended. A record in the
// intent phase was written before the injection call: the process that
// wrote it may have died with the call on the wire, and the engine
// carries it out anyway — a stop waits up to its timeout before the
// member goes down. Restoring before that would find the member still up,
// call it unaffected, and leave it down once the stop lands. Records past
// intent had their call answered: nothing is in flight.
func settleOf(rec ledger.Record) time.Time {
	if rec.Phase != ledger.Intent || rec.Decided.IsZero() {
		return time.Time{}
	}
	wait := injectionGrace
	switch rec.Fault.Kind {
	case policies.FaultStop, policies.FaultRestart:
		if rec.Fault.Timeout > 0 {
			wait += rec.Fault.Timeout
		} else {
			wait += defaultEngineStop
		}
	}
	return rec.Decided.Add(wait)
}

// Recover restores every fault the ledger holds as unfinished — left by a
// crash, or by a leader that died — and waits until all are restored or
// ctx ends. Call it before Run.
func (e *Engine) Recover(ctx context.Context) (int, error) {
	return e.RestoreAll(ctx, "recovered at start: the previous run did not finish it", nil)
}

// Active returns how many faults this process is running.
func (e *Engine) Active() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.runs)
}

// running returns the records of the faults this process is running.
func (e *Engine) running() []ledger.Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	recs := make([]ledger.Record, 0, len(e.runs))
	for _, r := range e.runs {
		recs = append(recs, r.rec)
	}
	return recs
}

// Wait blocks until every run has ended or ctx ends. Tests use it.
func (e *Engine) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		e.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops every run where it is: records not yet finished stay active
// in the ledger and are restored by the next start. Call RestoreAll first
// to restore them now.
func (e *Engine) Close() {
	e.runCancel()
	e.injectMu.Lock()
	e.injectCancel()
	e.injectMu.Unlock()
	e.wg.Wait()
}
