package agent

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/scheduler"
)

// metrics are the tumult_* metrics that the README's Metrics section
// lists; their names and labels are a contract with dashboards and alerts.
type metrics struct {
	injected       *prometheus.CounterVec
	restoreSeconds prometheus.Histogram
	experiments    *prometheus.CounterVec
	halts          *prometheus.CounterVec
	haltSeconds    prometheus.Histogram
	sourceUp       *prometheus.GaugeVec
	tripped        *prometheus.GaugeVec
	loaded         prometheus.Gauge
	reloadOK       prometheus.Gauge
}

// restoreBuckets cover a restore of one member (tens of ms) to a slow
// recovery (minutes).
var restoreBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

func newMetrics(reg prometheus.Registerer, live *liveCollector) *metrics {
	m := &metrics{
		injected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tumult_faults_injected_total",
			Help: "Faults injected, by policy, fault kind and driver (dry runs included)."}, []string{"policy", "kind", "driver"}),
		restoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tumult_fault_restore_seconds",
			Help: "How long restoring one member took.", Buckets: restoreBuckets}),
		experiments: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tumult_experiments_total",
			Help: "Decisions by policy and result: passed, failed, restored, error, skipped."}, []string{"policy", "result"}),
		halts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tumult_halts_total",
			Help: "Halts by source: a guardian source, cli or api."}, []string{"source"}),
		haltSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tumult_halt_restore_seconds",
			Help: "From a halt to every disrupted member restored.", Buckets: restoreBuckets}),
		sourceUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tumult_guardian_source_up",
			Help: "1 when the guardian source was read successfully last time."}, []string{"source"}),
		tripped: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tumult_guardian_tripped",
			Help: "1 while the guardian source is tripped."}, []string{"source"}),
		loaded: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tumult_policies_loaded",
			Help: "Policies loaded and scheduled."}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tumult_config_last_reload_successful",
			Help: "1 when the last policy (re)load succeeded; 0 when it kept the previous set."}),
	}
	reg.MustRegister(m.injected, m.restoreSeconds, m.experiments, m.halts, m.haltSeconds, m.sourceUp, m.tripped, m.loaded, m.reloadOK, live)
	return m
}

// Observe implements scheduler.Observer.
func (m *metrics) Observe(e scheduler.Event) {
	switch e.Kind {
	case scheduler.EventInjected:
		m.injected.WithLabelValues(e.Record.Policy, string(e.Record.Fault.Kind), string(e.Record.Member.Driver)).Inc()
	case scheduler.EventRestored:
		m.restoreSeconds.Observe(e.Took.Seconds())
	case scheduler.EventFinished, scheduler.EventSkipped:
		m.experiments.WithLabelValues(e.Record.Policy, string(e.Record.Result)).Inc()
	}
}

func (m *metrics) halted(source string, took time.Duration) {
	m.halts.WithLabelValues(source).Inc()
	m.haltSeconds.Observe(took.Seconds())
}

// liveCollector reads state that lives in the ledger and the policies at
// scrape time: faults_active, state and window_open.
type liveCollector struct {
	ledger   ledger.Ledger
	policies func() []*policies.Policy
	now      func() time.Time

	active *prometheus.Desc
	state  *prometheus.Desc
	window *prometheus.Desc
}

func newLiveCollector(l ledger.Ledger, ps func() []*policies.Policy, now func() time.Time) *liveCollector {
	return &liveCollector{
		ledger: l, policies: ps, now: now,
		active: prometheus.NewDesc("tumult_faults_active", "Faults active now, by policy.", []string{"policy"}, nil),
		state:  prometheus.NewDesc("tumult_state", "1 for the current global control state.", []string{"state"}, nil),
		window: prometheus.NewDesc("tumult_window_open", "1 while the policy may inject (window open, no freeze).", []string{"policy"}, nil),
	}
}

func (c *liveCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.active
	ch <- c.state
	ch <- c.window
}

func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := c.now()
	counts := map[string]int{}
	ps := c.policies()
	for _, p := range ps {
		counts[p.Name] = 0
		open := 0.0
		if p.Enabled && p.OpenAt(now) {
			open = 1
		}
		ch <- prometheus.MustNewConstMetric(c.window, prometheus.GaugeValue, open, p.Name)
	}
	if active, err := c.ledger.Active(ctx); err == nil {
		for _, r := range active {
			counts[r.Policy]++
		}
	}
	for name, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.active, prometheus.GaugeValue, float64(n), name)
	}
	if ctrl, err := c.ledger.Control(ctx); err == nil {
		cur := ctrl.Global(now).State
		for _, s := range []ledger.State{ledger.Armed, ledger.Paused, ledger.Halted} {
			v := 0.0
			if s == cur {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, string(s))
		}
	}
}
