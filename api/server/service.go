package server

import (
	"context"

	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/report"
	"github.com/inferensys/tumult/scheduler"
)

// Service is what the HTTP API serves. The running agent implements it;
// API tests use a fake.
type Service interface {
	Status(ctx context.Context) (api.Status, error)
	Pause(ctx context.Context, actor string, req api.PauseRequest) (ledger.Control, error)
	Resume(ctx context.Context, actor string, req api.ResumeRequest) (ledger.Control, error)
	Halt(ctx context.Context, actor string, req api.HaltRequest) (ledger.Control, error)
	Faults(ctx context.Context) ([]ledger.Record, error)
	History(ctx context.Context, q ledger.HistoryQuery) ([]ledger.Record, error)
	Plan(ctx context.Context, hours int) (scheduler.Plan, error)
	Reload(ctx context.Context) (api.ReloadResult, error)
	// AlertWebhook takes an Alertmanager webhook delivery. alertmanager
	// names the configured Alertmanager that sent it (the ?alertmanager=
	// query parameter); empty counts it for every Alertmanager. A name
	// the config lacks is counted like no name, never dropped, and the
	// warning says so.
	AlertWebhook(ctx context.Context, actor, alertmanager string, wh alerting.Webhook) (warning string, err error)
	// Inject runs one experiment now, outside the policy's window, under
	// every other gate; a gate's refusal wraps api.ErrConflict.
	Inject(ctx context.Context, actor string, req api.InjectRequest) (ledger.Record, error)
	// Report sums up the history of the span asked for.
	Report(ctx context.Context, q api.ReportQuery) (report.Report, error)
}
