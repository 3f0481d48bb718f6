// Package ledger owns tumult's durable state and its vocabulary: the control
// state (armed, paused, halted; global and per policy), the write-ahead fault
// records that make a crash recoverable, and the finished history.
//
// The Ledger interface is implemented by ledger/bolt (an embedded file in
// data_dir) and ledger/consul (shared, for several agents). Both pass the
// conformance suite in ledger/ledgertest, and both build on ApplyControl and
// ApplyRecord here, so that the rules — Version increments, append-only
// steps, what "finished" requires — are the same whatever the storage; so
// do retention and pruning (retention.go: DefaultRetention,
// DefaultMaxHistory, MinIndexAge, KeepDefaults, IndexCutoff).
//
// This package must not import Docker, Nomad, Consul, bbolt or HTTP
// packages; it imports only the domain types of policies and targets.
package ledger
