// Package policies owns tumult's policy language: policy files decoded
// with HCL into pure domain types (Policy, Window, Limits, FaultSpec,
// Selector, trip wires, and the alerts that alert wires match), the window
// and cadence math those types need, and the reporting of diagnostics with
// their source lines.
//
// Every error is an hcl.Diagnostic with a Subject range, so a policy author
// sees file:line:column for semantic mistakes as well as syntax ones.
// References to the agent config's blocks are checked against Refs, which
// the config package's Config implements; the agent config itself is
// decoded in config.
//
// This package must not import config, Docker, Nomad, Consul or HTTP
// packages.
package policies
