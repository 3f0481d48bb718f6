// Package alerting owns tumult's signal sources: reading active alerts from
// Alertmanager (API v2 poll and webhook payloads), querying Prometheus for
// steady-state values and SLO burn rates, and announcing running chaos back
// to Alertmanager.
//
// Everything here reports what a source says, or an error that names the
// source and what was asked of it. Nothing is ever reported as "fine" by
// default: a Prometheus query that returns no series, several series, NaN or
// an infinity is an error, so that a guardian built on this package can fail
// closed. Deciding what to do about a signal (halting, resuming) belongs to
// the guardian, not here.
//
// This package may import HTTP, Prometheus and Alertmanager client packages;
// it must not import the guardian, scheduler, targets or ledger.
package alerting
