package guardian

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
)

func TestAlertWires(t *testing.T) {
	checkout := func(t *testing.T) *policies.Policy {
		return policy("checkout", alertWire(t, `service="checkout"`, `severity=~"critical|page"`))
	}
	payments := func(t *testing.T) *policies.Policy {
		return policy("payments", alertWire(t, `service="payments"`))
	}
	tests := []struct {
		name   string
		global []string // matchers of a global alert wire; nil for none
		alerts []Alert
		// want: "" nothing trips; "global"; or the one policy halted.
		want       string
		wantReason string
	}{
		{
			name:       "global wire halts everything",
			global:     []string{`alertname="FleetDown"`},
			alerts:     []Alert{alert("alertname", "FleetDown", "severity", "page")},
			want:       "global",
			wantReason: "alertmanager main: alert FleetDown firing, matches alertname=\"FleetDown\"",
		},
		{
			name:       "policy wire halts only its policy",
			alerts:     []Alert{alert("alertname", "HighErrors", "service", "checkout", "severity", "page")},
			want:       "checkout",
			wantReason: "alertmanager main: alert HighErrors firing",
		},
		{
			name:   "regexp must match the whole value",
			alerts: []Alert{alert("alertname", "HighErrors", "service", "checkout", "severity", "pager")},
		},
		{
			name:   "other labels do not match",
			global: []string{`alertname="FleetDown"`},
			alerts: []Alert{alert("alertname", "HighErrors", "service", "search", "severity", "page")},
		},
		{
			name:   "tumult's own announcements never trip",
			global: []string{`severity="info"`},
			alerts: []Alert{alert("alertname", "ChaosExperimentActive", "severity", "info", "policy", "checkout", LabelAnnouncement, "true")},
		},
		{
			name:   "no alerts",
			global: []string{`alertname="FleetDown"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := setup{policies: []*policies.Policy{checkout(t), payments(t)}, alerts: tc.alerts}
			if tc.global != nil {
				s.cfg.HaltOn = alertWire(t, tc.global...)
			}
			h := newHarness(t, s)
			switch tc.want {
			case "":
				for _, st := range h.w.Status() {
					require.False(t, st.Tripped, "%+v", st)
					require.True(t, st.Up, "%+v", st)
				}
				ok, why := h.allow(checkout(t))
				require.True(t, ok, why)
				require.Empty(t, h.halts())
				require.Equal(t, ledger.Armed, h.control().Global(h.clk.Now()).State)
			case "global":
				h.waitHalts(1)
				c := h.waitGlobal(ledger.Halted)
				require.Equal(t, ActorGuardian, c.Actor)
				require.Equal(t, "alertmanager/main", c.Source)
				require.Contains(t, c.Reason, tc.wantReason)
				calls := h.restorer.all()
				require.Len(t, calls, 1)
				require.Equal(t, probePolicies, calls[0].policies, "a global halt restores every policy's faults")
				require.True(t, h.status("alertmanager/main", ScopeGlobal).Tripped)
				ok, why := h.allow(payments(t))
				require.False(t, ok)
				require.Contains(t, why, "FleetDown")
			default:
				pc := h.waitPolicy(tc.want, ledger.Halted)
				require.Equal(t, ActorGuardian, pc.Actor)
				require.Equal(t, "alertmanager/main", pc.Source)
				require.Contains(t, pc.Reason, tc.wantReason)
				c := h.control()
				require.Equal(t, ledger.Armed, c.Global(h.clk.Now()).State)
				require.NotContains(t, c.Policies, "payments")
				h.waitHalts(1)
				calls := h.restorer.all()
				require.Len(t, calls, 1)
				require.Equal(t, []string{tc.want}, calls[0].policies, "a policy halt restores only that policy's faults")
				ok, _ := h.allow(payments(t))
				require.True(t, ok, "another policy's wire does not hold payments back")
				ok, why := h.allow(checkout(t))
				require.False(t, ok)
				require.Contains(t, why, "HighErrors")
			}
			// Staying tripped does not halt again.
			n := len(h.halts())
			h.advance(time.Second)
			h.advance(time.Second)
			require.Len(t, h.halts(), n)
		})
	}
}

func TestReadErrorFailsClosed(t *testing.T) {
	cfg := config.GuardianConfig{HaltOn: alertWire(t, `severity="page"`), StaleAfter: 15 * time.Second}
	h := newHarness(t, setup{cfg: cfg})
	ok, why := h.allow(nil)
	require.True(t, ok, why)

	h.am.set(errDown)
	h.advance(time.Second)
	ok, why = h.allow(nil)
	require.False(t, ok, "a failed read refuses new faults at once")
	require.Equal(t, "alertmanager main: last read failed: "+errDown.Error(), why)
	st := h.status("alertmanager/main", ScopeGlobal)
	require.False(t, st.Up)
	require.False(t, st.Tripped)
	require.Equal(t, errDown.Error(), st.LastError)
	require.Equal(t, t0, st.LastRead)
	up, _ := h.reports.get("alertmanager/main")
	require.Equal(t, [2]bool{false, false}, up)

	h.advance(13 * time.Second) // 14s since the last good read
	require.Empty(t, h.halts(), "a read error alone does not halt before stale_after")
	require.Equal(t, ledger.Armed, h.control().State)

	h.advance(time.Second) // 15s
	c := h.waitGlobal(ledger.Halted)
	require.Equal(t, "alertmanager/main", c.Source)
	require.Equal(t, "alertmanager main unreadable for 15s: "+errDown.Error(), c.Reason)
	require.True(t, h.status("alertmanager/main", ScopeGlobal).Tripped)
	got, _ := h.reports.get("alertmanager/main")
	require.Equal(t, [2]bool{false, true}, got)

	// Readable again: the wire clears, manual mode stays halted.
	h.am.set(nil)
	h.advance(time.Second)
	ok, why = h.allow(nil)
	require.True(t, ok, why)
	st = h.status("alertmanager/main", ScopeGlobal)
	require.True(t, st.Up)
	require.False(t, st.Tripped)
	require.Empty(t, st.LastError)
	got, _ = h.reports.get("alertmanager/main")
	require.Equal(t, [2]bool{true, false}, got)
	h.advance(time.Hour)
	require.Equal(t, ledger.Halted, h.control().State, "resume = manual never resumes")
	require.Empty(t, h.resumes())
}

func TestNeverReadFailsClosed(t *testing.T) {
	tests := []struct {
		name    string
		s       func(t *testing.T) setup
		source  string
		wantWhy string
	}{
		{
			name: "alertmanager down from the start",
			s: func(t *testing.T) setup {
				return setup{cfg: config.GuardianConfig{HaltOn: alertWire(t)}, amErr: errDown}
			},
			source:  "alertmanager/main",
			wantWhy: "alertmanager main not read yet: " + errDown.Error(),
		},
		{
			name: "alertmanager not configured",
			s: func(t *testing.T) setup {
				return setup{cfg: config.GuardianConfig{HaltOn: policies.HaltOn{Alerts: []policies.AlertWire{{Alertmanager: "other"}}}}}
			},
			source:  "alertmanager/other",
			wantWhy: `alertmanager other not read yet: alertmanager "other" is not configured`,
		},
		{
			name: "consul wire without a consul block",
			s: func(t *testing.T) setup {
				return setup{noConsul: true, cfg: config.GuardianConfig{HaltOn: policies.HaltOn{ConsulServices: []policies.ConsulServiceWire{{Service: "checkout"}}}}}
			},
			source:  "consul/checkout",
			wantWhy: `consul service checkout not read yet: consul service "checkout": no consul block in the agent config`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.s(t))
			ok, why := h.allow(nil)
			require.False(t, ok)
			require.Equal(t, tc.wantWhy, why)
			st := h.status(tc.source, ScopeGlobal)
			require.False(t, st.Up)
			require.True(t, st.LastRead.IsZero())
			require.NotEmpty(t, st.LastError)

			h.advance(14 * time.Second)
			require.Empty(t, h.halts())
			h.advance(time.Second)
			c := h.waitGlobal(ledger.Halted)
			require.Equal(t, tc.source, c.Source)
			require.Contains(t, c.Reason, "unreadable for 15s: ")
		})
	}
}

func TestAutoResume(t *testing.T) {
	const clearFor = 10 * time.Minute
	page := alert("alertname", "FleetDown", "severity", "page")
	tests := []struct {
		name   string
		resume string
		// human halts by hand instead of the alert tripping.
		human bool
		// policyWire puts the wire in policy checkout instead of global.
		policyWire bool
		wantResume bool
	}{
		{name: "auto resumes after clear_for", resume: config.ResumeAuto, wantResume: true},
		{name: "auto resumes a policy halt", resume: config.ResumeAuto, policyWire: true, wantResume: true},
		{name: "manual never resumes", resume: config.ResumeManual},
		{name: "a person's halt is never auto resumed", resume: config.ResumeAuto, human: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := setup{cfg: config.GuardianConfig{Resume: tc.resume, ClearFor: clearFor}}
			wire := alertWire(t, `severity="page"`)
			if tc.policyWire {
				s.policies = []*policies.Policy{policy("checkout", wire)}
			} else {
				s.cfg.HaltOn = wire
			}
			if !tc.human {
				s.alerts = []Alert{page}
			}
			h := newHarness(t, s)
			state := func() ledger.State {
				if tc.policyWire {
					return h.control().Policies["checkout"].State
				}
				return h.control().Global(h.clk.Now()).State
			}
			if tc.human {
				_, err := h.ctrl.Halt(context.Background(), Change{Actor: "alice", Source: "api", Reason: "database migration"})
				require.NoError(t, err)
			} else {
				require.Eventually(t, func() bool { return state() == ledger.Halted }, waitLimit, time.Millisecond)
				h.waitHalts(1)
			}
			h.am.set(nil)          // the alert resolves
			h.advance(time.Second) // first clear read: the clear stretch starts
			scope := ScopeGlobal
			if tc.policyWire {
				scope = "checkout"
			}
			require.False(t, h.status("alertmanager/main", scope).Tripped)

			h.advance(clearFor - time.Second) // clear for clear_for minus a second
			require.Equal(t, ledger.Halted, state(), "not before clear_for")
			require.Empty(t, h.resumes())

			h.advance(time.Second)
			if !tc.wantResume {
				h.advance(2 * clearFor)
				require.Equal(t, ledger.Halted, state())
				require.Empty(t, h.resumes())
				return
			}
			require.Equal(t, ledger.Armed, h.control().Global(h.clk.Now()).State)
			require.NotContains(t, h.control().Policies, "checkout")
			r := h.resumes()
			require.Len(t, r, 1)
			require.Equal(t, ActorGuardian, r[0].Actor)
			require.Equal(t, "all sources clear for 10m", r[0].Reason)
			if tc.policyWire {
				require.Equal(t, "checkout", r[0].Policy)
			} else {
				require.Empty(t, r[0].Policy)
				require.Equal(t, ActorGuardian, h.control().Actor)
			}
		})
	}
}

func TestAutoResumeWaitsForEverySource(t *testing.T) {
	// The global halt came from the alert; a policy's SLO source keeps
	// failing, so the global state stays halted (every source must be
	// clear), though the policy's own read failure alone halts nothing.
	s := setup{
		cfg:      config.GuardianConfig{Resume: config.ResumeAuto, ClearFor: time.Minute, StaleAfter: time.Hour, HaltOn: alertWire(t, `severity="page"`)},
		alerts:   []Alert{alert("alertname", "FleetDown", "severity", "page")},
		policies: []*policies.Policy{policy("checkout", policies.HaltOn{SLOs: []policies.SLOWire{{Name: "avail", Prometheus: "main"}}})},
	}
	h := newHarness(t, s)
	h.waitGlobal(ledger.Halted)
	h.waitHalts(1)
	h.slo.mu.Lock()
	h.slo.err = errDown
	h.slo.mu.Unlock()
	h.am.set(nil)
	h.advance(10 * time.Second) // the SLO reader reads (and fails) every 10s
	for range 12 {
		h.advance(10 * time.Second)
	}
	require.Equal(t, ledger.Halted, h.control().State)
	require.Empty(t, h.resumes())

	h.slo.mu.Lock()
	h.slo.err = nil
	h.slo.mu.Unlock()
	h.advance(10 * time.Second)
	for range 6 {
		h.advance(10 * time.Second)
	}
	require.Equal(t, ledger.Armed, h.control().State)
}

func TestResumedWhileTrippedHaltsAgain(t *testing.T) {
	h := newHarness(t, setup{
		cfg:    config.GuardianConfig{HaltOn: alertWire(t, `severity="page"`)},
		alerts: []Alert{alert("alertname", "FleetDown", "severity", "page")},
	})
	h.waitGlobal(ledger.Halted)
	h.waitHalts(1)
	_, err := h.ctrl.Resume(context.Background(), Change{Actor: "alice", Source: "api", Reason: "I know better"})
	require.NoError(t, err)
	require.Equal(t, ledger.Armed, h.control().State)

	h.advance(time.Second)
	c := h.waitGlobal(ledger.Halted)
	require.Equal(t, ActorGuardian, c.Actor)
	require.Len(t, h.waitHalts(2), 2)
	require.Len(t, h.restorer.all(), 2)
}

func TestIngest(t *testing.T) {
	cfg := config.GuardianConfig{HaltOn: alertWire(t, `severity="page"`), StaleAfter: 15 * time.Second}
	page := alert("alertname", "FleetDown", "severity", "page")
	page.Fingerprint = "abc123"

	t.Run("a matching webhook alert halts at once", func(t *testing.T) {
		h := newHarness(t, setup{cfg: cfg})
		h.w.Ingest(context.Background(), Delivery{Firing: []Alert{page}, Receiver: "tumult"})
		c := h.waitGlobal(ledger.Halted) // no clock move: no poll needed
		require.Equal(t, "alertmanager/main", c.Source)
		require.Contains(t, c.Reason, "alert FleetDown firing (webhook)")
	})

	t.Run("announcements and other alerts do not halt", func(t *testing.T) {
		h := newHarness(t, setup{cfg: cfg})
		ann := alert("alertname", "TumultHalted", "severity", "page", LabelAnnouncement, "true")
		other := alert("alertname", "Slow", "severity", "ticket")
		h.w.Ingest(context.Background(), Delivery{Firing: []Alert{ann, other}, Receiver: "tumult"})
		require.False(t, h.status("alertmanager/main", ScopeGlobal).Tripped)
		require.Empty(t, h.halts())
	})

	t.Run("resolved forgets, unrepeated alerts expire", func(t *testing.T) {
		h := newHarness(t, setup{cfg: cfg})
		ctx := context.Background()
		h.w.Ingest(ctx, Delivery{Firing: []Alert{page}, Receiver: "tumult"})
		require.True(t, h.status("alertmanager/main", ScopeGlobal).Tripped)
		h.w.Ingest(ctx, Delivery{Resolved: []Alert{{Labels: page.Labels, Fingerprint: "abc123"}}, Receiver: "tumult"})
		require.False(t, h.status("alertmanager/main", ScopeGlobal).Tripped)

		h.w.Ingest(ctx, Delivery{Firing: []Alert{page}, Receiver: "tumult"})
		h.advance(29 * time.Second)
		require.True(t, h.status("alertmanager/main", ScopeGlobal).Tripped, "kept while younger than 2×stale_after")
		h.advance(time.Second)
		require.False(t, h.status("alertmanager/main", ScopeGlobal).Tripped, "forgotten after 2×stale_after without a repeat")
	})

	t.Run("a delivery that names its Alertmanager counts only for that one's wires", func(t *testing.T) {
		h := newHarness(t, setup{cfg: cfg, opts: func(o *WatcherOptions) {
			o.Alertmanagers["edge"] = &fakeAlerts{}
		}})
		ctx := context.Background()
		h.w.Ingest(ctx, Delivery{Alertmanager: "edge", Firing: []Alert{page}, Receiver: "tumult"})
		require.False(t, h.status("alertmanager/main", ScopeGlobal).Tripped, "edge's alert is not main's")
		require.Empty(t, h.halts())

		h.w.Ingest(ctx, Delivery{Alertmanager: "main", Firing: []Alert{page}, Receiver: "tumult"})
		c := h.waitGlobal(ledger.Halted)
		require.Equal(t, "alertmanager/main", c.Source)
		// Resolved by edge leaves main's copy firing.
		h.w.Ingest(ctx, Delivery{Alertmanager: "edge", Resolved: []Alert{page}, Receiver: "tumult"})
		require.True(t, h.status("alertmanager/main", ScopeGlobal).Tripped)
		h.w.Ingest(ctx, Delivery{Alertmanager: "main", Resolved: []Alert{page}, Receiver: "tumult"})
		require.False(t, h.status("alertmanager/main", ScopeGlobal).Tripped)
	})

	t.Run("merged with polled alerts", func(t *testing.T) {
		h := newHarness(t, setup{cfg: cfg, alerts: []Alert{page}})
		h.waitGlobal(ledger.Halted)
		// The webhook says resolved, but the poll still sees it firing.
		h.w.Ingest(context.Background(), Delivery{Resolved: []Alert{page}, Receiver: "tumult"})
		require.True(t, h.status("alertmanager/main", ScopeGlobal).Tripped)
	})
}

func TestSLOWires(t *testing.T) {
	minLeft := 0.25
	avail := policies.SLOWire{Name: "checkout-availability", Prometheus: "main", ErrorRatio: "x$window", Objective: 0.999, MinBudgetLeft: &minLeft, Period: 30 * 24 * time.Hour}
	checkout := policy("checkout", policies.HaltOn{SLOs: []policies.SLOWire{avail}})

	t.Run("burning trips the policy", func(t *testing.T) {
		h := newHarness(t, setup{policies: []*policies.Policy{checkout}})
		ok, why := h.allow(checkout)
		require.True(t, ok, why)
		h.slo.set("checkout-availability", SLOReading{Tripped: true, Detail: "1h/5m burn 20.0/16.0 over 14.4"})
		h.advance(9 * time.Second)
		require.False(t, h.status("slo/checkout-availability", "checkout").Tripped, "read every 10s")
		h.advance(time.Second)
		pc := h.waitPolicy("checkout", ledger.Halted)
		require.Equal(t, "slo/checkout-availability", pc.Source)
		require.Equal(t, "slo checkout-availability burning error budget too fast: 1h/5m burn 20.0/16.0 over 14.4", pc.Reason)
		require.Equal(t, ledger.Armed, h.control().State)
		h.slo.mu.Lock()
		require.NotEmpty(t, h.slo.asked)
		require.Equal(t, avail, h.slo.asked[0])
		h.slo.mu.Unlock()
	})

	t.Run("budget gate refuses new faults but halts nothing", func(t *testing.T) {
		h := newHarness(t, setup{policies: []*policies.Policy{checkout}})
		h.slo.set("checkout-availability", SLOReading{GateBlocked: true, GateDetail: "error budget of checkout-availability 12% left, below 25%"})
		h.advance(10 * time.Second)
		ok, why := h.allow(checkout)
		require.False(t, ok)
		require.Equal(t, "policy trip wire: error budget of checkout-availability 12% left, below 25%", why)
		ok, why = h.allow(policy("other", policies.HaltOn{}))
		require.True(t, ok, why)
		h.advance(time.Minute)
		st := h.status("slo/checkout-availability", "checkout")
		require.False(t, st.Tripped)
		require.Contains(t, st.Detail, "12% left")
		require.Empty(t, h.halts())
	})
}

func TestConsulWire(t *testing.T) {
	h := newHarness(t, setup{cfg: config.GuardianConfig{HaltOn: policies.HaltOn{ConsulServices: []policies.ConsulServiceWire{{Service: "checkout"}}}}})
	ok, why := h.allow(nil)
	require.True(t, ok, why)
	h.consul.set("checkout", "service:checkout-1 http")
	h.advance(2 * time.Second)
	c := h.waitGlobal(ledger.Halted)
	require.Equal(t, "consul/checkout", c.Source)
	require.Equal(t, "consul service checkout has critical checks: service:checkout-1 http", c.Reason)
}

func TestAllowPolicyNotLoaded(t *testing.T) {
	h := newHarness(t, setup{})
	ok, why := h.allow(policy("new", alertWire(t, `a="b"`)))
	require.False(t, ok)
	require.Equal(t, "the trip wires of policy new are not watched: the guardian reads a policy's halt_on only while it is enabled", why)
	ok, why = h.allow(policy("plain", policies.HaltOn{}))
	require.True(t, ok, why)
}

func TestSetPolicies(t *testing.T) {
	wireA := alertWire(t, `service="a"`)
	slo := policies.SLOWire{Name: "avail", ErrorRatio: "x$window", Objective: 0.99}
	disabled := policy("off", policies.HaltOn{ConsulServices: []policies.ConsulServiceWire{{Service: "never"}}})
	disabled.Enabled = false
	h := newHarness(t, setup{
		cfg: config.GuardianConfig{HaltOn: wireA},
		policies: []*policies.Policy{
			policy("a", policies.HaltOn{Alerts: wireA.Alerts, SLOs: []policies.SLOWire{slo}}),
			policy("b", policies.HaltOn{SLOs: []policies.SLOWire{slo}}),
			disabled,
		},
	})
	var names []string
	for _, st := range h.w.Status() {
		names = append(names, st.Kind+" "+st.Name+" "+st.Scope)
	}
	require.Equal(t, []string{
		"alert alertmanager/main global",
		"alert alertmanager/main a",
		"slo slo/avail a",
		"slo slo/avail b",
	}, names, "one reader per source, one status row per wire; disabled policies are not watched")
	h.w.mu.Lock()
	require.Len(t, h.w.sources, 2)
	am := h.w.sources["alertmanager/main"]
	h.w.mu.Unlock()
	// The omitted prometheus name resolves to the only one configured.
	h.slo.mu.Lock()
	require.Equal(t, "main", h.slo.asked[0].Prometheus)
	h.slo.mu.Unlock()

	// A reload keeps a source that is still used, with its state, and
	// stops reading the one that is not.
	h.w.SetPolicies([]*policies.Policy{policy("a", wireA)})
	h.timers = 2
	require.Eventually(t, func() bool { return h.clk.Timers() == 2 }, waitLimit, time.Millisecond, "the slo reader stops")
	h.advance(time.Second)
	h.w.mu.Lock()
	require.Len(t, h.w.sources, 1)
	require.Same(t, am, h.w.sources["alertmanager/main"])
	require.True(t, am.everOK)
	h.w.mu.Unlock()

	// A new source starts being read at once; until then it refuses.
	h.w.SetPolicies([]*policies.Policy{policy("a", policies.HaltOn{ConsulServices: []policies.ConsulServiceWire{{Service: "svc"}}})})
	h.timers = 3
	h.park()
	require.True(t, h.status("consul/svc", "a").Up)
}

func TestSLONameConflict(t *testing.T) {
	one := policies.SLOWire{Name: "avail", Prometheus: "main", ErrorRatio: "x$window", Objective: 0.99}
	two := one
	two.Objective = 0.999
	h := newHarness(t, setup{policies: []*policies.Policy{
		policy("a", policies.HaltOn{SLOs: []policies.SLOWire{one}}),
		policy("b", policies.HaltOn{SLOs: []policies.SLOWire{two}}),
	}})
	require.Equal(t, "slo/avail", h.status("slo/avail", "a").Name)
	require.Equal(t, "slo/avail@b", h.status("slo/avail@b", "b").Name)
}

func TestNewWatcherNeedsController(t *testing.T) {
	_, err := NewWatcher(WatcherOptions{})
	require.Error(t, err)
}

func TestRunTwice(t *testing.T) {
	h := newHarness(t, setup{})
	require.Error(t, h.w.Run(context.Background()))
}

// slowHalter blocks every Halt until released, to show that polling and
// a second halt of the same scope do not pile up behind it.
type slowHalter struct {
	release chan struct{}
	started chan Change
}

func (s *slowHalter) Halt(ctx context.Context, ch Change) (ledger.Control, error) {
	select {
	case s.started <- ch:
	default:
	}
	<-s.release
	return ledger.Control{}, errors.New("not recorded")
}

func (s *slowHalter) Resume(context.Context, Change) (ledger.Control, error) {
	return ledger.Control{}, nil
}

func TestSlowHaltDoesNotBlockPolling(t *testing.T) {
	sh := &slowHalter{release: make(chan struct{}), started: make(chan Change, 10)}
	h := newHarness(t, setup{
		cfg:    config.GuardianConfig{HaltOn: alertWire(t, `severity="page"`)},
		alerts: []Alert{alert("alertname", "FleetDown", "severity", "page")},
		opts:   func(o *WatcherOptions) { o.Controller = sh },
	})
	select {
	case ch := <-sh.started:
		require.Equal(t, "alertmanager/main", ch.Source)
	case <-time.After(waitLimit):
		t.Fatal("no halt")
	}
	h.am.mu.Lock()
	before := h.am.reads
	h.am.mu.Unlock()
	for range 5 {
		h.advance(time.Second) // polls go on while the halt hangs
	}
	h.am.mu.Lock()
	require.Greater(t, h.am.reads, before)
	h.am.mu.Unlock()
	require.Empty(t, sh.started, "one halt per scope at a time")
	close(sh.release)
}

func TestAutoResumeWaitsClearForAfterTheHalt(t *testing.T) {
	// The wires have been clear all along, but the guardian's halt (made
	// by another replica sharing the ledger, or before a restart) is
	// recent: it stands for clear_for itself.
	h := newHarness(t, setup{cfg: config.GuardianConfig{Resume: config.ResumeAuto, ClearFor: time.Minute, HaltOn: alertWire(t, `severity="page"`)}})
	h.advance(5 * time.Minute)
	_, err := h.ctrl.Halt(context.Background(), Change{Actor: ActorGuardian, Source: "consul/checkout", Reason: "consul service checkout has critical checks: http"})
	require.NoError(t, err)
	h.advance(55 * time.Second)
	require.Equal(t, ledger.Halted, h.control().State)
	h.advance(5 * time.Second)
	require.Equal(t, ledger.Armed, h.control().State)
}
