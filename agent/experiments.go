package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/report"
	"github.com/inferensys/tumult/scheduler"
)

// Inject implements Service: one experiment now, outside the policy's
// window, under every other gate. A gate's refusal is api.ErrConflict with
// the gate's reason; it is recorded in the history like any skip.
func (a *Agent) Inject(ctx context.Context, actor string, req api.InjectRequest) (ledger.Record, error) {
	if !a.leading() {
		return ledger.Record{}, fmt.Errorf("%w: replica %s is a standby; send the inject to the leader", api.ErrUnavailable, a.replica())
	}
	rec, err := a.engine.Inject(ctx, scheduler.InjectRequest{Policy: req.Policy, Member: req.Member, Actor: actor, Reason: req.Reason})
	switch {
	case err == nil:
		a.log.Warn("experiment injected on request", "policy", req.Policy, "member", rec.Member.Short(), "fault_id", rec.ID, "actor", actor, "reason", req.Reason)
		return rec, nil
	case errors.Is(err, scheduler.ErrUnknownPolicy), errors.Is(err, scheduler.ErrUnknownMember):
		return rec, fmt.Errorf("%w: %w", api.ErrNotFound, err)
	case errors.Is(err, scheduler.ErrRefused):
		a.log.Info("inject refused", "policy", req.Policy, "actor", actor, "reason", rec.Reason)
		return rec, fmt.Errorf("%w: %w", api.ErrConflict, err)
	}
	return rec, fmt.Errorf("%w: %w", api.ErrBadRequest, err)
}

// Report implements Service.
func (a *Agent) Report(ctx context.Context, q api.ReportQuery) (report.Report, error) {
	since := q.Since
	if since <= 0 {
		since = api.DefaultReportSince
	}
	to := a.clock.Now()
	from := to.Add(-since)
	hist, err := a.ledger.History(ctx, ledger.HistoryQuery{Since: from, Policy: q.Policy})
	if err != nil {
		return report.Report{}, fmt.Errorf("%w: read history: %w", api.ErrUnavailable, err)
	}
	ctrl, err := a.ledger.Control(ctx)
	if err != nil {
		return report.Report{}, fmt.Errorf("%w: read control state: %w", api.ErrUnavailable, err)
	}
	r, err := report.Make(hist, ctrl.Changes, report.Options{From: from, To: to, Policy: q.Policy})
	if err != nil {
		return report.Report{}, fmt.Errorf("%w: %w", api.ErrBadRequest, err)
	}
	return r, nil
}
