// Package config owns the agent config (tumult.hcl): its types, its
// defaults and its decoding and validation, every mistake an
// hcl.Diagnostic with file:line:column. The guardian block's trip wires
// are decoded with the policy language's own decoder
// (policies.DecodeHaltOn), so a halt_on reads the same in both files.
//
// It must not import the agent, the guardian, a target driver, a ledger
// backend or any Docker, Nomad, Consul or HTTP package: it turns a file
// into values, and the agent wires them.
package config
