// Package alerting owns tumult's signal sources: reading active alerts from
// Alertmanager (API v2 poll and webhook payloads), querying Prometheus for
// steady-state values, SLO burn rates and the error budget left, reading
// Consul's health checks, and posting tumult's announcements to
// Alertmanager.
//
// Everything here reports what a source says, or an error that names the
// source and what was asked of it. Nothing is ever reported as "fine" by
// default: a Prometheus query that returns no series, several series, NaN or
// an infinity is an error, so that a guardian built on this package can fail
// closed. What a signal means — whether a burn pair trips, the budget gate
// blocks, an alert matches or is tumult's own announcement, a Consul check
// trips — is the guardian's rule (guardian/rules.go); where a source must
// filter, the rule is passed in (AlertmanagerOptions.Ignore,
// Webhook.Without, ConsulHealthOptions.Trips).
//
// This package may import HTTP, Prometheus, Alertmanager and Consul client
// packages and policies; it must not import the guardian, scheduler,
// targets, ledger, config or agent.
package alerting
