// Package agent wires the daemon together and runs it: config and policy
// loading and reloading, the ledger, targets, scheduler and guardian, and
// the listener of the HTTP API. The API's handler lives in api/server,
// its wire types and Go client in api; the agent implements
// server.Service.
//
// Only cmd/tumult (the `agent` command) and the integration harness
// import this package; the CLI's on-call commands import api instead.
package agent
