package alerting

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// DefaultWebhookMaxBytes bounds a webhook body when the caller passes no
// limit. Alertmanager sends every alert of a group in one payload; 4 MiB
// holds thousands of them.
const DefaultWebhookMaxBytes = 4 << 20

// WebhookVersion is the only payload version ParseWebhook accepts.
const WebhookVersion = "4"

// Errors of ParseWebhook, to tell with errors.Is. An HTTP handler answers
// ErrWebhookTooLarge with 413 and the others with 400.
var (
	ErrWebhookMalformed = errors.New("malformed webhook payload")
	ErrWebhookVersion   = errors.New("unsupported webhook payload version")
	ErrWebhookTooLarge  = errors.New("webhook payload too large")
)

// Webhook is an Alertmanager webhook notification (payload version 4).
type Webhook struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert of a webhook notification.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Alert statuses in webhook payloads.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// ParseWebhook reads and checks one webhook body of at most maxBytes bytes
// (DefaultWebhookMaxBytes when maxBytes <= 0). Unknown fields are ignored, since
// Alertmanager adds fields within a payload version; a wrong version, a
// missing or unknown status, an alert without labels, trailing data or a
// body over the limit are errors.
func ParseWebhook(r io.Reader, maxBytes int64) (Webhook, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultWebhookMaxBytes
	}
	body, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return Webhook{}, fmt.Errorf("read webhook body: %w", err)
	}
	if int64(len(body)) > maxBytes {
		return Webhook{}, fmt.Errorf("%w: more than %d bytes", ErrWebhookTooLarge, maxBytes)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return Webhook{}, fmt.Errorf("%w: empty body", ErrWebhookMalformed)
	}
	var w Webhook
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&w); err != nil {
		return Webhook{}, fmt.Errorf("%w: %v", ErrWebhookMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Webhook{}, fmt.Errorf("%w: data after the JSON object", ErrWebhookMalformed)
	}
	if w.Version != WebhookVersion {
		return Webhook{}, fmt.Errorf("%w: got %q, want %q", ErrWebhookVersion, w.Version, WebhookVersion)
	}
	if w.Status != StatusFiring && w.Status != StatusResolved {
		return Webhook{}, fmt.Errorf("%w: status %q, want %q or %q", ErrWebhookMalformed, w.Status, StatusFiring, StatusResolved)
	}
	for i, a := range w.Alerts {
		if a.Status != StatusFiring && a.Status != StatusResolved {
			return Webhook{}, fmt.Errorf("%w: alert %d: status %q, want %q or %q", ErrWebhookMalformed, i, a.Status, StatusFiring, StatusResolved)
		}
		if len(a.Labels) == 0 {
			return Webhook{}, fmt.Errorf("%w: alert %d has no labels", ErrWebhookMalformed, i)
		}
		if a.Fingerprint == "" {
			w.Alerts[i].Fingerprint = fingerprint(a.Labels)
		}
	}
	return w, nil
}

// Without returns the payload without the alerts whose labels ignore
// reports: the agent leaves tumult's own announcements out with
// guardian.IsAnnouncement.
func (w Webhook) Without(ignore func(labels map[string]string) bool) Webhook {
	kept := make([]WebhookAlert, 0, len(w.Alerts))
	for _, a := range w.Alerts {
		if !ignore(a.Labels) {
			kept = append(kept, a)
		}
	}
	w.Alerts = kept
	return w
}

// Firing returns the payload's firing alerts.
func (w Webhook) Firing() []Alert { return w.byStatus(StatusFiring) }

// Resolved returns the payload's resolved alerts, so that a guardian can
// clear what it learnt from earlier notifications.
func (w Webhook) Resolved() []Alert { return w.byStatus(StatusResolved) }

func (w Webhook) byStatus(status string) []Alert {
	var out []Alert
	for _, a := range w.Alerts {
		if a.Status != status {
			continue
		}
		out = append(out, Alert{Labels: a.Labels, StartsAt: a.StartsAt, Fingerprint: a.Fingerprint})
	}
	return out
}
