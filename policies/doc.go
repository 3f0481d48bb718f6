// Package policies owns tumult's policy language: policy files decoded
// with HCL into pure domain types (Policy, Window, Limits, FaultSpec,
// Selector, trip wires, and the alerts that alert wires match), the window
// and cadence math those types need, and the reporting of diagnostics with
// their source lines.
//
// Every time read on a zone's clock (a window's opening and closing, the
// start of max_per_day's calendar day, plan's axis) follows one rule,
// written out in wallclock.go: it happens at the first instant at which
// the clock reads that time or later. Checking a policy looks at a
// handful of instants (its first opening, its freezes' ends, its zone's
// offset changes), never at every opening of the year, so it costs the
// same whatever the window's cadence.
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
