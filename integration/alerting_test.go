//go:build integration

package integration

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/agent"
	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/policies"
)

func alNames(alerts []alerting.Alert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.Name())
	}
	sort.Strings(out)
	return out
}

func alHas(alerts []alerting.Alert, name string) bool {
	for _, a := range alerts {
		if a.Name() == name {
			return true
		}
	}
	return false
}

func alListedNames(alerts []harness.ListedAlert) []string {
	var out []string
	for _, a := range alerts {
		out = append(out, a.Labels["alertname"])
	}
	sort.Strings(out)
	return out
}

func alMatcher(t *testing.T, s string) policies.Matcher {
	t.Helper()
	m, err := policies.ParseMatcher(s)
	require.NoError(t, err)
	return m
}

func TestAlertmanagerSource(t *testing.T) {
	srv := harness.StartAlertmanager(t, harness.AlertmanagerOptions{})
	am, err := alerting.NewAlertmanager(alerting.AlertmanagerOptions{Name: "main", Address: srv.URL(), Ignore: guardian.IsAnnouncement})
	require.NoError(t, err)
	ctx := context.Background()

	t.Run("posted alert is read and matched", func(t *testing.T) {
		srv.PostAlert(map[string]string{"alertname": "HighErrorRate", "service": "checkout", "severity": "critical"}, time.Now(), time.Time{})
		srv.PostAlert(map[string]string{"alertname": "DiskFull", "service": "db", "severity": "warning"}, time.Now(), time.Time{})

		alerts, err := am.Alerts(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"DiskFull", "HighErrorRate"}, alNames(alerts))
		for _, a := range alerts {
			require.NotEmpty(t, a.Fingerprint)
			require.WithinDuration(t, time.Now(), a.StartsAt, time.Minute)
		}

		page := alMatching(alerts, alMatcher(t, `service="checkout"`), alMatcher(t, `severity=~"critical|page"`))
		require.Equal(t, []string{"HighErrorRate"}, alNames(page))
		require.Empty(t, alMatching(alerts, alMatcher(t, `severity=~"crit"`)), "regexps are anchored")
		require.Equal(t, []string{"DiskFull"}, alNames(alMatching(alerts, alMatcher(t, `service!~"check.*"`))))
	})

	t.Run("silenced alert does not count", func(t *testing.T) {
		srv.PostAlert(map[string]string{"alertname": "Silenced", "service": "payments"}, time.Now(), time.Time{})
		alerts, err := am.Alerts(ctx)
		require.NoError(t, err)
		require.True(t, alHas(alerts, "Silenced"))

		srv.Silence(`alertname="Silenced"`, `service=~"pay.*"`)
		require.Eventually(t, func() bool {
			alerts, err := am.Alerts(ctx)
			return err == nil && !alHas(alerts, "Silenced")
		}, 10*time.Second, 50*time.Millisecond)

		// It is still there, silenced: the client filtered it, not luck.
		var silenced bool
		for _, a := range srv.AllAlerts() {
			if a.Labels["alertname"] == "Silenced" {
				silenced = len(a.Status.SilencedBy) > 0
			}
		}
		require.True(t, silenced, "Alertmanager holds the alert as silenced")
	})

	t.Run("announcements do not count", func(t *testing.T) {
		start := time.Now()
		chaos := agent.AnnouncementOf(guardian.Announcement{Kind: guardian.AnnounceFault, Policy: "checkout-crash", Target: "docker", Member: "checkout-api-1", Fault: "kill", Since: start})
		// A halt reason that would match a page matcher must not trip.
		halted := agent.AnnouncementOf(guardian.Announcement{Kind: guardian.AnnounceHalted, Reason: "test", Since: start})
		halted.Labels["service"] = "checkout"
		require.NoError(t, am.Post(ctx, []alerting.Announcement{chaos, halted}))

		names := alListedNames(srv.AllAlerts())
		require.Contains(t, names, "ChaosExperimentActive")
		require.Contains(t, names, "TumultHalted")

		alerts, err := am.Alerts(ctx)
		require.NoError(t, err)
		require.False(t, alHas(alerts, "ChaosExperimentActive"))
		require.False(t, alHas(alerts, "TumultHalted"))

		require.NoError(t, am.Resolve(ctx, []alerting.Announcement{chaos, halted}))
		names = alListedNames(srv.AllAlerts())
		require.NotContains(t, names, "ChaosExperimentActive")
		require.NotContains(t, names, "TumultHalted")
	})

	t.Run("post and resolve", func(t *testing.T) {
		a := alerting.Announcement{
			Labels:      map[string]string{"alertname": "PostedByTumult", "service": "search"},
			Annotations: map[string]string{"summary": "posted through alerting.Post"},
			StartsAt:    time.Now().Add(-time.Minute),
		}
		require.NoError(t, am.Post(ctx, []alerting.Announcement{a}))
		alerts, err := am.Alerts(ctx)
		require.NoError(t, err)
		require.True(t, alHas(alerts, "PostedByTumult"))

		require.NoError(t, am.Resolve(ctx, []alerting.Announcement{a}))
		alerts, err = am.Alerts(ctx)
		require.NoError(t, err)
		require.False(t, alHas(alerts, "PostedByTumult"))
	})

	t.Run("stopped and started again", func(t *testing.T) {
		srv.Stop()
		_, err := am.Alerts(ctx)
		require.ErrorContains(t, err, `alertmanager "main": list alerts`)

		srv.Start()
		alerts, err := am.Alerts(ctx)
		require.NoError(t, err, "same address after a restart")
		require.Empty(t, alerts, "alerts live in memory and are gone after a restart")
		srv.PostAlert(map[string]string{"alertname": "AfterRestart"}, time.Now(), time.Time{})
		alerts, err = am.Alerts(ctx)
		require.NoError(t, err)
		require.Equal(t, []string{"AfterRestart"}, alNames(alerts))
	})
}

func alMatching(alerts []alerting.Alert, ms ...policies.Matcher) []alerting.Alert {
	var out []alerting.Alert
	for _, a := range alerts {
		if policies.MatchesAll(ms, a.Labels) {
			out = append(out, a)
		}
	}
	return out
}

// TestAlertmanagerWebhook checks ParseWebhook against what a real
// Alertmanager delivers.
func TestAlertmanagerWebhook(t *testing.T) {
	type delivery struct {
		hook alerting.Webhook
		err  error
	}
	got := make(chan delivery, 16)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hook, err := alerting.ParseWebhook(r.Body, 0)
		select {
		case got <- delivery{hook, err}:
		default:
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(receiver.Close)

	cfg := harness.WebhookConfig(receiver.URL+"/v1/alertmanager", "[alertname]", "")
	srv := harness.StartAlertmanager(t, harness.AlertmanagerOptions{Config: cfg})
	am, err := alerting.NewAlertmanager(alerting.AlertmanagerOptions{Name: "main", Address: srv.URL(), Ignore: guardian.IsAnnouncement})
	require.NoError(t, err)

	next := func(status string) alerting.Webhook {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			select {
			case d := <-got:
				require.NoError(t, d.err)
				if d.hook.Status == status {
					return d.hook
				}
			case <-deadline:
				t.Fatalf("no %s webhook within 20s", status)
			}
		}
	}

	labels := map[string]string{"alertname": "WebhookTest", "service": "checkout", "severity": "page"}
	srv.PostAlert(labels, time.Now(), time.Time{})
	firing := next(alerting.StatusFiring)
	require.Equal(t, alerting.WebhookVersion, firing.Version)
	require.Equal(t, "tumult", firing.Receiver)
	require.Equal(t, map[string]string{"alertname": "WebhookTest"}, firing.GroupLabels)
	require.Len(t, firing.Firing(), 1)
	require.Equal(t, labels, firing.Firing()[0].Labels)

	// The webhook and the API name the alert by the same fingerprint, so a
	// guardian can clear what either path told it.
	polled, err := am.Alerts(context.Background())
	require.NoError(t, err)
	require.Len(t, polled, 1)
	require.Equal(t, polled[0].Fingerprint, firing.Firing()[0].Fingerprint)

	srv.PostAlert(labels, time.Now().Add(-time.Minute), time.Now())
	resolved := next(alerting.StatusResolved)
	require.Empty(t, resolved.Firing())
	require.Len(t, resolved.Resolved(), 1)
	require.Equal(t, polled[0].Fingerprint, resolved.Resolved()[0].Fingerprint)
}

// alSeries is a /metrics endpoint whose gauges a test changes at will.
type alSeries struct {
	mu     sync.Mutex
	values map[string]string // full series name with labels -> value
}

func (s *alSeries) set(kv ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(s.values, kv[i])
			continue
		}
		s.values[kv[i]] = kv[i+1]
	}
}

func (s *alSeries) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.values))
	for n := range s.values {
		names = append(names, n)
	}
	sort.Strings(names) // a metric's samples must be adjacent
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	for _, n := range names {
		fmt.Fprintf(w, "%s %s\n", n, s.values[n])
	}
}

func alRatioSeries(window, id string) string {
	return fmt.Sprintf(`slo:sli_error:ratio_rate%s{sloth_id=%q}`, window, id)
}

func TestPrometheusSource(t *testing.T) {
	metrics := &alSeries{values: map[string]string{}}
	calm := []string{
		alRatioSeries("5m", "checkout"), "0.0001",
		alRatioSeries("30m", "checkout"), "0.0001",
		alRatioSeries("1h", "checkout"), "0.0001",
		alRatioSeries("6h", "checkout"), "0.0001",
		alRatioSeries("30d", "checkout"), "0.0005",
		alRatioSeries("5m", "other"), "0.0001",
		alRatioSeries("5m", "idle"), "NaN",
		"tumult_test_value", "21",
	}
	metrics.set(calm...)
	target := httptest.NewServer(metrics)
	t.Cleanup(target.Close)
	u, err := url.Parse(target.URL)
	require.NoError(t, err)

	srv := harness.StartPrometheus(t, harness.PrometheusOptions{
		ScrapeTargets: []string{u.Host},
		RuleFiles: map[string]string{"test.yml": `groups:
  - name: test
    rules:
      - record: tumult_test:doubled
        expr: 2 * tumult_test_value
`},
	})
	prom, err := alerting.NewPrometheus(alerting.PrometheusOptions{Name: "main", Address: srv.URL()})
	require.NoError(t, err)
	ctx := context.Background()

	// Wait for the first scrape and the first rule evaluation.
	require.Eventually(t, func() bool {
		v, err := prom.Query(ctx, "tumult_test:doubled", time.Time{})
		return err == nil && v == 42
	}, 30*time.Second, 100*time.Millisecond, "recording rule over the scraped series")

	minBudget := 0.25
	wire := policies.SLOWire{
		Name:          "checkout-availability",
		Prometheus:    "main",
		ErrorRatio:    `slo:sli_error:ratio_rate$window{sloth_id="checkout"}`,
		Objective:     0.999,
		MinBudgetLeft: &minBudget,
		Period:        30 * 24 * time.Hour,
	}

	t.Run("calm", func(t *testing.T) {
		st, err := prom.BurnRates(ctx, wire, time.Time{})
		require.NoError(t, err)
		rd := agent.JudgeSLO(wire, st)
		require.False(t, rd.Tripped)
		require.Len(t, st.Pairs, 2)
		for _, p := range st.Pairs {
			require.InDelta(t, 0.1, p.LongBurn, 1e-6)
			require.InDelta(t, 0.1, p.ShortBurn, 1e-6)
		}
		require.NotNil(t, st.BudgetLeft)
		require.InDelta(t, 0.5, *st.BudgetLeft, 1e-6)
		require.False(t, rd.GateBlocked)
	})

	t.Run("fast burn in both windows trips", func(t *testing.T) {
		metrics.set(alRatioSeries("1h", "checkout"), "0.02", alRatioSeries("5m", "checkout"), "0.02")
		t.Cleanup(func() { metrics.set(calm...) })
		var st alerting.SLOStatus
		require.Eventually(t, func() bool {
			var err error
			st, err = prom.BurnRates(ctx, wire, time.Time{})
			return err == nil && agent.JudgeSLO(wire, st).Tripped
		}, 15*time.Second, 100*time.Millisecond)
		require.True(t, guardian.BurnPairTrips(st.Pairs[0].Pair, st.Pairs[0].LongBurn, st.Pairs[0].ShortBurn))
		require.False(t, guardian.BurnPairTrips(st.Pairs[1].Pair, st.Pairs[1].LongBurn, st.Pairs[1].ShortBurn))
		require.InDelta(t, 20, st.Pairs[0].LongBurn, 1e-6)
	})

	t.Run("only the long window burning does not trip", func(t *testing.T) {
		metrics.set(alRatioSeries("1h", "checkout"), "0.02", alRatioSeries("6h", "checkout"), "0.02")
		t.Cleanup(func() { metrics.set(calm...) })
		require.Eventually(t, func() bool {
			st, err := prom.BurnRates(ctx, wire, time.Time{})
			return err == nil && st.Pairs[0].LongBurn > 19 && st.Pairs[1].LongBurn > 19
		}, 15*time.Second, 100*time.Millisecond)
		st, err := prom.BurnRates(ctx, wire, time.Time{})
		require.NoError(t, err)
		require.False(t, agent.JudgeSLO(wire, st).Tripped)
	})

	t.Run("budget gate", func(t *testing.T) {
		metrics.set(alRatioSeries("30d", "checkout"), "0.0009")
		t.Cleanup(func() { metrics.set(calm...) })
		require.Eventually(t, func() bool {
			b, err := prom.BudgetLeft(ctx, wire, time.Time{})
			return err == nil && guardian.BudgetGateBlocks(b.Min, &b.Left, nil)
		}, 15*time.Second, 100*time.Millisecond)
		b, err := prom.BudgetLeft(ctx, wire, time.Time{})
		require.NoError(t, err)
		require.InDelta(t, 0.1, b.Left, 1e-6)
	})

	t.Run("a vanished window is an error, not calm", func(t *testing.T) {
		metrics.set(alRatioSeries("30m", "checkout"), "")
		t.Cleanup(func() { metrics.set(calm...) })
		require.Eventually(t, func() bool {
			_, err := prom.BurnRates(ctx, wire, time.Time{})
			return err != nil
		}, 15*time.Second, 100*time.Millisecond)
		_, err := prom.BurnRates(ctx, wire, time.Time{})
		require.ErrorIs(t, err, alerting.ErrNoData)
		require.ErrorContains(t, err, `prometheus "main": query `+alRatioSeries("30m", "checkout")+`: no data`)
	})

	t.Run("bad answers", func(t *testing.T) {
		tests := []struct {
			query string
			want  error
			text  string
		}{
			{query: alRatioSeries("5m", "idle"), want: alerting.ErrNaN},
			{query: alRatioSeries("5m", "missing"), want: alerting.ErrNoData},
			{query: `slo:sli_error:ratio_rate5m`, want: alerting.ErrMultipleSeries},
			{query: `tumult_test_value[1m]`, want: alerting.ErrUnexpectedType},
			{query: `sum(`, text: "bad_data"},
		}
		for _, tc := range tests {
			_, err := prom.Query(ctx, tc.query, time.Time{})
			require.Error(t, err, tc.query)
			require.True(t, strings.HasPrefix(err.Error(), `prometheus "main": query `+tc.query+": "), err.Error())
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want, tc.query)
			}
			if tc.text != "" {
				require.ErrorContains(t, err, tc.text)
			}
		}
	})

	t.Run("stopped", func(t *testing.T) {
		srv.Stop()
		_, err := prom.BurnRates(ctx, wire, time.Time{})
		require.ErrorContains(t, err, `prometheus "main"`)
	})
}
