package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/report"
)

// ---- inject ----

type injectCmd struct{ oncall }

type injectFlags struct {
	policy, member, reason string
	json                   bool
}

func (c *injectCmd) Synopsis() string {
	return "Run one experiment of a policy now, outside its window"
}

func (c *injectCmd) Help() string {
	return `Usage: tumult inject -policy NAME [-member ID] -reason TEXT [-json]

  Runs one experiment of the policy now, for game days and for trying a
  policy before enabling it: outside its windows and freezes, and even if
  it is disabled, but under every other gate, in the scheduler's order:
  halted or paused, the guardian, the steady state, max_disrupted,
  min_healthy, max_per_day, and an eligible member (opted in, not
  protected, healthy, not already disrupted). A disabled policy with a
  halt_on of its own is refused: its trip wires are watched only while it
  is enabled. The fault is restored and verified like any other. It is recorded with your token's name and the
  reason; a refusal is recorded too, and printed with the gate's reason
  (exit 1). Reads TUMULT_ADDR and TUMULT_TOKEN.

Options:
` + flagUsage(c.flags(new(injectFlags)))
}

func (c *injectCmd) flags(f *injectFlags) *flag.FlagSet {
	fs := c.flagSet()
	fs.StringVar(&f.policy, "policy", "", "the policy `NAME` whose fault to inject (required)")
	fs.StringVar(&f.member, "member", "", "the member to disrupt: container or allocation `ID`, unique ID prefix, or name (default: one eligible member at random)")
	reasonFlag(fs, &f.reason)
	fs.BoolVar(&f.json, "json", false, "print the API's JSON record for scripts")
	return fs
}

func (c *injectCmd) Run(args []string) int {
	var f injectFlags
	if !c.parse(c.flags(&f), args) || !c.needReason(f.reason) {
		return 2
	}
	if strings.TrimSpace(f.policy) == "" {
		c.usage("-policy is required: the policy whose fault to inject")
		return 2
	}
	cl, ok := c.connect()
	if !ok {
		return 2
	}
	rec, err := cl.Inject(context.Background(), api.InjectRequest{Policy: f.policy, Member: f.member, Reason: f.reason})
	if err != nil {
		return c.fail(err)
	}
	if f.json {
		return c.printJSON(rec)
	}
	ck := c.clock()
	what := "injected"
	if rec.DryRun {
		what = "dry run: would have injected"
	}
	fmt.Fprintf(c.env.out, "%s %s into %s (policy %s, record %s); restore due %s\n",
		what, faultText(rec), memberText(rec), rec.Policy, rec.ID, ck.at(rec.RestoreBy))
	if rec.Error != "" {
		fmt.Fprintf(c.env.out, "the injection failed and is being undone: %s\n", oneLine(rec.Error))
		return 1
	}
	return 0
}

func (o oncall) printJSON(v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		fmt.Fprintf(o.env.err, "tumult %s: encode JSON: %v\n", o.name, err)
		return 1
	}
	fmt.Fprintln(o.env.out, string(b))
	return 0
}

// ---- report ----

type reportCmd struct{ oncall }

type reportFlags struct {
	since, policy, html string
	json                bool
}

func (c *reportCmd) Synopsis() string {
	return "Sum up what the experiments showed: results, recovery times, halts"
}

func (c *reportCmd) Help() string {
	return `Usage: tumult report [-since 7d] [-policy NAME] [-json] [-html FILE]

  Sums up the ledger's history: per policy, experiments run, passed and
  failed (with the failure reasons); time to recover per fault kind (p50,
  p95 and max, from injection to the member healthy again, and to steady
  state where the policy has one); halts and what tripped them; the top
  reasons faults were skipped. -html writes one self-contained page with
  plots (recovery-time distribution per policy, experiments and halts over
  time) for a weekly review. Reads TUMULT_ADDR and TUMULT_TOKEN.

Options:
` + flagUsage(c.flags(new(reportFlags)))
}

func (c *reportCmd) flags(f *reportFlags) *flag.FlagSet {
	fs := c.flagSet()
	fs.StringVar(&f.since, "since", "7d", "the last `DURATION` of history (e.g. 24h, 7d, 4w)")
	fs.StringVar(&f.policy, "policy", "", "one policy `NAME` only (default: all)")
	fs.BoolVar(&f.json, "json", false, "print the API's JSON for scripts")
	fs.StringVar(&f.html, "html", "", "also write the report as a self-contained HTML page to `FILE` (- for stdout)")
	return fs
}

func (c *reportCmd) Run(args []string) int {
	var f reportFlags
	if !c.parse(c.flags(&f), args) {
		return 2
	}
	since, ok := c.since(f.since)
	if !ok {
		return 2
	}
	if f.json && f.html == "-" {
		c.usage("-json and -html - both write to stdout; give -html a file")
		return 2
	}
	cl, ok := c.connect()
	if !ok {
		return 2
	}
	rep, err := cl.Report(context.Background(), since, strings.TrimSpace(f.policy))
	if err != nil {
		return c.fail(err)
	}
	if f.html != "" {
		if err := writeHTMLFile(f.html, rep, c.env.out); err != nil {
			fmt.Fprintf(c.env.err, "tumult report: %s\n", oneLine(err.Error()))
			return 1
		}
		if f.html != "-" && !f.json {
			fmt.Fprintf(c.env.err, "tumult report: wrote %s\n", f.html)
		}
	}
	switch {
	case f.json:
		return c.printJSON(rep)
	case f.html == "-":
		return 0
	}
	writeReport(c.env.out, rep, since, c.clock())
	return 0
}

func writeHTMLFile(path string, rep report.Report, stdout io.Writer) (err error) {
	if path == "-" {
		return report.WriteHTML(stdout, rep)
	}
	// Write beside the target and rename, so a reader never sees half a
	// page.
	tmp := path + ".tmp"
	file, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if err := report.WriteHTML(file, rep); err != nil {
		_ = file.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := file.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func writeReport(w io.Writer, r report.Report, since time.Duration, ck clock) {
	scope := "every policy"
	if r.Policy != "" {
		scope = "policy " + r.Policy
	}
	fmt.Fprintf(w, "Report of %s over the last %s (%s → %s)\n\n", scope, policies.FormatDuration(since), ck.at(r.From), ck.at(r.To))
	t := r.Totals
	fmt.Fprintf(w, "Experiments: %d run, %d passed, %d failed, %d cut short, %s, %d aborted; %d manual; %s; %s; %s\n\n",
		t.Run, t.Passed, t.Failed, t.Restored, plural(t.Errors, "error"), t.Aborted, t.Manual,
		plural(t.DryRuns, "dry run"), plural(t.Skipped, "skipped decision"), plural(len(r.Halts), "halt"))
	if len(r.Policies) == 0 {
		fmt.Fprintln(w, "No records in this span.")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "POLICY\tFAULT\tRUN\tPASSED\tFAILED\tCUT SHORT\tERRORS\tSKIPPED\tTO HEALTHY p50/p95/max\tTO STEADY p50/p95/max")
	for _, p := range r.Policies {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", p.Name, orDash(strings.Join(p.Kinds, ",")), p.Counts.Run, p.Counts.Passed,
			p.Counts.Failed, p.Counts.Restored, p.Counts.Errors, p.Counts.Skipped, statsText(p.ToHealthy), statsText(p.ToSteady))
	}
	tw.Flush()

	if len(r.Recovery) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "FAULT KIND\tTO HEALTHY p50/p95/max\tTO STEADY p50/p95/max\tNOT RECOVERED")
		for _, k := range r.Recovery {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", k.Kind, statsText(k.ToHealthy), statsText(k.ToSteady), k.NotRecovered)
		}
		tw.Flush()
	}

	var failures [][2]string
	for _, p := range r.Policies {
		for _, f := range p.Failures {
			failures = append(failures, [2]string{p.Name, fmt.Sprintf("%s\t%s\t%s\t%s", ck.at(f.At), f.Member, oneLine(f.Reason), f.ID)})
		}
	}
	if len(failures) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "FAILED\tPOLICY\tMEMBER\tREASON\tRECORD")
		for _, f := range failures {
			head, rest, _ := strings.Cut(f[1], "\t")
			fmt.Fprintf(tw, "%s\t%s\t%s\n", head, f[0], rest)
		}
		tw.Flush()
	}

	fmt.Fprintln(w)
	if len(r.Halts) == 0 {
		fmt.Fprintln(w, "No halts.")
	} else {
		tw = newTable(w)
		fmt.Fprintln(tw, "HALTED\tSCOPE\tSOURCE\tACTOR\tHELD\tREASON")
		for _, h := range r.Halts {
			scope := "global"
			if h.Policy != "" {
				scope = h.Policy
			}
			held := report.Secs(h.Seconds)
			if h.Ongoing {
				held += " (still halted)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", ck.at(h.At), scope, orDash(h.Source), orDash(h.Actor), held, oneLine(h.Reason))
		}
		tw.Flush()
	}

	if len(r.SkipReasons) > 0 {
		fmt.Fprintln(w)
		tw = newTable(w)
		fmt.Fprintln(tw, "SKIPPED\tREASON\tLATEST")
		for _, s := range r.SkipReasons {
			fmt.Fprintf(tw, "%d\t%s\t%s\n", s.Count, s.Reason, orDash(oneLine(s.Example)))
		}
		tw.Flush()
	}
}

func statsText(s report.Stats) string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%s/%s/%s (n=%d)", report.Secs(s.P50), report.Secs(s.P95), report.Secs(s.Max), s.N)
}
