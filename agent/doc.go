// Package agent wires the daemon together and runs it: config and policy
// loading and reloading, the ledger, targets, scheduler and guardian, and
// the HTTP API with its Go client (used by the CLI).
package agent
