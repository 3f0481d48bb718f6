// Package api is tumult's HTTP API as seen from outside the daemon: the
// wire types of every /v1 endpoint (requests, status, reload result), the
// error classes both sides agree on (ErrNotFound and the others, mapped to
// and from HTTP status codes) and the typed Go client the CLI's on-call
// commands use.
//
// It must not import the daemon (agent), its HTTP server (api/server) or
// any infrastructure client (Docker, Nomad, Consul, Prometheus): a program
// that talks to tumult imports only this package and the domain types its
// answers carry (ledger records, scheduler plans).
package api
