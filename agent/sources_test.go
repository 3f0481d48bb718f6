package agent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/agent"
	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/ledgertest"
	"github.com/inferensys/tumult/policies"
)

// promServer answers instant queries from a table; other queries get an
// empty vector (no data).
func promServer(t *testing.T, values map[string]string) *alerting.Prometheus {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		result := []any{}
		if v, ok := values[r.FormValue("query")]; ok {
			result = append(result, map[string]any{"metric": map[string]string{}, "value": []any{1700000000, v}})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
	}))
	t.Cleanup(srv.Close)
	p, err := alerting.NewPrometheus(alerting.PrometheusOptions{Name: "main", Address: srv.URL})
	require.NoError(t, err)
	return p
}

func TestSLOSourceOf(t *testing.T) {
	minLeft := 0.25
	wire := policies.SLOWire{
		Name: "checkout-availability", Prometheus: "main", ErrorRatio: "slo:sli_error:ratio_rate$window",
		Objective: 0.999, MinBudgetLeft: &minLeft, Period: 30 * 24 * time.Hour,
	}
	calm := map[string]string{
		"slo:sli_error:ratio_rate1h": "0.0001", "slo:sli_error:ratio_rate5m": "0.0002",
		"slo:sli_error:ratio_rate6h": "0.0001", "slo:sli_error:ratio_rate30m": "0.0001",
		"slo:sli_error:ratio_rate30d": "0.0002",
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range calm {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		values  map[string]string
		want    guardian.SLOReading
		wantErr string
	}{
		{
			name:   "calm",
			values: calm,
			want: guardian.SLOReading{
				Detail:     "1h/5m burn 0.10/0.20 (trips over 14.4); 6h/30m burn 0.10/0.10 (trips over 6)",
				GateDetail: "error budget of checkout-availability 80% left",
			},
		},
		{
			name:   "burning, budget low",
			values: with("slo:sli_error:ratio_rate1h", "0.02", "slo:sli_error:ratio_rate5m", "0.016", "slo:sli_error:ratio_rate30d", "0.00088"),
			want: guardian.SLOReading{
				Tripped:     true,
				Detail:      "1h/5m burn 20.0/16.0 over 14.4",
				GateBlocked: true,
				GateDetail:  "error budget of checkout-availability 12% left, below 25%",
			},
		},
		{
			name:    "a burn window without data is an error",
			values:  with("slo:sli_error:ratio_rate5m", ""),
			wantErr: "no data",
		},
		{
			name:    "NaN is an error",
			values:  with("slo:sli_error:ratio_rate6h", "NaN"),
			wantErr: "not a finite number",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := agent.SLOSourceOf(promServer(t, tc.values))
			got, err := src.Burn(context.Background(), wire)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}

	t.Run("unknown budget closes the gate", func(t *testing.T) {
		got, err := agent.SLOSourceOf(promServer(t, with("slo:sli_error:ratio_rate30d", ""))).Burn(context.Background(), wire)
		require.NoError(t, err)
		require.False(t, got.Tripped)
		require.True(t, got.GateBlocked)
		require.Contains(t, got.GateDetail, "error budget of checkout-availability unknown: ")
	})
}

func TestSteadyOf(t *testing.T) {
	p := promServer(t, map[string]string{"up": "1"})
	s := agent.SteadyOf(map[string]*alerting.Prometheus{"main": p})
	v, err := s.Query(context.Background(), "", "up")
	require.NoError(t, err)
	require.Equal(t, 1.0, v)
	_, err = s.Query(context.Background(), "main", "absent")
	require.ErrorIs(t, err, alerting.ErrNoData)
	_, err = s.Query(context.Background(), "other", "up")
	require.ErrorContains(t, err, `prometheus "other" is not configured`)
}

type amServer struct {
	mu     sync.Mutex
	posted []map[string]any
	alerts string // JSON answer of GET /api/v2/alerts
}

func newAMServer(t *testing.T, alerts string) (*amServer, *alerting.Alertmanager) {
	t.Helper()
	f := &amServer{alerts: alerts}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/api/v2/alerts":
			var body []map[string]any
			if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			f.mu.Lock()
			f.posted = append(f.posted, body...)
			f.mu.Unlock()
		case r.Method == http.MethodGet && r.URL.Path == "/api/v2/alerts":
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(f.alerts))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	am, err := alerting.NewAlertmanager(alerting.AlertmanagerOptions{Name: "main", Address: srv.URL})
	require.NoError(t, err)
	return f, am
}

func TestAnnouncerOf(t *testing.T) {
	f, am := newAMServer(t, "[]")
	a := agent.AnnouncerOf(am)
	since := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	anns := []guardian.Announcement{
		{Kind: guardian.AnnounceFault, Policy: "checkout", Target: "docker/local", Member: "checkout-api-1", Fault: "pause", Since: since},
		{Kind: guardian.AnnounceHalted, Reason: "alertmanager main: alert FleetDown firing", Since: since},
	}
	require.NoError(t, a.Announce(context.Background(), anns))
	require.NoError(t, a.Resolve(context.Background(), anns[:1]))
	f.mu.Lock()
	defer f.mu.Unlock()
	require.Len(t, f.posted, 3)
	require.Equal(t, map[string]any{
		"alertname": "ChaosExperimentActive", "policy": "checkout", "target": "docker/local",
		"member": "checkout-api-1", "fault": "pause", "severity": "info", "tumult_announcement": "true",
	}, f.posted[0]["labels"])
	require.Equal(t, "TumultHalted", f.posted[1]["labels"].(map[string]any)["alertname"])
	require.Equal(t, "alertmanager main: alert FleetDown firing", f.posted[1]["annotations"].(map[string]any)["reason"])
	require.Equal(t, f.posted[0]["labels"], f.posted[2]["labels"], "resolved with the same labels")
	require.NotEmpty(t, f.posted[2]["endsAt"])
	require.NotEqual(t, "0001-01-01T00:00:00.000Z", f.posted[2]["endsAt"])
}

func TestAlertSourceOf(t *testing.T) {
	body := `[
	 {"labels":{"alertname":"FleetDown","severity":"page"},"fingerprint":"f1","startsAt":"2026-03-02T10:00:00Z","endsAt":"2026-03-02T11:00:00Z","updatedAt":"2026-03-02T10:00:00Z","annotations":{},"receivers":[{"name":"x"}],"status":{"state":"active","silencedBy":[],"inhibitedBy":[]}},
	 {"labels":{"alertname":"ChaosExperimentActive","severity":"info","tumult_announcement":"true"},"fingerprint":"f2","startsAt":"2026-03-02T10:00:00Z","endsAt":"2026-03-02T11:00:00Z","updatedAt":"2026-03-02T10:00:00Z","annotations":{},"receivers":[{"name":"x"}],"status":{"state":"active","silencedBy":[],"inhibitedBy":[]}}
	]`
	_, am := newAMServer(t, body)
	got, err := agent.AlertSourceOf(am).Alerts(context.Background())
	require.NoError(t, err)
	require.Equal(t, []guardian.Alert{{
		Labels:      map[string]string{"alertname": "FleetDown", "severity": "page"},
		Fingerprint: "f1",
		StartsAt:    time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC),
	}}, got)
}

// nopRestorer restores nothing.
type nopRestorer struct{}

func (nopRestorer) Hold(string) (release func()) { return func() {} }

func (nopRestorer) RestoreAll(context.Context, string, func(ledger.Record) bool) (int, error) {
	return 0, nil
}

func TestGuardOfWebhook(t *testing.T) {
	led := ledgertest.NewMemory(nil)
	ctrl := guardian.NewController(guardian.ControllerOptions{Ledger: led, Restorer: nopRestorer{}})
	m, err := policies.ParseMatcher(`severity="page"`)
	require.NoError(t, err)
	w, err := guardian.NewWatcher(guardian.WatcherOptions{
		Controller: ctrl,
		Config:     config.GuardianConfig{HaltOn: policies.HaltOn{Alerts: []policies.AlertWire{{Alertmanager: "main", Matchers: []policies.Matcher{m}}}}},
	})
	require.NoError(t, err)
	g := agent.GuardOf(w)
	sink, ok := g.(interface {
		IngestWebhook(context.Context, string, alerting.Webhook) error
		SourceStatuses() []api.SourceStatus
	})
	require.True(t, ok)

	st := sink.SourceStatuses()
	require.Len(t, st, 1)
	require.Equal(t, api.SourceStatus{Name: "alertmanager/main", Kind: "alert", Scope: "global", Detail: "not read yet"}, st[0])
	allowed, why := g.Allow(context.Background(), &policies.Policy{Name: "p", Enabled: true})
	require.False(t, allowed)
	require.Contains(t, why, "not read yet")

	wh := alerting.Webhook{Version: "4", Status: "firing", Receiver: "tumult", Alerts: []alerting.WebhookAlert{
		{Status: "firing", Labels: map[string]string{"alertname": "ChaosExperimentActive", "severity": "page", "tumult_announcement": "true"}, Fingerprint: "a"},
	}}
	require.NoError(t, sink.IngestWebhook(context.Background(), "", wh))
	c, err := led.Control(context.Background())
	require.NoError(t, err)
	require.Equal(t, ledger.Armed, c.Global(time.Now()).State, "an announcement never halts")

	wh.Alerts = append(wh.Alerts, alerting.WebhookAlert{Status: "firing", Labels: map[string]string{"alertname": "FleetDown", "severity": "page"}, Fingerprint: "b"})
	require.NoError(t, sink.IngestWebhook(context.Background(), "", wh))
	require.Eventually(t, func() bool {
		c, err := led.Control(context.Background())
		return err == nil && c.State == ledger.Halted && c.Source == "alertmanager/main"
	}, 5*time.Second, time.Millisecond)
}
