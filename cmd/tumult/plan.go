package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/scheduler"
)

type planCmd struct {
	env *env
}

func (c *planCmd) Synopsis() string { return "Show the windows, freezes and faults policies will have" }
func (c *planCmd) Help() string {
	return `Usage: tumult plan [-config FILE] [-from RFC3339] [-hours 24] [-seed N] [-svg FILE] [-json] PATH...

  For the next -hours from -from, prints each policy's open windows,
  freezes and expected number of faults. With -seed, also one concrete
  sample schedule (the same seed gives the same schedule). With -svg, a
  timeline picture: one row per policy, windows as bars, freezes hatched,
  sampled faults as ticks. Exit status: 0 on success, 1 when the
  policies or the config have errors, 2 on bad usage.

Options:
` + flagUsage(c.flags(new(planFlags)))
}

type planFlags struct {
	loadFlags
	from     string
	hours    int
	seed     int64
	svg      string
	timezone string
}

func (c *planCmd) flags(p *planFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	p.register(fs)
	fs.StringVar(&p.from, "from", "", "start of the plan, RFC 3339 (default now)")
	fs.IntVar(&p.hours, "hours", 24, "length of the plan in hours (1 to 2160)")
	fs.Int64Var(&p.seed, "seed", 0, "draw one sample schedule with this seed (0: none)")
	fs.StringVar(&p.svg, "svg", "", "write a timeline picture to `FILE`")
	fs.StringVar(&p.timezone, "timezone", "UTC", "IANA time zone for printed times and the picture's axis")
	return fs
}

func (c *planCmd) Run(args []string) int {
	var f planFlags
	fs := c.flags(&f)
	fs.SetOutput(c.env.err)
	f.stat = c.env.stat
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(c.env.err, "tumult plan: "+format+"\n", a...)
		return 2
	}
	loc, err := policies.LoadLocation(f.timezone)
	if err != nil {
		return fail("-timezone %q is not an IANA time zone name", f.timezone)
	}
	from := c.env.now()
	if f.from != "" {
		if from, err = time.Parse(time.RFC3339, f.from); err != nil {
			return fail("-from %q is not an RFC 3339 time such as 2026-12-01T09:00:00+01:00", f.from)
		}
	}
	if f.hours < 1 || f.hours > 2160 {
		return fail("-hours must be between 1 and 2160 (90 days), got %d", f.hours)
	}
	from = from.Truncate(time.Minute)
	to := from.Add(time.Duration(f.hours) * time.Hour)

	set, ds, srcs, err := f.load(fs.Args(), from)
	if err != nil {
		return fail("%v", err)
	}
	if errs, _ := policies.Count(ds); errs > 0 {
		policies.WriteDiagnostics(c.env.err, ds, srcs)
		them := "them"
		if errs == 1 {
			them = "it"
		}
		// Exit 1 like validate: the policies are wrong, not the command line.
		fmt.Fprintf(c.env.err, "tumult plan: %s; fix %s first (tumult validate shows them too)\n", plural(errs, "error"), them)
		return 1
	}
	var seed *int64
	if f.seed != 0 {
		seed = &f.seed
	}
	plan := scheduler.MakePlan(set.Policies, from, to, seed)
	if f.svg != "" {
		var b strings.Builder
		writeSVG(&b, plan, loc)
		if err := os.WriteFile(f.svg, []byte(b.String()), 0o644); err != nil {
			return fail("write picture: %v", err)
		}
	}
	if f.json {
		enc := json.NewEncoder(c.env.out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(inZone(plan, loc))
		return 0
	}
	writePlanText(c.env.out, plan, loc)
	if f.svg != "" {
		fmt.Fprintf(c.env.out, "\nTimeline written to %s\n", f.svg)
	}
	return 0
}

// inZone shows every time of the plan in loc.
func inZone(p scheduler.Plan, loc *time.Location) scheduler.Plan {
	ivs := func(in []policies.Interval) []policies.Interval {
		out := make([]policies.Interval, len(in))
		for i, iv := range in {
			out[i] = policies.Interval{Start: iv.Start.In(loc), End: iv.End.In(loc)}
		}
		return out
	}
	p.From, p.To = p.From.In(loc), p.To.In(loc)
	pols := make([]scheduler.PolicyPlan, len(p.Policies))
	for i, pp := range p.Policies {
		pp.Windows, pp.Open = ivs(pp.Windows), ivs(pp.Open)
		fr := make([]scheduler.PlannedFreeze, len(pp.Freezes))
		for j, f := range pp.Freezes {
			fr[j] = scheduler.PlannedFreeze{Interval: ivs([]policies.Interval{f.Interval})[0], Reason: f.Reason}
		}
		pp.Freezes = fr
		if pp.Sample != nil {
			s := make([]time.Time, len(pp.Sample))
			for j, t := range pp.Sample {
				s[j] = t.In(loc)
			}
			pp.Sample = s
		}
		pols[i] = pp
	}
	p.Policies = pols
	return p
}

const stamp = "Mon 2006-01-02 15:04"

// maxListed is how many sampled fault times the text output lists per
// policy.
const maxListed = 24

func writePlanText(w io.Writer, p scheduler.Plan, loc *time.Location) {
	seed := "no sample (use -seed N to draw one)"
	if p.Seed != nil {
		seed = fmt.Sprintf("seed %d", *p.Seed)
	}
	fmt.Fprintf(w, "Plan %s → %s (%s), times in %s, %s\n\n",
		p.From.In(loc).Format(stamp), p.To.In(loc).Format(stamp), policies.FormatDuration(p.To.Sub(p.From)), loc, seed)
	if len(p.Policies) == 0 {
		fmt.Fprintln(w, "No policies.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tFAULT\tDRIVER\tOPEN\tFROZEN\tEXPECTED\tSAMPLED")
	for _, pp := range p.Policies {
		var frozen time.Duration
		for _, f := range pp.Freezes {
			frozen += f.Len()
		}
		name := pp.Name
		switch {
		case !pp.Enabled:
			name += " (disabled)"
		case pp.DryRun:
			name += " (dry run)"
		}
		sampled := "-"
		if p.Seed != nil {
			sampled = fmt.Sprint(len(pp.Sample))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.1f\t%s\n", name, pp.Fault, pp.Driver,
			policies.FormatDuration(pp.OpenFor), policies.FormatDuration(frozen), pp.Expected, sampled)
	}
	tw.Flush()
	for _, pp := range p.Policies {
		fmt.Fprintf(w, "\n%s\n", pp.Name)
		if len(pp.Open) == 0 {
			fmt.Fprintln(w, "  open    never in this span")
		}
		for _, iv := range pp.Open {
			fmt.Fprintf(w, "  open    %s → %s\n", iv.Start.In(loc).Format(stamp), iv.End.In(loc).Format(stamp))
		}
		for _, f := range pp.Freezes {
			reason := ""
			if f.Reason != "" {
				reason = "  " + f.Reason
			}
			fmt.Fprintf(w, "  freeze  %s → %s%s\n", f.Start.In(loc).Format(stamp), f.End.In(loc).Format(stamp), reason)
		}
		if p.Seed != nil && len(pp.Sample) > 0 {
			var ts []string
			for _, t := range pp.Sample[:min(len(pp.Sample), maxListed)] {
				ts = append(ts, t.In(loc).Format("Mon 15:04:05"))
			}
			fmt.Fprintf(w, "  faults  %s\n", wrap(ts, 6, "          "))
			if more := len(pp.Sample) - maxListed; more > 0 {
				fmt.Fprintf(w, "          … and %d more (-json lists them all)\n", more)
			}
		}
	}
}

func wrap(items []string, per int, indent string) string {
	var b strings.Builder
	for i, s := range items {
		if i > 0 {
			if i%per == 0 {
				b.WriteString("\n" + indent)
			} else {
				b.WriteString("  ")
			}
		}
		b.WriteString(s)
	}
	return b.String()
}
