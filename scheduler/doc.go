// Package scheduler turns policies into fault decisions: which policy may
// act when (windows, freezes, cadence), whether the blast-radius limits
// allow it, which member it hits; and the run loop that carries decisions
// out through the targets and records them in the ledger.
//
// It depends on small interfaces it declares itself and imports no
// Docker, Nomad, Consul or HTTP package.
package scheduler
