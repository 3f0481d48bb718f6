package alerting

import (
	"github.com/prometheus/common/model"

	"github.com/inferensys/tumult/policies"
)

// Alert is one firing alert as a source reports it: the type alert trip
// wires match (policies.Alert).
type Alert = policies.Alert

// fingerprint is Alertmanager's fingerprint of a label set, for payloads
// that lack one.
func fingerprint(labels map[string]string) string {
	ls := make(model.LabelSet, len(labels))
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}
