package alerting

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/policies"
)

// fakeAlertmanager answers GET and POST /api/v2/alerts under prefix.
type fakeAlertmanager struct {
	mu     sync.Mutex
	alerts string // JSON answer to GET
	status int
	query  []string
	posted []map[string]any
}

func newFakeAlertmanager(t *testing.T, prefix string) (*fakeAlertmanager, *httptest.Server) {
	f := &fakeAlertmanager{alerts: "[]"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != prefix+"/api/v2/alerts" {
			http.NotFound(w, r)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.status != 0 {
			w.WriteHeader(f.status)
			_, _ = io.WriteString(w, `"boom"`)
			return
		}
		switch r.Method {
		case http.MethodGet:
			f.query = append(f.query, r.URL.RawQuery)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, f.alerts)
		case http.MethodPost:
			var body []map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			f.posted = append(f.posted, body...)
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func newTestAlertmanager(t *testing.T, addr string, now time.Time) *Alertmanager {
	am, err := NewAlertmanager(AlertmanagerOptions{Name: "main", Address: addr, Now: func() time.Time { return now }, Ignore: guardian.IsAnnouncement})
	require.NoError(t, err)
	return am
}

const gettableAlerts = `[
  {"labels": {"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"},
   "annotations": {}, "startsAt": "2026-03-01T10:00:00.000Z", "endsAt": "2026-03-01T10:05:00.000Z",
   "updatedAt": "2026-03-01T10:00:00.000Z", "fingerprint": "abc123", "receivers": [{"name": "null"}],
   "status": {"state": "active", "silencedBy": [], "inhibitedBy": []}},
  {"labels": {"alertname": "DiskFull", "service": "db", "severity": "warning"},
   "annotations": {}, "startsAt": "2026-03-01T09:00:00.000Z", "endsAt": "2026-03-01T10:05:00.000Z",
   "updatedAt": "2026-03-01T10:00:00.000Z", "receivers": [],
   "status": {"state": "unprocessed", "silencedBy": [], "inhibitedBy": []}},
  {"labels": {"alertname": "Silenced", "service": "checkout", "severity": "critical"},
   "startsAt": "2026-03-01T09:00:00.000Z", "fingerprint": "s1",
   "status": {"state": "suppressed", "silencedBy": ["x"], "inhibitedBy": []}},
  {"labels": {"alertname": "Inhibited", "service": "checkout", "severity": "critical"},
   "startsAt": "2026-03-01T09:00:00.000Z", "fingerprint": "i1",
   "status": {"state": "suppressed", "silencedBy": [], "inhibitedBy": ["y"]}},
  {"labels": {"alertname": "ChaosExperimentActive", "service": "checkout", "severity": "critical"},
   "startsAt": "2026-03-01T09:00:00.000Z", "fingerprint": "c1", "status": {"state": "active"}},
  {"labels": {"alertname": "TumultHalted", "severity": "info"},
   "startsAt": "2026-03-01T09:00:00.000Z", "fingerprint": "h1", "status": {"state": "active"}},
  {"labels": {"alertname": "Custom", "service": "checkout", "severity": "critical", "tumult_announcement": "true"},
   "startsAt": "2026-03-01T09:00:00.000Z", "fingerprint": "t1", "status": {"state": "active"}}
]`

func TestAlerts(t *testing.T) {
	f, srv := newFakeAlertmanager(t, "/am")
	f.alerts = gettableAlerts
	am := newTestAlertmanager(t, srv.URL+"/am/", time.Now())

	got, err := am.Alerts(context.Background())
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "HighErrorRate", got[0].Name())
	require.Equal(t, "abc123", got[0].Fingerprint)
	require.Equal(t, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), got[0].StartsAt.UTC())
	require.Equal(t, "DiskFull", got[1].Name())
	// No fingerprint in the answer: computed the way Alertmanager does.
	require.Equal(t, fingerprint(got[1].Labels), got[1].Fingerprint)
	require.Len(t, got[1].Fingerprint, 16)

	require.Len(t, f.query, 1)
	q := f.query[0]
	for _, want := range []string{"active=true", "silenced=false", "inhibited=false", "unprocessed=true"} {
		require.Contains(t, q, want)
	}

	page := []policies.Matcher{
		mustMatcher(t, `service="checkout"`),
		mustMatcher(t, `severity=~"critical|page"`),
	}
	m := matching(got, page)
	require.Len(t, m, 1)
	require.Equal(t, "HighErrorRate", m[0].Name())
	require.Len(t, matching(got, nil), 2)
	require.Empty(t, matching(got, []policies.Matcher{mustMatcher(t, `severity="page"`)}))
	require.Len(t, matching(got, []policies.Matcher{mustMatcher(t, `service!="checkout"`)}), 1)
}

// matching keeps the alerts that satisfy every matcher.
func matching(alerts []Alert, ms []policies.Matcher) []Alert {
	var out []Alert
	for _, a := range alerts {
		if policies.MatchesAll(ms, a.Labels) {
			out = append(out, a)
		}
	}
	return out
}

func mustMatcher(t *testing.T, s string) policies.Matcher {
	t.Helper()
	m, err := policies.ParseMatcher(s)
	require.NoError(t, err)
	return m
}

func TestAlertsErrors(t *testing.T) {
	f, srv := newFakeAlertmanager(t, "")
	am := newTestAlertmanager(t, srv.URL, time.Now())

	f.status = http.StatusInternalServerError
	_, err := am.Alerts(context.Background())
	require.ErrorContains(t, err, `alertmanager "main": list alerts at `+srv.URL)
	require.ErrorContains(t, err, "boom")

	f.status = 0
	f.alerts = `{"not": "a list"}`
	_, err = am.Alerts(context.Background())
	require.ErrorContains(t, err, `alertmanager "main"`)

	wrongPath := newTestAlertmanager(t, srv.URL+"/elsewhere", time.Now())
	_, err = wrongPath.Alerts(context.Background())
	require.ErrorContains(t, err, "404")

	srv.Close()
	_, err = am.Alerts(context.Background())
	require.ErrorContains(t, err, `alertmanager "main": list alerts`)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = am.Alerts(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

func TestNewAlertmanagerBadAddress(t *testing.T) {
	for _, addr := range []string{"", "127.0.0.1:9093", "unix:///x", "http://"} {
		_, err := NewAlertmanager(AlertmanagerOptions{Name: "main", Address: addr})
		require.ErrorContains(t, err, `alertmanager "main"`, addr)
	}
}

func TestPostAndResolve(t *testing.T) {
	f, srv := newFakeAlertmanager(t, "")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	am := newTestAlertmanager(t, srv.URL, now)

	start := now.Add(-time.Minute)
	chaos := announcementOf(guardian.Announcement{Kind: guardian.AnnounceFault, Policy: "checkout-crash", Target: "docker", Member: "checkout-api-1", Fault: "kill", Since: start})
	require.NoError(t, am.Post(context.Background(), []Announcement{chaos}))
	require.NoError(t, am.Resolve(context.Background(), []Announcement{chaos}))
	require.NoError(t, am.Post(context.Background(), nil))

	require.Len(t, f.posted, 2)
	labels := map[string]any{
		"alertname": "ChaosExperimentActive", "policy": "checkout-crash", "target": "docker",
		"member": "checkout-api-1", "fault": "kill", "severity": "info", "tumult_announcement": "true",
	}
	for _, p := range f.posted {
		require.Equal(t, labels, p["labels"])
		require.Equal(t, "2026-03-01T11:59:00.000Z", p["startsAt"])
		require.Contains(t, p["annotations"].(map[string]any)["summary"], "checkout-api-1")
	}
	// Active: no end (the zero time, which Alertmanager reads as unset).
	require.Equal(t, "0001-01-01T00:00:00.000Z", f.posted[0]["endsAt"])
	require.Equal(t, "2026-03-01T12:00:00.000Z", f.posted[1]["endsAt"])

	err := am.Post(context.Background(), []Announcement{{}})
	require.ErrorContains(t, err, "has no labels")

	f.status = http.StatusBadRequest
	err = am.Post(context.Background(), []Announcement{chaos})
	require.ErrorContains(t, err, `alertmanager "main": post 1 alerts`)
}

// announcementOf is the alert a guardian announcement is posted as (the
// agent's AnnouncementOf).
func announcementOf(an guardian.Announcement) Announcement {
	return Announcement{Labels: an.Labels(), Annotations: an.Annotations(), StartsAt: an.Since}
}

func TestAnnouncementResolve(t *testing.T) {
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := announcementOf(guardian.Announcement{Kind: guardian.AnnounceHalted, Reason: `alert HighErrorRate on alertmanager "main"`, Since: since})
	require.Equal(t, since, h.StartsAt)
	require.True(t, h.EndsAt.IsZero())
	r := h.Resolve(since.Add(time.Hour))
	require.Equal(t, since.Add(time.Hour), r.EndsAt)
	require.Equal(t, h.Labels, r.Labels)
}
