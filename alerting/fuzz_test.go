package alerting

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParseWebhook: whatever the body, ParseWebhook never panics, errs
// with one of its classes, and a payload it accepts holds what the
// guardian relies on.
func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(`{"version":"4","status":"firing","receiver":"tumult","groupKey":"{}:{}","alerts":[{"status":"firing","labels":{"alertname":"Down","service":"checkout"},"startsAt":"2026-10-16T09:29:00Z"}]}`))
	f.Add([]byte(`{"version":"4","status":"resolved","alerts":[{"status":"resolved","labels":{"a":"b"},"fingerprint":"abc","endsAt":"2026-10-16T09:30:00+01:00"}]}`))
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[]} {}`))
	f.Add([]byte(`{"version":"3","status":"firing"}`))
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{}}]}`))
	f.Add([]byte(``))
	const limit = 1 << 16
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := ParseWebhook(bytes.NewReader(body), limit)
		if err != nil {
			if !errors.Is(err, ErrWebhookMalformed) && !errors.Is(err, ErrWebhookVersion) && !errors.Is(err, ErrWebhookTooLarge) {
				t.Fatalf("error of no class: %v", err)
			}
			return
		}
		if w.Version != WebhookVersion || (w.Status != StatusFiring && w.Status != StatusResolved) {
			t.Fatalf("accepted version %q status %q", w.Version, w.Status)
		}
		for i, a := range w.Alerts {
			if len(a.Labels) == 0 || a.Fingerprint == "" || (a.Status != StatusFiring && a.Status != StatusResolved) {
				t.Fatalf("alert %d accepted without labels, fingerprint or status: %+v", i, a)
			}
		}
		if n := len(w.Firing()) + len(w.Resolved()); n != len(w.Alerts) {
			t.Fatalf("%d firing and resolved of %d alerts", n, len(w.Alerts))
		}
		// What it accepted, written again, it accepts again with the same
		// fingerprints.
		again, err := json.Marshal(w)
		if err != nil {
			t.Fatalf("marshal accepted payload: %v", err)
		}
		w2, err := ParseWebhook(bytes.NewReader(again), 0)
		if err != nil {
			t.Fatalf("re-parse of an accepted payload: %v\n%s", err, again)
		}
		for i := range w.Alerts {
			if w.Alerts[i].Fingerprint != w2.Alerts[i].Fingerprint {
				t.Fatalf("alert %d: fingerprint %q then %q", i, w.Alerts[i].Fingerprint, w2.Alerts[i].Fingerprint)
			}
		}
	})
}
