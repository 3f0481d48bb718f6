// Package guardian owns tumult's brakes and the rules that pull them.
//
// The Controller is the one owner of the control state: every pause,
// resume, halt and expiry — from the API, from the guardian's own trip
// wires, from a failed experiment (the scheduler's Control), and a halt
// written by another replica that the leader's watch sees (Follow) — is
// decided and recorded there, and carried out through the injected
// Restorer. The Watcher reads its sources and decides when a trip wire
// trips; rules.go holds the rules themselves: what counts as tumult's own
// announcement, when an alert matches, when a burn-rate pair trips, when
// the error-budget gate blocks, which Consul checks trip. Announcements
// (what tumult posts to Alertmanager) are built here too.
//
// A halt, followed: the webhook (api/server's handler) → the agent's
// AlertWebhook → Watcher.Ingest → judgeAlert with the rules → Controller.Halt
// (holds the Restorer so that no fault can start, records the halt and,
// meanwhile, Restorer.RestoreAll: the scheduler's engine) →
// on another replica, Controller.Follow → the unpause, Controller.Resume
// (on-call through the API, or the watcher's automatic resume).
//
// It imports policies, ledger, config (the guardian block's values) and
// clock. It must not import alerting, the scheduler, the agent, api, a
// target driver or any Docker, Nomad, Consul or HTTP package: sources of
// signals and the restorer are interfaces declared here.
package guardian
