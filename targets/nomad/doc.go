// Package nomad is the fault driver for Nomad allocations, built on
// github.com/hashicorp/nomad/api and aimed at the Nomad 2.0.x HTTP API.
//
// A fleet is the non-terminal allocations of one job (and optionally one
// task group) in a namespace; its size is the sum of the selected groups'
// counts. kill and stop stop an allocation and let Nomad replace it;
// restart and signal act on the allocation, or on one task of it, in
// place; pause does not exist on Nomad and is refused. Restore waits for
// Nomad to bring the group back rather than starting anything itself.
//
// The package owns the translation between tumult's targets vocabulary
// and Nomad's, including error classes; it must not import the
// scheduler, guardian or ledger. The test fake lives in nomadfake.
package nomad
