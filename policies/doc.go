// Package policies owns tumult's configuration language: the agent config
// (tumult.hcl) and policy files, decoded with HCL into pure domain types, and
// the window and cadence math those types need.
//
// Every error is an hcl.Diagnostic with a Subject range, so a policy author
// sees file:line:column for semantic mistakes as well as syntax ones.
//
// This package must not import Docker, Nomad, Consul or HTTP packages.
package policies
