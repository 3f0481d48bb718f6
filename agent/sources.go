package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/scheduler"
)

// This file adapts the alerting sources (and Consul's health API) to the
// small interfaces the guardian and the scheduler declare, so that those
// packages import no HTTP client.

// AlertSourceOf reads an Alertmanager's trip-wire alerts for the guardian.
func AlertSourceOf(am *alerting.Alertmanager) guardian.AlertSource { return alertSource{am} }

type alertSource struct{ am *alerting.Alertmanager }

func (s alertSource) Alerts(ctx context.Context) ([]guardian.Alert, error) {
	as, err := s.am.Alerts(ctx)
	if err != nil {
		return nil, err
	}
	return GuardianAlerts(as), nil
}

// GuardianAlerts leaves tumult's own announcements out of alerts (one
// type, policies.Alert, on both sides).
func GuardianAlerts(as []alerting.Alert) []guardian.Alert {
	out := make([]guardian.Alert, 0, len(as))
	for _, a := range as {
		if guardian.IsAnnouncement(a.Labels) {
			continue
		}
		out = append(out, a)
	}
	return out
}

// WebhookAlerts splits a webhook delivery into the firing and resolved
// alerts that the guardian's Ingest takes, leaving tumult's own
// announcements out.
func WebhookAlerts(wh alerting.Webhook) (firing, resolved []guardian.Alert) {
	return GuardianAlerts(wh.Firing()), GuardianAlerts(wh.Resolved())
}

// SLOSourceOf reads SLO burn rates, and the min_budget_left start gate,
// from one Prometheus for the guardian. A failed, empty or NaN query of a
// burn window is an error; a failed budget query closes the gate.
func SLOSourceOf(p *alerting.Prometheus) guardian.SLOSource { return sloSource{p} }

type sloSource struct{ p *alerting.Prometheus }

func (s sloSource) Burn(ctx context.Context, wire policies.SLOWire) (guardian.SLOReading, error) {
	st, err := s.p.BurnRates(ctx, wire, time.Time{})
	if err != nil {
		return guardian.SLOReading{}, err
	}
	return JudgeSLO(wire, st), nil
}

// JudgeSLO hands the burn rates Prometheus gave to the guardian, whose
// rules say whether the wire trips and the gate blocks.
func JudgeSLO(wire policies.SLOWire, st alerting.SLOStatus) guardian.SLOReading {
	b := guardian.SLOBurns{BudgetLeft: st.BudgetLeft, BudgetErr: st.BudgetErr}
	for _, ps := range st.Pairs {
		b.Pairs = append(b.Pairs, guardian.PairBurn{Pair: ps.Pair, LongBurn: ps.LongBurn, ShortBurn: ps.ShortBurn})
	}
	return guardian.JudgeSLO(wire, b)
}

// SteadyOf answers the scheduler's steady-state queries from the agent's
// prometheus blocks, evaluated now. An empty name means the only one.
func SteadyOf(ps map[string]*alerting.Prometheus) scheduler.SteadyState { return steadyState(ps) }

type steadyState map[string]*alerting.Prometheus

func (s steadyState) Query(ctx context.Context, prometheus, query string) (float64, error) {
	if prometheus == "" && len(s) == 1 {
		for name := range s {
			prometheus = name
		}
	}
	p, ok := s[prometheus]
	if !ok {
		return 0, fmt.Errorf("steady state: prometheus %q is not configured", prometheus)
	}
	return p.Query(ctx, query, time.Time{})
}

// AnnouncerOf posts the guardian's announcements to an Alertmanager as
// ChaosExperimentActive and TumultHalted alerts.
func AnnouncerOf(am *alerting.Alertmanager) guardian.Announcer { return announcer{am} }

type announcer struct{ am *alerting.Alertmanager }

func (a announcer) Announce(ctx context.Context, anns []guardian.Announcement) error {
	return a.am.Post(ctx, announcements(anns))
}

func (a announcer) Resolve(ctx context.Context, anns []guardian.Announcement) error {
	return a.am.Resolve(ctx, announcements(anns))
}

func announcements(anns []guardian.Announcement) []alerting.Announcement {
	out := make([]alerting.Announcement, 0, len(anns))
	for _, an := range anns {
		out = append(out, AnnouncementOf(an))
	}
	return out
}

// AnnouncementOf is the alert a guardian announcement is posted as.
func AnnouncementOf(an guardian.Announcement) alerting.Announcement {
	return alerting.Announcement{Labels: an.Labels(), Annotations: an.Annotations(), StartsAt: an.Since}
}

// SourceStatuses maps the guardian's view of its sources to the API's.
func SourceStatuses(ss []guardian.SourceStatus) []api.SourceStatus {
	out := make([]api.SourceStatus, 0, len(ss))
	for _, s := range ss {
		out = append(out, api.SourceStatus{
			Name:     s.Name,
			Kind:     s.Kind,
			Scope:    s.Scope,
			Up:       s.Up,
			Tripped:  s.Tripped,
			LastRead: s.LastRead,
			Error:    s.LastError,
			Detail:   s.Detail,
		})
	}
	return out
}

// Guard is what the agent needs of the guardian, checked when it
// compiles: the scheduler's gate, the sink of webhook deliveries, the
// source of the status's guardian sources, and the policies whose trip
// wires it watches.
type Guard interface {
	scheduler.Guard
	// IngestWebhook hands an Alertmanager webhook delivery to the
	// guardian (alertmanager: the block that sent it, "" for any).
	IngestWebhook(ctx context.Context, alertmanager string, wh alerting.Webhook) error
	// SourceStatuses reports every trip wire for the status.
	SourceStatuses() []api.SourceStatus
	// SetPolicies replaces the policies whose own trip wires are watched.
	SetPolicies(ps []*policies.Policy)
}

// GuardOf is the watcher as the agent installs it.
func GuardOf(w *guardian.Watcher) Guard { return watcherGuard{w} }

type watcherGuard struct{ *guardian.Watcher }

// IngestWebhook hands a webhook delivery to the watcher, which halts at
// once when an alert trip wire matches.
func (g watcherGuard) IngestWebhook(ctx context.Context, alertmanager string, wh alerting.Webhook) error {
	firing, resolved := WebhookAlerts(wh)
	g.Ingest(ctx, guardian.Delivery{Alertmanager: alertmanager, Receiver: wh.Receiver, Firing: firing, Resolved: resolved})
	return nil
}

// SourceStatuses reports every trip wire for the status.
func (g watcherGuard) SourceStatuses() []api.SourceStatus { return SourceStatuses(g.Status()) }

var _ Guard = watcherGuard{}
