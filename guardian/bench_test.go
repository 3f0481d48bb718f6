package guardian

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
)

// signalHalter reports when Halt is called and answers a halted state.
type signalHalter struct {
	called  chan time.Time
	version uint64
}

func (s *signalHalter) Halt(_ context.Context, ch Change) (ledger.Control, error) {
	s.called <- time.Now()
	s.version++
	return ledger.Control{State: ledger.Halted, Actor: ch.Actor, Source: ch.Source, Version: s.version}, nil
}

func (s *signalHalter) Resume(context.Context, Change) (ledger.Control, error) {
	return ledger.Control{}, nil
}

// BenchmarkIngestToHalt measures the webhook fast path inside tumult: from
// Ingest of a matching alert to the Controller's Halt being called, with
// 20 alert wires to evaluate. The target for the whole path is 50 ms.
func BenchmarkIngestToHalt(b *testing.B) {
	sh := &signalHalter{called: make(chan time.Time, 1)}
	cfg := config.GuardianConfig{StaleAfter: time.Hour}
	var ps []*policies.Policy
	for i := range 20 {
		m, err := policies.ParseMatcher(`service=~"svc-` + string(rune('a'+i)) + `|x"`)
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, policy("p"+string(rune('a'+i)), policies.HaltOn{Alerts: []policies.AlertWire{{Alertmanager: "main", Matchers: []policies.Matcher{m}}}}))
	}
	w, err := NewWatcher(WatcherOptions{Controller: sh, Config: cfg, Alertmanagers: map[string]AlertSource{"main": &fakeAlerts{}}, Clock: clock.Real{}})
	if err != nil {
		b.Fatal(err)
	}
	w.SetPolicies(ps)
	firing := []Alert{{Labels: map[string]string{"alertname": "Down", "service": "svc-t"}, Fingerprint: "f"}}
	ctx := context.Background()
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		w.Ingest(ctx, Delivery{Firing: firing, Receiver: "tumult"})
		lat = append(lat, (<-sh.called).Sub(start))
		for {
			w.mu.Lock()
			busy := w.halting["pt"]
			w.mu.Unlock()
			if !busy {
				break
			}
		}
		w.Ingest(ctx, Delivery{Resolved: firing, Receiver: "tumult"})
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkDetectionWithHeldAlerts measures, with 0, 10,000 and 100,000
// webhook alerts held (one Alertmanager delivery of alerts no wire
// matches, as in an alert storm elsewhere), the time from Ingest of one
// matching alert to the Controller's Halt, with 20 alert wires. The goal
// is that it does not grow with the alerts held and stays under 5 ms.
func BenchmarkDetectionWithHeldAlerts(b *testing.B) {
	for _, held := range []int{0, 10_000, 100_000} {
		b.Run(fmt.Sprintf("held=%d", held), func(b *testing.B) {
			sh := &signalHalter{called: make(chan time.Time, 1)}
			cfg := config.GuardianConfig{StaleAfter: time.Hour}
			var ps []*policies.Policy
			for i := range 20 {
				m, err := policies.ParseMatcher(`service=~"svc-` + string(rune('a'+i)) + `|x"`)
				if err != nil {
					b.Fatal(err)
				}
				ps = append(ps, policy("p"+string(rune('a'+i)), policies.HaltOn{Alerts: []policies.AlertWire{{Alertmanager: "main", Matchers: []policies.Matcher{m}}}}))
			}
			w, err := NewWatcher(WatcherOptions{Controller: sh, Config: cfg, Alertmanagers: map[string]AlertSource{"main": &fakeAlerts{}}, Clock: clock.Real{}})
			if err != nil {
				b.Fatal(err)
			}
			w.SetPolicies(ps)
			storm := make([]Alert, held)
			for i := range storm {
				storm[i] = Alert{Labels: map[string]string{"alertname": "Noise", "service": fmt.Sprintf("other-%06d", i), "severity": "warning"}}
			}
			ctx := context.Background()
			w.Ingest(ctx, Delivery{Alertmanager: "main", Firing: storm, Receiver: "tumult"})
			firing := []Alert{{Labels: map[string]string{"alertname": "Down", "service": "svc-t"}, Fingerprint: "f"}}
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				w.Ingest(ctx, Delivery{Alertmanager: "main", Firing: firing, Receiver: "tumult"})
				lat = append(lat, (<-sh.called).Sub(start))
				for {
					w.mu.Lock()
					busy := w.halting["pt"]
					w.mu.Unlock()
					if !busy {
						break
					}
				}
				w.Ingest(ctx, Delivery{Alertmanager: "main", Resolved: firing, Receiver: "tumult"})
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(5000, "goal-µs")
			if got := len(w.held.all); got != held {
				b.Fatalf("%d alerts held, want %d", got, held)
			}
		})
	}
}
