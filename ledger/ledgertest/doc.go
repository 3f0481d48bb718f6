// Package ledgertest owns the conformance suite that every ledger.Ledger
// implementation runs (Run), and Memory, an in-process ledger that passes
// it, for tests of packages that need a ledger but not a file.
//
// It imports the ledger package and testify only; it must not import an
// implementation (bolt, consul), so that each of them can run the suite.
package ledgertest
