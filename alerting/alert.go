package alerting

import (
	"time"

	"github.com/prometheus/common/model"

	"github.com/inferensys/tumult/policies"
)

// Labels tumult puts on the alerts it posts itself. Alerts carrying them are
// never counted as trip wires, so an announcement cannot halt tumult.
const (
	// LabelAnnouncement marks an alert as one of tumult's announcements.
	LabelAnnouncement = "tumult_announcement"
	// AlertChaosActive is the alertname of the announcement of one running
	// fault.
	AlertChaosActive = "ChaosExperimentActive"
	// AlertHalted is the alertname of the announcement that tumult is halted.
	AlertHalted = "TumultHalted"
)

// Alert is one firing alert as a source reports it.
type Alert struct {
	Labels   map[string]string
	StartsAt time.Time
	// Fingerprint identifies the alert's label set; it is the same value
	// Alertmanager reports through its API and its webhook, so the two
	// paths can be correlated.
	Fingerprint string
}

// Name is the alert's alertname label.
func (a Alert) Name() string { return a.Labels[model.AlertNameLabel] }

// IsAnnouncement reports whether labels belong to one of tumult's own
// announcement alerts.
func IsAnnouncement(labels map[string]string) bool {
	if labels[LabelAnnouncement] == "true" {
		return true
	}
	switch labels[model.AlertNameLabel] {
	case AlertChaosActive, AlertHalted:
		return true
	}
	return false
}

// Matching returns the alerts that satisfy every matcher. With no matchers
// every alert matches. Matchers must come from the policy decoder or from
// policies.ParseMatcher / policies.NewMatcher, which compile regexps.
func Matching(alerts []Alert, matchers []policies.Matcher) []Alert {
	var out []Alert
	for _, a := range alerts {
		if matchesAll(a.Labels, matchers) {
			out = append(out, a)
		}
	}
	return out
}

func matchesAll(labels map[string]string, matchers []policies.Matcher) bool {
	for _, m := range matchers {
		if !m.Matches(labels) {
			return false
		}
	}
	return true
}

// fingerprint is Alertmanager's fingerprint of a label set, for payloads
// that lack one.
func fingerprint(labels map[string]string) string {
	ls := make(model.LabelSet, len(labels))
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}
