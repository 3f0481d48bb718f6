package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"time"

	"github.com/inferensys/tumult/ledger/bolt"
)

// ledgerCheckCmd tells the state of an embedded ledger file without
// starting an agent: what an operator runs when the agent refuses one.
type ledgerCheckCmd struct{ env *env }

func (c *ledgerCheckCmd) Synopsis() string {
	return "Tell the state of a ledger file (ok, empty, corrupt, …)"
}
func (c *ledgerCheckCmd) Help() string {
	return `Usage: tumult ledger check [-json] FILE

  Checks the embedded ledger FILE (data_dir/ledger.db) without starting an
  agent and without changing it: its structure, bbolt's consistency check,
  and its last transaction against the commit marker beside it
  (FILE.commit). Prints the state (ok, new, empty, missing, rolled back,
  corrupt, unverifiable, locked), the unfinished faults it holds, and, for
  a damaged file, the faults that were unfinished at its last commit.
  Exit code 0 when an agent would open it, 1 otherwise.

Options:
` + flagUsage(c.flags(new(bool)))
}

func (c *ledgerCheckCmd) flags(asJSON *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("ledger check", flag.ContinueOnError)
	fs.BoolVar(asJSON, "json", false, "print JSON for scripts")
	return fs
}

func (c *ledgerCheckCmd) Run(args []string) int {
	var asJSON bool
	fs := c.flags(&asJSON)
	fs.SetOutput(c.env.err)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(c.env.err, "tumult ledger check: give one ledger FILE")
		return 2
	}
	rep := bolt.Check(fs.Arg(0), time.Second)
	code := 0
	if !rep.OK() {
		code = 1
	}
	if asJSON {
		enc := json.NewEncoder(c.env.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return 2
		}
		return code
	}
	w := newTable(c.env.out)
	fmt.Fprintf(w, "ledger\t%s\n", rep.Path)
	fmt.Fprintf(w, "state\t%s\n", rep.State)
	if rep.Detail != "" {
		fmt.Fprintf(w, "detail\t%s\n", rep.Detail)
	}
	if rep.State == "ok" {
		fmt.Fprintf(w, "transaction\t%d (commit marker: %d)\n", rep.TxID, rep.MarkerTxID)
		fmt.Fprintf(w, "history\t%d finished records\n", rep.History)
		if rep.Control != nil {
			fmt.Fprintf(w, "control\t%s\n", stateWord(rep.Control.State))
		}
		fmt.Fprintf(w, "unfinished\t%d\n", len(rep.Active))
	}
	_ = w.Flush()
	if len(rep.Active) > 0 {
		fmt.Fprintln(c.env.out)
		t := newTable(c.env.out)
		fmt.Fprintln(t, "ID\tPOLICY\tKIND\tMEMBER\tPHASE\tSINCE")
		for _, r := range rep.Active {
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Policy, r.Fault.Kind, r.Member.Short(), r.Phase, r.Decided.UTC().Format(time.RFC3339))
		}
		_ = t.Flush()
	}
	if !rep.OK() && len(rep.MarkerActive) > 0 {
		fmt.Fprintln(c.env.out, "\nunfinished at the last commit (may be left active):")
		t := newTable(c.env.out)
		fmt.Fprintln(t, "ID\tPOLICY\tKIND\tMEMBER")
		for _, f := range rep.MarkerActive {
			fmt.Fprintf(t, "%s\t%s\t%s\t%s %s\n", f.ID, f.Policy, f.Kind, f.Name, f.Member)
		}
		_ = t.Flush()
	}
	return code
}

// ledgerAcceptCmd lets an operator start from a ledger the agent refused.
type ledgerAcceptCmd struct{ env *env }

func (c *ledgerAcceptCmd) Synopsis() string { return "Accept a damaged or rolled-back ledger file" }
func (c *ledgerAcceptCmd) Help() string {
	return `Usage: tumult ledger accept FILE

  Accepts the ledger FILE that the agent refused, once you have dealt with
  the faults it names as possibly left active: an empty or corrupt file is
  moved aside (FILE.broken-TIME) so that the next start creates a new one;
  a rolled-back file is kept as it is; a missing file's commit marker is
  removed. A sound ledger is left alone. Run it with the agent stopped.`
}

func (c *ledgerAcceptCmd) Run(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(c.env.err, "tumult ledger accept: give one ledger FILE")
		return 2
	}
	did, err := bolt.Accept(args[0], c.env.now())
	if err != nil {
		fmt.Fprintf(c.env.err, "tumult ledger accept: %v\n", err)
		return 1
	}
	fmt.Fprintln(c.env.out, did)
	return 0
}
