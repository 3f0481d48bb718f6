// Package report turns the ledger's history into what a team reviews:
// per policy, experiments run, passed and failed (with the failure
// reasons); time to recover per fault kind (p50, p95, max; from injection
// to the member healthy again, and to steady state where there is one);
// halts and what tripped them; the top reasons faults were skipped; and a
// timeline. It renders the report as one self-contained HTML page with
// inline SVG plots.
//
// It is pure computation over ledger records and the control journal: it
// reads no clock (the caller gives the span) and imports no Docker,
// Nomad, Consul or HTTP package, so the agent (GET /v1/report) and the
// CLI (tumult report -html) share it.
package report
