//go:build integration

package integration

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/console"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/scheduler"
	"github.com/inferensys/tumult/targets"
)

// TestConsoleRendersEveryPart shows the page, in real Chromium, a state
// with every part filled in — a pause with an expiry, a fault, a tripped
// and a broken source, endpoints up and down, a freeze on the timeline, a
// failed experiment — served by a stand-in for the agent's /v1 answers,
// and checks that each part says what the answer said, on a desktop and
// on a phone.
func TestConsoleRendersEveryPart(t *testing.T) {
	now := time.Now().UTC()
	status := api.Status{
		State: ledger.Paused, Actor: "ana", Source: "api", Reason: "deploy of checkout 1.4",
		Since: now.Add(-5 * time.Minute), Until: now.Add(55 * time.Minute), Leader: true, Replica: "tumult-1",
		Policies: []api.PolicyStatus{
			{Name: "checkout-crash", Enabled: true, Target: "docker/local", Fault: "kill", WindowOpen: true,
				Closes: now.Add(3 * time.Hour), State: ledger.Paused, StateActor: "ana", StateReason: "deploy of checkout 1.4",
				Active: 1, Today: 3, Last: "injected kill into checkout-api-2", LastAt: now.Add(-time.Minute)},
			{Name: "search-restart", Enabled: false, Target: "nomad/prod", Fault: "restart", State: ledger.Armed,
				NextOpen: now.Add(5 * time.Hour), Frozen: "holiday change freeze"},
		},
		Sources: []api.SourceStatus{
			{Name: "alertmanager/main", Kind: "alert", Scope: "global", Up: true, LastRead: now.Add(-2 * time.Second)},
			{Name: "checkout-availability", Kind: "slo", Scope: "checkout-crash", Up: true, Tripped: true,
				LastRead: now.Add(-time.Second), Detail: "burn 1h 15.2x and 5m 20.1x over 14.4"},
			{Name: "prometheus/main", Kind: "steady_state", Scope: "checkout-crash", Up: false,
				LastRead: now.Add(-40 * time.Second), Error: "query: connection refused"},
		},
		Faults: []ledger.Record{{
			ID: "20261130-001500-0000aaaa", Policy: "checkout-crash", Actor: "scheduler",
			Member: targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: "0123456789abcdef", Name: "checkout-api-2"},
			Fault:  policies.FaultSpec{Kind: policies.FaultKill, Signal: "SIGKILL"},
			Phase:  ledger.Injected, Decided: now.Add(-30 * time.Second), Injected: now.Add(-30 * time.Second), RestoreBy: now.Add(90 * time.Second),
		}},
	}
	// Endpoint reachability as the agent reports it, added to the JSON so
	// that the page is checked against the shape it will read.
	raw, err := json.Marshal(status)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(raw, &body))
	body["endpoints"] = []map[string]any{
		{"name": "docker/local", "driver": "docker", "endpoint": "local", "state": "up", "checked": now.Add(-3 * time.Second), "policies": []string{"checkout-crash"}},
		{"name": "nomad/prod", "driver": "nomad", "endpoint": "prod", "state": "down", "checked": now.Add(-4 * time.Second),
			"since": now.Add(-10 * time.Minute), "error": "dial tcp 10.0.0.9:4646: connect: connection refused"},
	}
	history := []ledger.Record{{
		ID: "20261130-000100-0000bbbb", Policy: "checkout-crash", Actor: "ana", ActorReason: "game day",
		Member: targets.Member{Name: "checkout-api-1"}, Fault: policies.FaultSpec{Kind: policies.FaultKill},
		Phase: ledger.Finished, Result: ledger.Failed, Reason: "not recovered within 3m: steady state 0.2 not in [-inf, 0.01]",
		Injected: now.Add(-20 * time.Minute), Finished: now.Add(-15 * time.Minute),
	}}
	plan := scheduler.Plan{From: now, To: now.Add(24 * time.Hour), Policies: []scheduler.PolicyPlan{
		{Name: "checkout-crash", Enabled: true, Windows: []policies.Interval{{Start: now.Add(-time.Hour), End: now.Add(3 * time.Hour)}, {Start: now.Add(21 * time.Hour), End: now.Add(24 * time.Hour)}},
			Open: []policies.Interval{{Start: now, End: now.Add(3 * time.Hour)}, {Start: now.Add(21 * time.Hour), End: now.Add(24 * time.Hour)}}, Freezes: []scheduler.PlannedFreeze{}},
		{Name: "search-restart", Windows: []policies.Interval{{Start: now.Add(5 * time.Hour), End: now.Add(13 * time.Hour)}},
			Freezes: []scheduler.PlannedFreeze{{Interval: policies.Interval{Start: now, End: now.Add(24 * time.Hour)}, Reason: "holiday change freeze"}},
			Open:    []policies.Interval{}},
	}}

	mux := http.NewServeMux()
	page := console.Handler()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET "+console.Prefix, page)
	answer := func(v any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	mux.HandleFunc("GET /v1/status", answer(body))
	mux.HandleFunc("GET /v1/history", answer(history))
	mux.HandleFunc("GET /v1/plan", answer(plan))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	b := harness.StartBrowser(t, harness.BrowserOptions{})
	b.Do(30*time.Second, "open the console", chromedp.Navigate(srv.URL+"/"))
	csWaitText(t, b, 10*time.Second, "#state", "PAUSED")
	detail := b.Text(5*time.Second, "#state-detail")
	require.Contains(t, detail, "by ana")
	require.Contains(t, detail, "“deploy of checkout 1.4”")
	require.Regexp(t, `until .* \(in 5[45]m\d\ds\)`, detail)

	fault := b.Text(5*time.Second, `#faults tbody tr[data-member="checkout-api-2"]`)
	require.Contains(t, fault, "kill")
	require.Regexp(t, `1m[23]\ds`, fault, "time left of a fault due in 90s")
	require.Equal(t, "(1)", b.Text(5*time.Second, "#faults-count"))

	require.Contains(t, b.Text(5*time.Second, `#sources [data-source="checkout-availability"]`), "tripped")
	broken := b.Text(5*time.Second, `#sources [data-source="prometheus/main"]`)
	require.Contains(t, broken, "down")
	require.Contains(t, broken, "query: connection refused")

	require.True(t, harness.Eval[bool](b, 5*time.Second, `!document.getElementById("endpoints-section").hidden`))
	down := b.Text(5*time.Second, `#endpoints [data-endpoint="nomad/prod"]`)
	require.Contains(t, down, "down")
	require.Contains(t, down, "connection refused")
	require.Contains(t, b.Text(5*time.Second, `#endpoints [data-endpoint="docker/local"]`), "up")

	checkout := b.Text(5*time.Second, `#policies [data-policy="checkout-crash"]`)
	require.Contains(t, checkout, "window open")
	require.Contains(t, checkout, "closes in 2h59m")
	search := b.Text(5*time.Second, `#policies [data-policy="search-restart"]`)
	require.Contains(t, search, "frozen")
	require.Contains(t, search, "disabled")
	require.Equal(t, 2, harness.Eval[int](b, 5*time.Second, `document.querySelectorAll('[data-policy="checkout-crash"] svg.timeline rect.open').length`))
	require.Equal(t, 1, harness.Eval[int](b, 5*time.Second, `document.querySelectorAll('[data-policy="search-restart"] svg.timeline rect.freeze').length`))

	hist := b.Text(5*time.Second, `#history tbody tr[data-result="failed"]`)
	require.Contains(t, hist, "not recovered within 3m")
	require.Contains(t, hist, "asked: game day")
	b.Screenshot("desktop")

	b.Do(10*time.Second, "phone-sized viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	csWaitText(t, b, 5*time.Second, "#state", "PAUSED")
	// Nothing but the tables' own scroll boxes is wider than the phone.
	wide := harness.Eval[int](b, 5*time.Second, `document.documentElement.scrollWidth`)
	require.LessOrEqual(t, wide, 390, "the page fits a phone's width")
	b.Screenshot("phone")
	require.Empty(t, b.ScriptErrors())
	require.False(t, strings.Contains(strings.Join(b.Errors(), "\n"), "Content Security Policy"), "no CSP violation: %q", b.Errors())
}
