package guardian

import (
	"cmp"
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/inferensys/tumult/ledger"
)

// ReportCarriedOver logs, at WARN, every halt or pause that the control
// state holds when tumult starts: it was made in an earlier run and
// survives restarts on purpose, but without a word at start the first
// hint would be a skipped decision half a minute later. Each line says
// what holds, who made it and why, since and until when, and the command
// that lifts it. It returns how many it reported.
func (c *Controller) ReportCarriedOver(ctx context.Context) (int, error) {
	now := c.opts.Clock.Now()
	ctl, err := c.opts.Ledger.Control(ctx)
	if err != nil {
		return 0, fmt.Errorf("read control state: %w", err)
	}
	n := 0
	report := func(policy string, pc ledger.PolicyControl) {
		resume := `tumult resume -reason "…"`
		if policy != "" {
			resume = fmt.Sprintf(`tumult resume -policy %s -reason "…"`, policy)
		}
		if pc.State == ledger.Paused && !pc.Until.IsZero() {
			resume += " (or wait: the pause ends by itself)"
		}
		// Times as RFC 3339 and absent fields left out, whatever logger
		// this is: the line is read by a person at 3 a.m.
		args := []any{"policy", orAll(policy), "actor", cmp.Or(pc.Actor, "-")}
		if pc.Source != "" && pc.Source != pc.Actor {
			args = append(args, "source", pc.Source)
		}
		args = append(args, "reason", cmp.Or(pc.Reason, "-"))
		if !pc.Since.IsZero() {
			args = append(args, "since", pc.Since.Format(time.RFC3339))
		}
		if !pc.Until.IsZero() {
			args = append(args, "until", pc.Until.Format(time.RFC3339))
		}
		args = append(args, "resume_with", resume)
		c.log.Warn(fmt.Sprintf("%s, carried over from an earlier run: no new faults until resumed", pc.State), args...)
		n++
	}
	if g := ctl.Global(now); g.State != ledger.Armed {
		report("", g)
	}
	names := make([]string, 0, len(ctl.Policies))
	for name := range ctl.Policies {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		pc := ctl.Policies[name]
		if pc.State == ledger.Armed || (!pc.Until.IsZero() && !now.Before(pc.Until)) {
			continue
		}
		report(name, pc)
	}
	return n, nil
}
