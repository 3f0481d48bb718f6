package guardian

import (
	"fmt"
	"strings"

	"github.com/inferensys/tumult/policies"
)

// This file holds the guardian's rules in one place: what counts as
// tumult's own announcement, when an alert matches a trip wire, when a
// burn-rate pair trips, when the error-budget gate holds new faults back,
// and which Consul checks trip. The sources (package alerting) only read
// alerts and numbers; what they mean is decided here.

// Labels and names of the alerts tumult posts itself. An alert carrying
// any of them is never counted as a trip wire, so announcing chaos can
// never halt tumult.
const (
	// LabelAnnouncement marks an alert as one of tumult's announcements.
	LabelAnnouncement = "tumult_announcement"
	// AlertChaosActive is the alertname of the announcement of one
	// running fault.
	AlertChaosActive = "ChaosExperimentActive"
	// AlertHalted is the alertname of the announcement that tumult is
	// halted.
	AlertHalted = "TumultHalted"
)

// IsAnnouncement reports whether labels belong to one of tumult's own
// announcements: marked with LabelAnnouncement, or named like one (a copy
// relabelled on the way loses the mark but keeps its name).
func IsAnnouncement(labels map[string]string) bool {
	if labels[LabelAnnouncement] == "true" {
		return true
	}
	switch labels["alertname"] {
	case AlertChaosActive, AlertHalted:
		return true
	}
	return false
}

// alertTrips reports whether an alert counts for an alert trip wire with
// these matchers: it is not an announcement and satisfies every matcher.
func alertTrips(labels map[string]string, ms []policies.Matcher) bool {
	return !IsAnnouncement(labels) && policies.MatchesAll(ms, labels)
}

// BurnPairTrips reports whether a multiwindow burn-rate pair trips: both
// its long and its short window burn the error budget faster than its
// factor (a burn equal to the factor does not trip). A burn rate is the
// error ratio over the window divided by 1 − objective.
func BurnPairTrips(pair policies.BurnPair, longBurn, shortBurn float64) bool {
	return longBurn > pair.Factor && shortBurn > pair.Factor
}

// BudgetGateBlocks reports whether an SLO's min_budget_left start gate
// holds new faults back: with no gate (min nil) never; when the budget
// could not be read (readErr) always, failing closed; otherwise when less
// than min of the budget is left.
func BudgetGateBlocks(min, left *float64, readErr error) bool {
	switch {
	case min == nil:
		return false
	case readErr != nil || left == nil:
		return true
	}
	return *left < *min
}

// PairBurn is one burn-rate pair as read from Prometheus.
type PairBurn struct {
	Pair      policies.BurnPair
	LongBurn  float64
	ShortBurn float64
}

// SLOBurns is what one read of an SLO trip wire's source found: the burn
// rates of its pairs and, when the wire has min_budget_left, the fraction
// of the budget left over its period (nil with BudgetErr when that read
// failed).
type SLOBurns struct {
	Pairs      []PairBurn
	BudgetLeft *float64
	BudgetErr  error
}

// JudgeSLO applies the rules to one read of an SLO wire: the wire trips
// when any pair trips, and the gate blocks as BudgetGateBlocks says. The
// details name the burns for status and halt reasons.
func JudgeSLO(wire policies.SLOWire, b SLOBurns) SLOReading {
	var rd SLOReading
	for _, ps := range b.Pairs {
		rd.Tripped = rd.Tripped || BurnPairTrips(ps.Pair, ps.LongBurn, ps.ShortBurn)
	}
	rd.GateBlocked = wire.MinBudgetLeft != nil && BudgetGateBlocks(wire.MinBudgetLeft, b.BudgetLeft, b.BudgetErr)
	var parts []string
	for _, ps := range b.Pairs {
		pair := policies.FormatDuration(ps.Pair.Long) + "/" + policies.FormatDuration(ps.Pair.Short)
		if BurnPairTrips(ps.Pair, ps.LongBurn, ps.ShortBurn) {
			parts = append(parts, fmt.Sprintf("%s burn %.1f/%.1f over %g", pair, ps.LongBurn, ps.ShortBurn, ps.Pair.Factor))
		} else if !rd.Tripped {
			parts = append(parts, fmt.Sprintf("%s burn %.2f/%.2f (trips over %g)", pair, ps.LongBurn, ps.ShortBurn, ps.Pair.Factor))
		}
	}
	rd.Detail = strings.Join(parts, "; ")
	switch {
	case b.BudgetErr != nil:
		rd.GateDetail = fmt.Sprintf("error budget of %s unknown: %v", wire.Name, b.BudgetErr)
	case b.BudgetLeft != nil && wire.MinBudgetLeft != nil && rd.GateBlocked:
		rd.GateDetail = fmt.Sprintf("error budget of %s %s left, below %s", wire.Name, percent(*b.BudgetLeft), percent(*wire.MinBudgetLeft))
	case b.BudgetLeft != nil:
		rd.GateDetail = fmt.Sprintf("error budget of %s %s left", wire.Name, percent(*b.BudgetLeft))
	}
	return rd
}

func percent(f float64) string { return fmt.Sprintf("%.3g%%", f*100) }

// ConsulCheckTrips reports whether a Consul health check with this status
// trips a consul_service wire: only "critical" does; "warning" and
// "maintenance" do not.
func ConsulCheckTrips(status string) bool { return status == "critical" }
