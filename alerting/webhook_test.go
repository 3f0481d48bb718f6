package alerting

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/guardian"
)

// webhookBody is shaped like what Alertmanager 0.25 sends.
const webhookBody = `{
  "receiver": "tumult",
  "status": "firing",
  "alerts": [
    {"status": "firing",
     "labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"},
     "annotations": {"summary": "errors"},
     "startsAt": "2026-03-01T10:00:00.123Z", "endsAt": "0001-01-01T00:00:00Z",
     "generatorURL": "http://prometheus/graph", "fingerprint": "6cde5c1c40b6d9a3"},
    {"status": "resolved",
     "labels": {"alertname": "DiskFull", "service": "db"},
     "annotations": {},
     "startsAt": "2026-03-01T09:00:00Z", "endsAt": "2026-03-01T09:30:00Z",
     "generatorURL": "", "fingerprint": "1111"},
    {"status": "firing",
     "labels": {"alertname": "ChaosExperimentActive", "tumult_announcement": "true"},
     "startsAt": "2026-03-01T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "2222"},
    {"status": "firing",
     "labels": {"alertname": "NoFingerprint"},
     "startsAt": "2026-03-01T09:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}
  ],
  "groupLabels": {"service": "checkout"},
  "commonLabels": {},
  "commonAnnotations": {},
  "externalURL": "http://alertmanager:9093",
  "version": "4",
  "groupKey": "{}:{service=\"checkout\"}",
  "truncatedAlerts": 0,
  "someFutureField": {"ignored": true}
}`

func TestParseWebhook(t *testing.T) {
	w, err := ParseWebhook(strings.NewReader(webhookBody), 0)
	require.NoError(t, err)
	require.Equal(t, "4", w.Version)
	require.Equal(t, "tumult", w.Receiver)
	require.Equal(t, `{}:{service="checkout"}`, w.GroupKey)
	require.Equal(t, map[string]string{"service": "checkout"}, w.GroupLabels)
	require.Equal(t, "http://alertmanager:9093", w.ExternalURL)
	require.Len(t, w.Alerts, 4)

	w = w.Without(guardian.IsAnnouncement)
	firing := w.Firing()
	require.Len(t, firing, 2)
	require.Equal(t, "HighErrorRate", firing[0].Name())
	require.Equal(t, "6cde5c1c40b6d9a3", firing[0].Fingerprint)
	require.Equal(t, time.Date(2026, 3, 1, 10, 0, 0, 123e6, time.UTC), firing[0].StartsAt)
	require.Equal(t, "NoFingerprint", firing[1].Name())
	require.Equal(t, fingerprint(map[string]string{"alertname": "NoFingerprint"}), firing[1].Fingerprint)

	resolved := w.Resolved()
	require.Len(t, resolved, 1)
	require.Equal(t, "DiskFull", resolved[0].Name())
	require.Equal(t, "1111", resolved[0].Fingerprint)
}

func TestParseWebhookErrors(t *testing.T) {
	replace := func(old, new string) string {
		require.Contains(t, webhookBody, old)
		return strings.Replace(webhookBody, old, new, 1)
	}
	tests := []struct {
		name    string
		body    string
		max     int64
		wantErr error
		text    string
	}{
		{name: "empty", body: "", wantErr: ErrWebhookMalformed, text: "empty body"},
		{name: "blank", body: " \n", wantErr: ErrWebhookMalformed, text: "empty body"},
		{name: "not json", body: "alert!", wantErr: ErrWebhookMalformed},
		{name: "truncated", body: webhookBody[:100], wantErr: ErrWebhookMalformed},
		{name: "array", body: "[]", wantErr: ErrWebhookMalformed},
		{name: "trailing data", body: webhookBody + "{}", wantErr: ErrWebhookMalformed, text: "data after"},
		{name: "wrong types", body: replace(`"alerts": [`, `"alerts": 3, "x": [`), wantErr: ErrWebhookMalformed},
		{name: "bad time", body: replace(`"2026-03-01T10:00:00.123Z"`, `"yesterday"`), wantErr: ErrWebhookMalformed},
		{name: "version 3", body: replace(`"version": "4"`, `"version": "3"`), wantErr: ErrWebhookVersion, text: `got "3", want "4"`},
		{name: "no version", body: replace(`"version": "4",`, ``), wantErr: ErrWebhookVersion},
		{name: "numeric version", body: replace(`"version": "4"`, `"version": 4`), wantErr: ErrWebhookMalformed},
		{name: "no status", body: replace(`"status": "firing",`+"\n  \"alerts\"", `"alerts"`), wantErr: ErrWebhookMalformed, text: `status ""`},
		{name: "bad alert status", body: replace(`{"status": "resolved"`, `{"status": "gone"`), wantErr: ErrWebhookMalformed, text: `alert 1: status "gone"`},
		{name: "alert without labels", body: replace(`"labels": {"alertname": "DiskFull", "service": "db"}`, `"labels": {}`), wantErr: ErrWebhookMalformed, text: "alert 1 has no labels"},
		{name: "too large", body: webhookBody, max: int64(len(webhookBody)) - 1, wantErr: ErrWebhookTooLarge, text: "more than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseWebhook(strings.NewReader(tc.body), tc.max)
			require.ErrorIs(t, err, tc.wantErr)
			for _, other := range []error{ErrWebhookMalformed, ErrWebhookVersion, ErrWebhookTooLarge} {
				if other != tc.wantErr {
					require.NotErrorIs(t, err, other)
				}
			}
			if tc.text != "" {
				require.ErrorContains(t, err, tc.text)
			}
		})
	}
}

func TestParseWebhookLimit(t *testing.T) {
	// Exactly at the limit is fine.
	_, err := ParseWebhook(strings.NewReader(webhookBody), int64(len(webhookBody)))
	require.NoError(t, err)

	// A body far over the limit is not read to its end.
	huge := &countingReader{r: strings.NewReader(strings.Repeat(" ", 10<<20))}
	_, err = ParseWebhook(huge, 1024)
	require.ErrorIs(t, err, ErrWebhookTooLarge)
	require.LessOrEqual(t, huge.n, int64(1025))

	// A failing reader is neither malformed nor too large.
	boom := errors.New("connection reset")
	_, err = ParseWebhook(iotest.ErrReader(boom), 0)
	require.ErrorIs(t, err, boom)
	require.NotErrorIs(t, err, ErrWebhookMalformed)
}

type countingReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
