package alerting

import (
	"time"

	"github.com/prometheus/common/model"
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

// fingerprint is Alertmanager's fingerprint of a label set, for payloads
// that lack one.
func fingerprint(labels map[string]string) string {
	ls := make(model.LabelSet, len(labels))
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}
