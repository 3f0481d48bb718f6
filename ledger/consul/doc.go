// Package consul is the shared ledger: the ledger.Ledger interface on
// Consul's KV store, for several tumult replicas that share one state, and
// the leader election that lets only one of them schedule and inject.
//
// Layout under the prefix (default "tumult/"):
//
//	schema                          layout version, checked on Open
//	control                         the control state (JSON)
//	active/<id>                     unfinished records (JSON)
//	history/<finished>-<id>         finished records (JSON), oldest key first
//	ids/<id>                        finished record IDs → their history key
//	injections/<policy>/<injected>-<id>
//	                                one empty key per injected fault, for
//	                                CountSince (max_per_day)
//	leader                          the election's lock (Election)
//
// Times in keys are UTC, fixed width, so that key order is time order.
// Policy names in keys are path-escaped.
//
// Every write is a check-and-set on the ModifyIndex of what it read (a KV
// CAS, or a transaction when a record moves from active to history), retried
// on conflict: two replicas writing at once never lose each other's update.
// Update functions may therefore run more than once; they must not have
// side effects. Reads are consistent (served by the Raft leader after a
// round of heartbeats), so a replica never acts on state another replica
// has already changed.
//
// Rules of what a record may become live in package ledger
// (ApplyControl, PrepareBegin, ApplyRecord), shared with ledger/bolt.
//
// This package imports consul/api, ledger and config (the consul block's
// defaults: prefix, session TTL, lock delay); it must not import the
// scheduler, guardian, agent or any target driver.
package consul
