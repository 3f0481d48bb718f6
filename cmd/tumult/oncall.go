package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
)

// The on-call commands (status, pause, resume, halt, faults, history,
// reload) talk to a running daemon through the api package's Go client.
// They read TUMULT_ADDR and TUMULT_TOKEN; a daemon that
// cannot be reached or that refuses the token gives one line and exit 2,
// any other error answer one line and exit 1.

// oncall is what the on-call commands share.
type oncall struct {
	env  *env
	name string
}

func (o oncall) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet(o.name, flag.ContinueOnError)
	fs.SetOutput(o.env.err)
	return fs
}

// parse parses args and refuses positional arguments: none of these
// commands takes any, and a stray word is usually a forgotten flag name.
func (o oncall) parse(fs *flag.FlagSet, args []string) bool {
	if err := fs.Parse(args); err != nil {
		return false
	}
	if fs.NArg() > 0 {
		o.usage("unexpected argument %q (see tumult %s -h)", fs.Arg(0), o.name)
		return false
	}
	return true
}

// usage reports bad usage on one line; the caller exits 2.
func (o oncall) usage(format string, args ...any) {
	fmt.Fprintf(o.env.err, "tumult %s: %s\n", o.name, fmt.Sprintf(format, args...))
}

func (o oncall) address() string {
	if a := strings.TrimSpace(o.env.getenv("TUMULT_ADDR")); a != "" {
		return a
	}
	return api.DefaultAddress
}

func (o oncall) client() (*api.Client, error) {
	return api.NewClient(api.ClientOptions{Address: o.address(), Token: strings.TrimSpace(o.env.getenv("TUMULT_TOKEN"))})
}

// fail prints err as one line and returns the exit code: 2 when the daemon
// cannot be reached (nothing answers, or something that is not tumult) or
// refuses the token, else 1.
func (o oncall) fail(err error) int {
	var unreachable *api.UnreachableError
	var answer *api.APIError
	switch {
	case errors.As(err, &unreachable):
		fmt.Fprintf(o.env.err, "tumult: cannot reach the tumult daemon at %s: %s (is \"tumult agent\" running? set TUMULT_ADDR)\n",
			unreachable.Address, unreachable.Cause())
		return 2
	case errors.Is(err, api.ErrNotTumult):
		fmt.Fprintf(o.env.err, "tumult: the server at %s does not answer as a tumult daemon (set TUMULT_ADDR): %s\n", o.address(), oneLine(err.Error()))
		return 2
	case errors.As(err, &answer) && answer.Status == http.StatusUnauthorized && strings.TrimSpace(o.env.getenv("TUMULT_TOKEN")) == "":
		fmt.Fprintf(o.env.err, "tumult: the daemon requires a token (set TUMULT_TOKEN): %s\n", oneLine(answer.Message))
		return 2
	case errors.Is(err, api.ErrUnauthorized) && errors.As(err, &answer):
		fmt.Fprintf(o.env.err, "tumult: the daemon refused the token (set TUMULT_TOKEN): %s\n", oneLine(answer.Message))
		return 2
	}
	fmt.Fprintf(o.env.err, "tumult %s: %s\n", o.name, oneLine(err.Error()))
	return 1
}

// connect makes the client, or reports a bad TUMULT_ADDR (exit 2).
func (o oncall) connect() (*api.Client, bool) {
	c, err := o.client()
	if err != nil {
		fmt.Fprintf(o.env.err, "tumult: TUMULT_ADDR: %s\n", oneLine(err.Error()))
		return nil, false
	}
	return c, true
}

// raw prints the API's answer to a GET as it came, for -json.
// jsonFlags is the flag set of a read command whose only option is -json.
func (o oncall) jsonFlags(asJSON *bool) *flag.FlagSet {
	fs := o.flagSet()
	fs.BoolVar(asJSON, "json", false, "print the API's JSON for scripts")
	return fs
}

// read runs a read command whose only option is -json: with it, the
// answer to GET path as it came; without, show with a client. Exit status
// 2 for bad usage or an unreachable daemon, 1 for other errors.
func (o oncall) read(args []string, path string, show func(context.Context, *api.Client) error) int {
	var asJSON bool
	if !o.parse(o.jsonFlags(&asJSON), args) {
		return 2
	}
	if asJSON {
		return o.raw(path, nil)
	}
	cl, ok := o.connect()
	if !ok {
		return 2
	}
	if err := show(context.Background(), cl); err != nil {
		return o.fail(err)
	}
	return 0
}

func (o oncall) raw(path string, query map[string][]string) int {
	c, ok := o.connect()
	if !ok {
		return 2
	}
	var msg json.RawMessage
	if err := c.Do(context.Background(), http.MethodGet, path, query, nil, &msg); err != nil {
		return o.fail(err)
	}
	out := strings.TrimRight(string(msg), "\n")
	fmt.Fprintln(o.env.out, out)
	return 0
}

// location is where times are shown: $TZ when set, else the local zone.
func (o oncall) location() *time.Location {
	if tz := strings.TrimPrefix(o.env.getenv("TZ"), ":"); tz != "" {
		if loc, err := time.LoadLocation(tz); err == nil {
			return loc
		}
	}
	return time.Local
}

// clock formats times for tables relative to now.
type clock struct {
	now time.Time
	loc *time.Location
}

func (o oncall) clock() clock { return clock{now: o.env.now(), loc: o.location()} }

// at prints a time as short as is clear: the hour today, the weekday
// within a week, else the date.
func (c clock) at(t time.Time) string { return c.format(t, "15:04") }

// atSec is at with seconds, for faults that last seconds: a pause of 8s
// must not start and end "at 09:30".
func (c clock) atSec(t time.Time) string { return c.format(t, "15:04:05") }

// format prints t with clock (a Go layout of the time of day), led by the
// weekday or the date when t is not today.
func (c clock) format(t time.Time, clock string) string {
	if t.IsZero() {
		return "-"
	}
	t, now := t.In(c.loc), c.now.In(c.loc)
	ty, tm, td := t.Date()
	ny, nm, nd := now.Date()
	switch {
	case ty == ny && tm == nm && td == nd:
		return t.Format(clock + " MST")
	case t.Sub(now).Abs() < 6*24*time.Hour:
		return t.Format("Mon " + clock + " MST")
	}
	return t.Format("2006-01-02 " + clock + " MST")
}

// ago prints how long ago t was ("3s ago"), or "in 5m" for a time to come.
func (c clock) ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := c.now.Sub(t)
	if d < 0 {
		return "in " + roughDuration(-d)
	}
	return roughDuration(d) + " ago"
}

// faultDuration is how long a fault lasted: roughDuration, and below a
// second in milliseconds ("350ms", not "0s") — a dry run or a failed
// injection ends that fast.
func faultDuration(d time.Duration) string {
	if d > 0 && d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return roughDuration(d)
}

// roughDuration keeps the two largest units: "3s", "4m10s", "2h5m", "3d4h".
func roughDuration(d time.Duration) string {
	switch {
	case d < time.Hour:
		return policies.FormatDuration(d.Round(time.Second))
	case d < 24*time.Hour:
		return policies.FormatDuration(d.Round(time.Minute))
	}
	return policies.FormatDuration(d.Round(time.Hour))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// stateWord shouts the states in which tumult holds back.
func stateWord(s ledger.State) string {
	if s == "" {
		return string(ledger.Armed)
	}
	if s != ledger.Armed {
		return strings.ToUpper(string(s))
	}
	return string(s)
}

// ---- status ----

type statusCmd struct{ oncall }

func (c *statusCmd) Synopsis() string {
	return "Show the daemon's state, policies, guardian sources and faults"
}
func (c *statusCmd) Help() string {
	return `Usage: tumult status [-json]

  Shows whether tumult is armed, paused or halted (by whom, why, since and
  until when), each policy's window and last decision, the guardian's
  sources, and the faults in progress. Reads TUMULT_ADDR (default
  ` + api.DefaultAddress + `) and TUMULT_TOKEN.

Options:
` + flagUsage(c.jsonFlags(new(bool)))
}

func (c *statusCmd) Run(args []string) int {
	return c.read(args, "/v1/status", func(ctx context.Context, cl *api.Client) error {
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		width := 0
		if c.env.width != nil {
			width = c.env.width()
		}
		writeStatus(c.env.out, st, c.clock(), width)
		return nil
	})
}

// writeStatus prints the status for people. width, when not 0, is the
// terminal's: the policy table's last column (LAST DECISION, the one that
// can be long) is cut to fit it.
func writeStatus(w io.Writer, st api.Status, ck clock, width int) {
	fmt.Fprintf(w, "State:    %s\n", describeState(st.State, st.Actor, st.Source, st.Reason, st.Since, st.Until, ck))
	switch {
	case st.Leader && st.Replica != "":
		fmt.Fprintf(w, "Leader:   yes (replica %s)\n", st.Replica)
	case !st.Leader:
		fmt.Fprintf(w, "Leader:   no: replica %s is a standby; the leader schedules\n", orDash(st.Replica))
	}
	if st.DryRun {
		fmt.Fprintln(w, "Dry run:  yes: decisions are recorded, nothing is injected")
	}
	if r := st.LastReload; r != nil {
		fmt.Fprintf(w, "Reload:   %s\n", describeReload(*r, ck))
		if !r.OK {
			for _, e := range r.Errors {
				fmt.Fprintf(w, "          %s\n", oneLine(e))
			}
		}
	}

	fmt.Fprintln(w)
	if len(st.Policies) == 0 {
		fmt.Fprintln(w, "No policies loaded.")
	} else {
		var table strings.Builder
		tw := newTable(&table)
		fmt.Fprintln(tw, "POLICY\tTARGET\tFAULT\tWINDOW\tSTATE\tACTIVE\tTODAY\tNEXT\tLAST DECISION")
		for _, p := range st.Policies {
			name := p.Name
			if p.DryRun {
				name += " (dry run)"
			}
			last := orDash(p.Last)
			if p.Last != "" && !p.LastAt.IsZero() {
				last += " (" + ck.ago(p.LastAt) + ")"
			}
			// Only a policy that may act has a next decision.
			next := "-"
			if p.Enabled && (p.State == "" || p.State == ledger.Armed) && !p.NextAt.IsZero() {
				next = ck.ago(p.NextAt)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", name, orDash(p.Target), orDash(p.Fault),
				windowText(p, ck), policyState(p, ck), p.Active, p.Today, next, oneLine(last))
		}
		tw.Flush()
		for _, line := range strings.SplitAfter(table.String(), "\n") {
			fmt.Fprint(w, cutLine(line, width))
		}
	}

	if len(st.Endpoints) > 0 {
		fmt.Fprintln(w)
		tw := newTable(w)
		fmt.Fprintln(tw, "ENDPOINT\tSTATE\tSINCE\tCHECKED\tPOLICIES\tERROR")
		for _, e := range st.Endpoints {
			state := e.State
			if state == api.EndpointDown {
				state = "DOWN"
			}
			since := "-"
			if !e.Since.IsZero() && e.State != api.EndpointUnused {
				since = ck.ago(e.Since)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, orDash(state), since, ck.ago(e.Checked),
				orDash(strings.Join(e.Policies, ",")), orDash(oneLine(e.Error)))
		}
		tw.Flush()
	}

	fmt.Fprintln(w)
	if len(st.Sources) == 0 {
		fmt.Fprintln(w, "No guardian sources: nothing halts chaos automatically.")
	} else {
		tw := newTable(w)
		fmt.Fprintln(tw, "SOURCE\tKIND\tSCOPE\tUP\tTRIPPED\tLAST READ\tERROR")
		for _, s := range st.Sources {
			up, tripped := yesNo(s.Up), yesNo(s.Tripped)
			if !s.Up {
				up = "NO"
			}
			if s.Tripped {
				tripped = "YES"
			}
			detail := s.Error
			if detail == "" && s.Tripped {
				detail = s.Detail
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, orDash(s.Kind), orDash(s.Scope), up, tripped,
				ck.ago(s.LastRead), orDash(oneLine(detail)))
		}
		tw.Flush()
	}

	fmt.Fprintln(w)
	if len(st.Faults) == 0 {
		fmt.Fprintln(w, "No active faults.")
		return
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "FAULT ID\tPOLICY\tMEMBER\tFAULT\tPHASE\tSINCE")
	for _, r := range st.Faults {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Policy, memberText(r), faultText(r), r.Phase, ck.ago(recordStart(r)))
	}
	tw.Flush()
}

// describeState is the state line: `PAUSED by alice via api since 09:30
// UTC (5m ago) until 11:30 UTC (in 1h55m): "deploy"`.
func describeState(s ledger.State, actor, source, reason string, since, until time.Time, ck clock) string {
	var b strings.Builder
	b.WriteString(stateWord(s))
	if actor != "" {
		b.WriteString(" by " + actor)
	}
	if source != "" && source != actor {
		b.WriteString(" via " + source)
	}
	if !since.IsZero() {
		fmt.Fprintf(&b, " since %s (%s)", ck.at(since), ck.ago(since))
	}
	if !until.IsZero() {
		fmt.Fprintf(&b, " until %s (%s)", ck.at(until), ck.ago(until))
	}
	if reason != "" {
		fmt.Fprintf(&b, ": %q", reason)
	}
	return b.String()
}

// describeReload is the reload line: `ok at 09:30 UTC (5m ago, start):
// 4 policies` or `FAILED at … (file change): 2 errors; running the last
// good set of 4 policies`.
func describeReload(r api.ReloadStatus, ck clock) string {
	when := fmt.Sprintf("at %s (%s, %s)", ck.at(r.At), ck.ago(r.At), orDash(r.Trigger))
	if r.OK {
		s := fmt.Sprintf("ok %s: %s", when, plural(r.Policies, "policy"))
		if n := len(r.Warnings); n > 0 {
			s += ", " + plural(n, "warning")
		}
		return s
	}
	return fmt.Sprintf("FAILED %s: %s; running the last good set of %s (fix the files, then tumult reload)",
		when, plural(len(r.Errors), "error"), plural(r.Policies, "policy"))
}

// cutLine cuts a table line to width columns, ending it with "…", and
// keeps its newline. width 0 keeps the line whole.
func cutLine(line string, width int) string {
	body := strings.TrimSuffix(line, "\n")
	nl := line[len(body):]
	if width <= 0 || utf8.RuneCountInString(body) <= width {
		return line
	}
	r := []rune(body)
	return strings.TrimRight(string(r[:width-1]), " ") + "…" + nl
}

func windowText(p api.PolicyStatus, ck clock) string {
	switch {
	case !p.Enabled:
		return "disabled"
	case p.Frozen != "":
		return "frozen: " + oneLine(p.Frozen)
	case p.WindowOpen && !p.Closes.IsZero():
		return "open until " + ck.at(p.Closes)
	case p.WindowOpen:
		return "open"
	case !p.NextOpen.IsZero():
		return "closed, opens " + ck.at(p.NextOpen)
	}
	return "closed"
}

func policyState(p api.PolicyStatus, ck clock) string {
	if !p.Enabled {
		return "disabled"
	}
	s := stateWord(p.State)
	if p.State != "" && p.State != ledger.Armed {
		if p.StateActor != "" {
			s += " by " + p.StateActor
		}
		if !p.StateUntil.IsZero() {
			s += " until " + ck.at(p.StateUntil)
		}
	}
	return s
}

// ---- faults and history ----

func recordStart(r ledger.Record) time.Time {
	if !r.Injected.IsZero() {
		return r.Injected
	}
	return r.Decided
}

func memberText(r ledger.Record) string {
	switch {
	case r.Member.Name != "":
		return r.Member.Name
	case len(r.Member.ID) > 12:
		return r.Member.ID[:12]
	}
	return orDash(r.Member.ID)
}

func faultText(r ledger.Record) string {
	s := orDash(string(r.Fault.Kind))
	if r.Mechanism != "" {
		// Network faults take netem or netfilter by what the kernel has.
		s += " via " + r.Mechanism
	}
	if r.DryRun {
		s += " (dry run)"
	}
	return s
}

// outcomeText says how a finished record ended: how the member came back,
// why it was skipped or failed, what went wrong.
func outcomeText(r ledger.Record) string {
	var parts []string
	if h := r.Outcome.How; h != "" {
		s := string(h)
		if r.Outcome.Replacement != "" {
			s += " by " + r.Outcome.Replacement
		}
		parts = append(parts, s)
	}
	if r.Reason != "" {
		parts = append(parts, r.Reason)
	}
	if r.Error != "" {
		parts = append(parts, "error: "+r.Error)
	}
	return orDash(oneLine(strings.Join(parts, "; ")))
}

type faultsCmd struct{ oncall }

func (c *faultsCmd) Synopsis() string { return "List the faults in progress" }
func (c *faultsCmd) Help() string {
	return `Usage: tumult faults [-json]

  Lists the fault records that are not finished: injected faults, and
  those being restored. Reads TUMULT_ADDR and TUMULT_TOKEN.

Options:
` + flagUsage(c.jsonFlags(new(bool)))
}

func (c *faultsCmd) Run(args []string) int {
	return c.read(args, "/v1/faults", func(ctx context.Context, cl *api.Client) error {
		recs, err := cl.Faults(ctx)
		if err != nil {
			return err
		}
		c.writeFaults(recs)
		return nil
	})
}

func (c *faultsCmd) writeFaults(recs []ledger.Record) {
	if len(recs) == 0 {
		fmt.Fprintln(c.env.out, "No active faults.")
		return
	}
	ck := c.clock()
	tw := newTable(c.env.out)
	fmt.Fprintln(tw, "ID\tPOLICY\tMEMBER\tFAULT\tPHASE\tSTARTED\tDURATION\tRESTORE BY")
	for _, r := range recs {
		dur := "-"
		if start := recordStart(r); !start.IsZero() {
			dur = faultDuration(ck.now.Sub(start))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Policy, memberText(r), faultText(r), r.Phase,
			ck.atSec(recordStart(r)), dur, ck.atSec(r.RestoreBy))
	}
	tw.Flush()
	// A restore that keeps failing (an engine that answers 500s or does
	// not answer) is retried until the member is back; say why it is not.
	for _, r := range recs {
		if r.Error != "" {
			fmt.Fprintf(c.env.out, "%s %s: not back yet: %s\n", r.ID, memberText(r), r.Error)
		}
	}
}

type historyCmd struct{ oncall }

type historyFlags struct {
	since, policy string
	limit         int
	json          bool
}

func (c *historyCmd) Synopsis() string {
	return "List finished faults and skipped decisions, newest first"
}
func (c *historyCmd) Help() string {
	return `Usage: tumult history [-since DURATION] [-policy NAME] [-limit N] [-json]

  Lists finished fault records, newest first: how each ended (passed,
  failed, restored, skipped, error, aborted) and why. Reads TUMULT_ADDR and
  TUMULT_TOKEN.

Options:
` + flagUsage(c.flags(new(historyFlags)))
}

func (c *historyCmd) flags(f *historyFlags) *flag.FlagSet {
	fs := c.flagSet()
	fs.StringVar(&f.since, "since", "24h", "records finished within this `DURATION` (e.g. 90m, 7d)")
	fs.StringVar(&f.policy, "policy", "", "records of this policy `NAME` only")
	fs.IntVar(&f.limit, "limit", 0, "at most `N` records (0: all)")
	fs.BoolVar(&f.json, "json", false, "print the API's JSON for scripts")
	return fs
}

func (c *historyCmd) Run(args []string) int {
	var f historyFlags
	if !c.parse(c.flags(&f), args) {
		return 2
	}
	since, ok := c.since(f.since)
	if !ok {
		return 2
	}
	if f.limit < 0 {
		c.usage("-limit must not be negative, got %d", f.limit)
		return 2
	}
	if f.json {
		return c.raw("/v1/history", api.HistoryParams(since, f.policy, f.limit))
	}
	cl, ok := c.connect()
	if !ok {
		return 2
	}
	recs, err := cl.History(context.Background(), since, f.policy, f.limit)
	if err != nil {
		return c.fail(err)
	}
	if len(recs) == 0 {
		fmt.Fprintf(c.env.out, "No finished faults in the last %s.\n", policies.FormatDuration(since))
		return 0
	}
	ck := c.clock()
	tw := newTable(c.env.out)
	fmt.Fprintln(tw, "ID\tPOLICY\tMEMBER\tFAULT\tRESULT\tSTARTED\tDURATION\tOUTCOME")
	for _, r := range recs {
		dur := "-"
		if start := recordStart(r); !start.IsZero() && !r.Finished.IsZero() && r.Result != ledger.Skipped {
			dur = faultDuration(r.Finished.Sub(start))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Policy, memberText(r), faultText(r), orDash(string(r.Result)),
			ck.atSec(recordStart(r)), dur, outcomeText(r))
	}
	tw.Flush()
	return 0
}

// ---- pause, resume, halt ----

// reasonFlag registers -reason, which every change of the control state
// requires.
func reasonFlag(fs *flag.FlagSet, reason *string) {
	fs.StringVar(reason, "reason", "", "`TEXT` saying why; recorded with your token's name (required)")
}

// needReason reports a missing -reason as bad usage.
func (o oncall) needReason(reason string) bool {
	if strings.TrimSpace(reason) == "" {
		o.usage("-reason is required: say why, e.g. -reason \"deploy of checkout 1.4\"")
		return false
	}
	return true
}

type pauseCmd struct{ oncall }

type pauseFlags struct {
	policy, forDur, reason string
	restore                bool
}

func (c *pauseCmd) Synopsis() string { return "Stop new faults, everywhere or for one policy" }
func (c *pauseCmd) Help() string {
	return `Usage: tumult pause [-policy NAME] [-for DURATION] [-restore] -reason TEXT

  Stops new faults, of every policy or of one. Faults in progress end
  normally, or at once with -restore. With -for the pause ends by itself;
  without it, it lasts until tumult resume. Reads TUMULT_ADDR and
  TUMULT_TOKEN.

Options:
` + flagUsage(c.flags(new(pauseFlags)))
}

func (c *pauseCmd) flags(f *pauseFlags) *flag.FlagSet {
	fs := c.flagSet()
	fs.StringVar(&f.policy, "policy", "", "pause this policy `NAME` only")
	fs.StringVar(&f.forDur, "for", "", "end the pause after this `DURATION` (e.g. 2h)")
	fs.BoolVar(&f.restore, "restore", false, "restore the faults in progress at once")
	reasonFlag(fs, &f.reason)
	return fs
}

func (c *pauseCmd) Run(args []string) int {
	var f pauseFlags
	if !c.parse(c.flags(&f), args) || !c.needReason(f.reason) {
		return 2
	}
	var d time.Duration
	if f.forDur != "" {
		var err error
		d, err = policies.ParseDuration(f.forDur)
		if err == nil && d <= 0 {
			err = fmt.Errorf("%q is not a positive duration", f.forDur)
		}
		if err != nil {
			c.usage("-for: %v", err)
			return 2
		}
	}
	cl, ok := c.connect()
	if !ok {
		return 2
	}
	ctl, err := cl.Pause(context.Background(), api.PauseRequest{Reason: f.reason, Policy: f.policy, For: f.forDur, Restore: f.restore})
	if err != nil {
		return c.fail(err)
	}
	ck := c.clock()
	what, until := "everything", ctl.Until
	if f.policy != "" {
		what = "policy " + f.policy
		until = ctl.Policies[f.policy].Until
	}
	if until.IsZero() && d > 0 {
		until = ck.now.Add(d)
	}
	how := "until resumed"
	if !until.IsZero() {
		how = fmt.Sprintf("until %s (%s)", ck.at(until), policies.FormatDuration(d))
		if d == 0 {
			how = fmt.Sprintf("until %s", ck.at(until))
		}
	}
	line := fmt.Sprintf("paused %s %s: reason %q", what, how, strings.TrimSpace(f.reason))
	if f.restore {
		line += "; running faults restored"
	}
	fmt.Fprintln(c.env.out, line)
	return 0
}

type resumeCmd struct{ oncall }

type resumeFlags struct{ policy, reason string }

func (c *resumeCmd) Synopsis() string { return "Let faults happen again after a pause or halt" }
func (c *resumeCmd) Help() string {
	return `Usage: tumult resume [-policy NAME] -reason TEXT

  Ends a pause or halt, of everything or of one policy, so that faults are
  scheduled again inside their windows. Reads TUMULT_ADDR and TUMULT_TOKEN.

Options:
` + flagUsage(c.flags(new(resumeFlags)))
}

func (c *resumeCmd) flags(f *resumeFlags) *flag.FlagSet {
	fs := c.flagSet()
	fs.StringVar(&f.policy, "policy", "", "resume this policy `NAME` only")
	reasonFlag(fs, &f.reason)
	return fs
}

func (c *resumeCmd) Run(args []string) int {
	var f resumeFlags
	if !c.parse(c.flags(&f), args) || !c.needReason(f.reason) {
		return 2
	}
	cl, ok := c.connect()
	if !ok {
		return 2
	}
	ctl, err := cl.Resume(context.Background(), api.ResumeRequest{Reason: f.reason, Policy: f.policy})
	if err != nil {
		return c.fail(err)
	}
	what := "everything"
	if f.policy != "" {
		what = "policy " + f.policy
	}
	fmt.Fprintf(c.env.out, "resumed %s: reason %q\n", what, strings.TrimSpace(f.reason))
	c.noteOthers(ctl, f.policy, c.clock())
	return 0
}

type haltCmd struct{ oncall }

func (c *haltCmd) Synopsis() string { return "Restore every fault at once and start no new one" }
func (c *haltCmd) Help() string {
	return `Usage: tumult halt [-wait DURATION] -reason TEXT

  Halts tumult: every fault in progress is restored at once and no new
  fault starts until tumult resume. The daemon answers as soon as the halt
  is recorded; this command then follows the restore — members back of
  the total, and the ones still down with why — until every one is back
  or -wait runs out (exit 1; tumult faults shows what is still being
  restored, and the daemon goes on retrying). -wait 0 returns at once.
  Reads TUMULT_ADDR and TUMULT_TOKEN.

Options:
` + flagUsage(c.flags(new(string), new(time.Duration)))
}

func (c *haltCmd) flags(reason *string, wait *time.Duration) *flag.FlagSet {
	fs := c.flagSet()
	reasonFlag(fs, reason)
	fs.DurationVar(wait, "wait", 2*time.Minute, "follow the restore this long (`DURATION`; 0: do not wait)")
	return fs
}

// haltPoll is how often halt reads the restore's progress.
var haltPoll = 250 * time.Millisecond

func (c *haltCmd) Run(args []string) int {
	var reason string
	var wait time.Duration
	if !c.parse(c.flags(&reason, &wait), args) || !c.needReason(reason) {
		return 2
	}
	if wait < 0 {
		c.usage("-wait must not be negative")
		return 2
	}
	cl, ok := c.connect()
	if !ok {
		return 2
	}
	asked := c.env.now()
	ctl, err := cl.Halt(context.Background(), api.HaltRequest{Reason: reason})
	if err != nil {
		return c.fail(err)
	}
	reason = strings.TrimSpace(reason)
	if ctl.State == ledger.Halted && ctl.Reason != "" && ctl.Reason != reason {
		// A halt keeps who halted first and why: saying "reason x" here
		// would claim a record that status does not show.
		fmt.Fprintf(c.env.out, "already halted by %s since %s: %q; reason %q not recorded\n",
			orDash(ctl.Actor), c.clock().at(ctl.Since), ctl.Reason, reason)
	} else {
		fmt.Fprintf(c.env.out, "halted everything: no new faults; restoring every running fault; reason %q\n", reason)
	}
	if wait == 0 {
		fmt.Fprintln(c.env.out, "not waiting for the restore: tumult faults shows what is still being restored")
		return 0
	}
	return c.follow(cl, asked, wait)
}

// follow prints the restore's progress until no fault is active or wait
// runs out. From here on the halt has taken: a daemon that stops
// answering is reported as such, never as a halt that failed.
func (c *haltCmd) follow(cl *api.Client, asked time.Time, wait time.Duration) int {
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(haltPoll)
	defer tick.Stop()
	last := ""
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		active, back, err := haltProgress(ctx, cl, asked, c.env.now())
		cancel()
		if err != nil {
			fmt.Fprintf(c.env.err, "tumult: the halt is recorded, but its restore cannot be followed: %v\n", err)
			fmt.Fprintln(c.env.err, "tumult: the daemon goes on restoring; tumult faults shows what is still active")
			return 1
		}
		total := back + len(active)
		if len(active) == 0 {
			fmt.Fprintf(c.env.out, "restored: %d of %d faults; every member is back\n", back, total)
			return 0
		}
		line := fmt.Sprintf("restoring: %d of %d members back", back, total)
		var down []string
		for _, r := range active {
			why := string(r.Phase)
			if r.Error != "" {
				why = r.Error
			}
			down = append(down, fmt.Sprintf("  still down: %s (%s, %s): %s", memberText(r), r.Policy, r.Fault.Kind, why))
		}
		if text := line + "\n" + strings.Join(down, "\n"); text != last {
			fmt.Fprintln(c.env.out, text)
			last = text
		}
		if !time.Now().Before(deadline) {
			fmt.Fprintf(c.env.err, "tumult: -wait %s ran out with %d of %d members still being restored; the daemon goes on retrying (tumult faults)\n",
				wait, len(active), total)
			return 1
		}
		<-tick.C
	}
}

// haltProgress reads the faults still active and counts those finished
// since the halt was asked for (a second of slack for the daemon's clock);
// now is the CLI's clock.
func haltProgress(ctx context.Context, cl *api.Client, asked, now time.Time) ([]ledger.Record, int, error) {
	active, err := cl.Faults(ctx)
	if err != nil {
		return nil, 0, err
	}
	since := asked.Add(-time.Second)
	hist, err := cl.History(ctx, now.Sub(since), "", 0)
	if err != nil {
		return nil, 0, err
	}
	back := 0
	for _, r := range hist {
		if r.Result != ledger.Skipped && !r.Finished.Before(since) {
			back++
		}
	}
	return active, back, nil
}

// noteOthers tells, on stderr, of control states that still hold back
// faults after a change of another scope: resuming a policy while
// everything is paused does not start its faults.
func (o oncall) noteOthers(ctl ledger.Control, policy string, ck clock) {
	if policy != "" {
		if g := ctl.Global(ck.now); g.State != ledger.Armed {
			fmt.Fprintf(o.env.err, "tumult: note: everything is %s\n", describeState(g.State, g.Actor, "", g.Reason, time.Time{}, g.Until, ck))
		}
		return
	}
	var held []string
	for name, p := range ctl.Policies {
		if p.State != "" && p.State != ledger.Armed && (p.Until.IsZero() || ck.now.Before(p.Until)) {
			held = append(held, fmt.Sprintf("%s (%s by %s)", name, p.State, orDash(p.Actor)))
		}
	}
	if len(held) > 0 {
		slices.Sort(held)
		fmt.Fprintf(o.env.err, "tumult: note: still held back on their own: %s\n", strings.Join(held, ", "))
	}
}

// since parses a -since flag: a positive duration ("90m", "7d"). On a bad
// one it prints the usage error and answers false.
func (c oncall) since(text string) (time.Duration, bool) {
	d, err := policies.ParseDuration(text)
	if err == nil && d <= 0 {
		err = fmt.Errorf("%q is not a positive duration", text)
	}
	if err != nil {
		c.usage("-since: %v", err)
		return 0, false
	}
	return d, true
}
