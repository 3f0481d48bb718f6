// Package server is the handler of tumult's HTTP API: the /v1 routes,
// bearer-token authentication (Tokens, the tokens file), the audit log of
// mutating calls, request decoding and checks, and the mapping of a
// Service's error classes to status codes. The Service it serves is
// declared here and implemented by the agent.
//
// It must not import the agent, a ledger backend, a target driver or the
// guardian: it checks requests and answers them, and what a call does is
// the Service's business. The daemon's listener and its timeouts are the
// agent's (agent/serve.go).
package server
