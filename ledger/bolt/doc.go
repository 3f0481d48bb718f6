// Package bolt owns the embedded ledger: one bbolt file in data_dir that
// holds the control state, the active (write-ahead) fault records, the
// finished history and an index of injections for max_per_day.
//
// Every write is one bbolt read-write transaction, which bbolt fsyncs
// before it returns, so an acknowledged write survives kill -9. bbolt
// serialises writers, which makes every read-modify-write atomic. The file
// is locked (flock) by the one process that has it open; a second tumult on
// the same data_dir fails fast with ErrLocked instead of waiting forever.
//
// Layout (bucket: key → value):
//
//	meta:        "schema" → "1", "history_count" → uint64
//	control:     "control" → JSON Control
//	active:      ID → JSON Record
//	history:     time(Finished) ‖ ID → JSON Record   (ascending; read backwards for newest first)
//	history_ids: ID → history key
//	injected:    time(Injected) ‖ ID → policy name
//
// time(t) is 12 bytes that sort like t: big-endian Unix seconds with the
// sign bit flipped, then big-endian nanoseconds.
//
// Retention (the rules are package ledger's): each write that finishes a
// record prunes, in bounded steps, the oldest history beyond
// Options.MaxHistory or older than
// Options.Retention. The injection index is pruned by age only, and never
// below two days, so that MaxHistory cannot make max_per_day forget faults
// of the current day.
//
// This package imports bbolt and the ledger package; it must not import
// the scheduler, the agent, or any driver.
package bolt
