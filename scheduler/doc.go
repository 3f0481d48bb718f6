// Package scheduler turns policies into fault decisions: which policy may
// act when (windows, freezes, cadence), whether the blast-radius limits
// allow it, which member it hits; and the run loop that carries decisions
// out through the targets and records them in the ledger.
//
// It reads the control state but never writes it: a failed experiment's
// policy is paused through Control, which the guardian's controller
// implements.
//
// It depends on small interfaces it declares itself (Ledger, Targets,
// Guard, Control, SteadyState) and must not import the guardian, the
// agent, alerting, a target driver or any Docker, Nomad, Consul or HTTP
// package.
package scheduler
