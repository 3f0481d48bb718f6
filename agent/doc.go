// Package agent wires the daemon together and runs it: config and policy
// loading and reloading, the ledger, targets, scheduler and guardian, and
// the listener of the HTTP API. The API's handler lives in api/server,
// its wire types and Go client in api; the agent implements
// server.Service.
//
// The adapters in sources.go turn alerting's readers into the small
// interfaces the guardian and the scheduler declare, passing the
// guardian's rules where a source must filter.
//
// Only cmd/tumult (the `agent` command) and the integration tests import
// this package; the CLI's on-call commands import api instead. No other
// tumult package may import it.
package agent
