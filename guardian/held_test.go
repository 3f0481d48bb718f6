package guardian

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/ledger/ledgertest"
	"github.com/inferensys/tumult/policies"
)

// TestHeldAlertsIndex: webhook alerts are indexed per alert wire when they
// arrive, and the index follows resolutions, expiry and reloads.
func TestHeldAlertsIndex(t *testing.T) {
	clk := clock.NewFake(t0)
	ctrl := NewController(ControllerOptions{Ledger: ledgertest.NewMemory(clk.Now), Restorer: &fakeRestorer{}, Clock: clk})
	w, err := NewWatcher(WatcherOptions{
		Controller: ctrl, Config: config.GuardianConfig{StaleAfter: time.Minute},
		Alertmanagers: map[string]AlertSource{"main": &fakeAlerts{}}, Clock: clk,
	})
	require.NoError(t, err)
	wirePolicy := func(name, matcher string) *policies.Policy {
		m, err := policies.ParseMatcher(matcher)
		require.NoError(t, err)
		return policy(name, policies.HaltOn{Alerts: []policies.AlertWire{{Alertmanager: "main", Matchers: []policies.Matcher{m}}}})
	}
	w.SetPolicies([]*policies.Policy{wirePolicy("pa", `service="a"`), wirePolicy("pab", `service=~"a|b"`)})
	wireOf := func(scope string) *wire {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, wr := range w.wires {
			if wr.scope == scope {
				return wr
			}
		}
		t.Fatalf("no wire of %s", scope)
		return nil
	}
	detail := func(scope string) string {
		for _, st := range w.Status() {
			if st.Scope == scope {
				return st.Detail
			}
		}
		return ""
	}
	held := func(scope string) int {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, wr := range w.wires {
			if wr.scope == scope {
				return len(wr.held.keys)
			}
		}
		return -1
	}
	a := Alert{Labels: map[string]string{"alertname": "A", "service": "a"}, Fingerprint: "fa"}
	b := Alert{Labels: map[string]string{"alertname": "B", "service": "b"}, Fingerprint: "fb"}
	c := Alert{Labels: map[string]string{"alertname": "C", "service": "c"}, Fingerprint: "fc"}
	ctx := context.Background()

	w.Ingest(ctx, Delivery{Alertmanager: "main", Firing: []Alert{a, b, c}})
	require.Equal(t, 1, held("pa"))
	require.Equal(t, 2, held("pab"))
	require.Equal(t, `alertmanager main: alert A firing (webhook) and 1 more, matches service=~"a|b"`, detail("pab"))

	// The same alert from an unnamed sender counts once.
	w.Ingest(ctx, Delivery{Firing: []Alert{a}})
	require.Equal(t, 2, held("pab"))
	require.Len(t, wireOf("pab").held.byWKey, 3)

	w.Ingest(ctx, Delivery{Alertmanager: "main", Resolved: []Alert{b}})
	require.Equal(t, 1, held("pab"))
	require.Equal(t, `alertmanager main: alert A firing (webhook), matches service=~"a|b"`, detail("pab"))

	// A reload keeps the index of an unchanged wire and builds a new one's.
	kept := wireOf("pa").held
	w.SetPolicies([]*policies.Policy{wirePolicy("pa", `service="a"`), wirePolicy("pc", `service="c"`)})
	require.Same(t, kept, wireOf("pa").held)
	require.Equal(t, 1, held("pc"))

	// Not repeated for twice stale_after, they are forgotten.
	clk.Advance(90 * time.Second)
	w.Ingest(ctx, Delivery{Alertmanager: "main", Firing: []Alert{c}})
	clk.Advance(40 * time.Second)
	w.Status() // expires what is due
	require.Equal(t, 0, held("pa"))
	require.Equal(t, 1, held("pc"), "c was repeated")
	w.mu.Lock()
	require.Len(t, w.held.all, 1)
	w.mu.Unlock()
}
