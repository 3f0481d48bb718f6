package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/api/server"
	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/scheduler"
)

var _ server.Service = (*Agent)(nil)

// apiErr maps control errors to the API's error classes; op says what
// failed, for the answer and the log.
func (a *Agent) apiErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, guardian.ErrInvalid):
		return fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	case errors.Is(err, guardian.ErrUnknown):
		return fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, guardian.ErrConflict):
		return fmt.Errorf("%w: %s", api.ErrConflict, conflictWhy(err))
	case errors.Is(err, ledger.ErrUnavailable):
		return a.unavailable(op, err)
	}
	return err
}

// conflictWhy is what on-call needs of a conflict: the controller's own
// sentence ("tumult is halted (x); resume it first"), without the ledger
// file and the operations it passed through on the way up, which read as
// a storage failure.
func conflictWhy(err error) string {
	inner := err
	for {
		next := errors.Unwrap(inner)
		if next == nil || next == guardian.ErrConflict || !errors.Is(next, guardian.ErrConflict) {
			break
		}
		inner = next
	}
	if inner == err && errors.Unwrap(err) != guardian.ErrConflict {
		return err.Error() // joined or unusual: keep all of it
	}
	return strings.TrimPrefix(inner.Error(), guardian.ErrConflict.Error()+": ")
}

// unavailable is the answer to a call the ledger failed: 503 (worth a
// retry once the disk or the backend is back), with the cause in a few
// words but without the ledger's location, which the log has in full.
func (a *Agent) unavailable(op string, err error) error {
	a.log.Error("ledger failed; the API answered 503", "op", op, "error", err)
	cause := "storage failure"
	var errno syscall.Errno
	if errors.As(err, &errno) {
		cause = errno.Error()
	} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		cause = "timed out"
	}
	return fmt.Errorf("%w: %s: the ledger cannot be used now (%s); the agent's log has the details", api.ErrUnavailable, op, cause)
}

// Pause implements server.Service.
func (a *Agent) Pause(ctx context.Context, actor string, req api.PauseRequest) (ledger.Control, error) {
	var d time.Duration
	if req.For != "" {
		var err error
		if d, err = policies.ParseDuration(req.For); err != nil || d <= 0 {
			return ledger.Control{}, fmt.Errorf("%w: for must be a positive duration such as \"2h\"", api.ErrBadRequest)
		}
	}
	c, err := a.control.Pause(ctx, guardian.Change{Actor: actor, Source: "api", Reason: req.Reason, Policy: req.Policy, For: d, Restore: req.Restore})
	return c, a.apiErr("pause", err)
}

// Resume implements server.Service.
func (a *Agent) Resume(ctx context.Context, actor string, req api.ResumeRequest) (ledger.Control, error) {
	c, err := a.control.Resume(ctx, guardian.Change{Actor: actor, Source: "api", Reason: req.Reason, Policy: req.Policy})
	if err == nil {
		a.engine.Poke()
	}
	return c, a.apiErr("resume", err)
}

// Halt implements server.Service.
func (a *Agent) Halt(ctx context.Context, actor string, req api.HaltRequest) (ledger.Control, error) {
	// Answered once recorded: the restore goes on in the background, and
	// GET /v1/faults shows what is still being restored.
	c, err := a.control.HaltInBackground(ctx, guardian.Change{Actor: actor, Source: "api", Reason: req.Reason})
	return c, a.apiErr("halt", err)
}

// Faults implements server.Service.
func (a *Agent) Faults(ctx context.Context) ([]ledger.Record, error) {
	recs, err := a.ledger.Active(ctx)
	if err != nil {
		return nil, a.unavailable("read active faults", err)
	}
	return recs, nil
}

// History implements server.Service.
func (a *Agent) History(ctx context.Context, q ledger.HistoryQuery) ([]ledger.Record, error) {
	recs, err := a.ledger.History(ctx, q)
	if err != nil {
		return nil, a.unavailable("read history", err)
	}
	if len(recs) > 0 || q.Policy == "" {
		return recs, nil
	}
	// An empty answer for a mistyped name would read as "all quiet". A
	// policy that is loaded, or was once and left records, is known: its
	// empty answer is true.
	if _, ok := a.policy(q.Policy); ok {
		return recs, nil
	}
	ever, err := a.ledger.History(ctx, ledger.HistoryQuery{Policy: q.Policy, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("%w: read history of policy %q: %w", api.ErrUnavailable, q.Policy, err)
	}
	if len(ever) == 0 {
		return nil, fmt.Errorf("policy %q is not a loaded policy and has no history: %w", q.Policy, api.ErrNotFound)
	}
	return recs, nil
}

// Plan implements server.Service.
func (a *Agent) Plan(_ context.Context, hours int) (scheduler.Plan, error) {
	now := a.clock.Now().Truncate(time.Minute)
	return scheduler.MakePlan(a.policies(), now, now.Add(time.Duration(hours)*time.Hour), nil), nil
}

// Reload implements server.Service.
func (a *Agent) Reload(ctx context.Context) (api.ReloadResult, error) {
	return a.reload(ctx, "api")
}

// AlertWebhook implements server.Service.
func (a *Agent) AlertWebhook(ctx context.Context, actor, alertmanager string, wh alerting.Webhook) (string, error) {
	var warning string
	if known, have := a.cfg.Known("alertmanager", alertmanager); alertmanager != "" && !known {
		// Alertmanager does not retry a refused delivery: a typo must not
		// turn the fast path off. Fail closed: count it for every wire.
		warning = fmt.Sprintf("?alertmanager=%q: the agent config has no such alertmanager (%s); the alerts count for every alertmanager",
			alertmanager, have)
		a.log.Warn("alertmanager webhook: "+warning, "actor", actor)
		alertmanager = ""
	}
	return warning, a.currentGuard().IngestWebhook(ctx, alertmanager, wh)
}

// Status implements server.Service.
func (a *Agent) Status(ctx context.Context) (api.Status, error) {
	now := a.clock.Now()
	ctrl, err := a.ledger.Control(ctx)
	if err != nil {
		return api.Status{}, a.unavailable("read control state", err)
	}
	active, err := a.ledger.Active(ctx)
	if err != nil {
		return api.Status{}, a.unavailable("read active faults", err)
	}
	g := ctrl.Global(now)
	st := api.Status{
		State: g.State, Actor: g.Actor, Reason: g.Reason, Source: g.Source, Since: g.Since, Until: g.Until,
		DryRun: a.cfg.DryRun, Leader: a.leading(), Replica: a.replica(), Faults: active,
	}
	perPolicy := map[string]int{}
	for _, r := range active {
		perPolicy[r.Policy]++
	}
	for _, p := range a.policies() {
		ps := api.PolicyStatus{
			Name: p.Name, Enabled: p.Enabled, DryRun: p.DryRun || a.cfg.DryRun,
			Target: string(p.Target.Driver) + "/" + p.Target.Endpoint, Fault: string(p.Fault.Kind),
			Active: perPolicy[p.Name],
		}
		week := now.Add(7 * 24 * time.Hour)
		if ivs := p.OpenIntervals(now, week); len(ivs) > 0 && !ivs[0].Start.After(now) {
			ps.WindowOpen = true
			if ivs[0].End.Before(week) { // else open for at least a week
				ps.Closes = ivs[0].End
			}
		} else if next, ok := p.NextOpen(now, 366*24*time.Hour); ok {
			ps.NextOpen = next
		}
		if f, ok := p.FrozenAt(now); ok {
			ps.Frozen = f.Reason
			if ps.Frozen == "" {
				ps.Frozen = "frozen"
			}
		}
		eff := ctrl.Effective(p.Name, now)
		ps.State, ps.StateReason, ps.StateActor, ps.StateUntil = eff.State, eff.Reason, eff.Actor, eff.Until
		if n, err := a.ledger.CountSince(ctx, p.Name, p.DayStart(now)); err == nil {
			ps.Today = n
		}
		info := a.engine.Info(p.Name)
		ps.Last, ps.LastAt = info.Last, info.LastAt
		if p.Enabled && eff.State == ledger.Armed {
			// A next decision exists only for a policy that may act:
			// a paused, halted or disabled one has none to show.
			ps.NextAt = info.Next
		}
		st.Policies = append(st.Policies, ps)
	}
	st.Endpoints = a.endpoints.Statuses(a.policies())
	a.mu.Lock()
	if r := a.lastReload; r != nil {
		cp := *r
		st.LastReload = &cp
	}
	a.mu.Unlock()
	st.Sources = append(st.Sources, a.currentGuard().SourceStatuses()...)
	sort.Slice(st.Sources, func(i, j int) bool { return st.Sources[i].Name < st.Sources[j].Name })
	return st, nil
}
