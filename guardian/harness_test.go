package guardian

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/ledgertest"
	"github.com/inferensys/tumult/policies"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

const waitLimit = 5 * time.Second

type fakeAlerts struct {
	mu     sync.Mutex
	alerts []Alert
	err    error
	reads  int
}

func (f *fakeAlerts) Alerts(context.Context) ([]Alert, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	if f.err != nil {
		return nil, f.err
	}
	return append([]Alert(nil), f.alerts...), nil
}

func (f *fakeAlerts) set(err error, alerts ...Alert) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alerts, f.err = alerts, err
}

type fakeSLO struct {
	mu       sync.Mutex
	readings map[string]SLOReading
	err      error
	asked    []policies.SLOWire
}

func (f *fakeSLO) Burn(_ context.Context, w policies.SLOWire) (SLOReading, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, w)
	if f.err != nil {
		return SLOReading{}, f.err
	}
	return f.readings[w.Name], nil
}

func (f *fakeSLO) set(name string, rd SLOReading) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.readings == nil {
		f.readings = map[string]SLOReading{}
	}
	f.readings[name] = rd
}

type fakeConsul struct {
	mu   sync.Mutex
	crit map[string][]string
	err  error
}

func (f *fakeConsul) Critical(_ context.Context, service string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crit[service], f.err
}

func (f *fakeConsul) set(service string, checks ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crit == nil {
		f.crit = map[string][]string{}
	}
	f.crit[service] = checks
}

// fakeRestorer records RestoreAll calls and which of a fixed set of
// records each call would restore, and counts the holds that are on.
type fakeRestorer struct {
	mu    sync.Mutex
	calls []restoreCall
	holds int
	// block, when set, keeps each RestoreAll from returning until closed.
	block chan struct{}
	// noHold makes Hold return nil, as on a follower.
	noHold bool
	scopes []string // the policy of each Hold
}

type restoreCall struct {
	reason   string
	policies []string // policies of the probe records kept
	held     bool     // a hold was on when RestoreAll was called
}

func (f *fakeRestorer) Hold(policy string) (release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noHold {
		return nil
	}
	f.scopes = append(f.scopes, policy)
	f.holds++
	return sync.OnceFunc(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.holds--
	})
}

func (f *fakeRestorer) held() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.holds
}

var probePolicies = []string{"checkout", "payments"}

func (f *fakeRestorer) RestoreAll(_ context.Context, reason string, keep func(ledger.Record) bool) (int, error) {
	c := restoreCall{reason: reason}
	for _, p := range probePolicies {
		if keep == nil || keep(ledger.Record{Policy: p}) {
			c.policies = append(c.policies, p)
		}
	}
	f.mu.Lock()
	c.held = f.holds > 0
	f.calls = append(f.calls, c)
	block := f.block
	f.mu.Unlock()
	if block != nil {
		<-block
	}
	return len(c.policies), nil
}

func (f *fakeRestorer) all() []restoreCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]restoreCall(nil), f.calls...)
}

// recHalter is the real Controller, recording what it was asked.
type recHalter struct {
	*Controller
	mu      sync.Mutex
	halts   []Change
	resumes []Change
}

func (r *recHalter) Halt(ctx context.Context, ch Change) (ledger.Control, error) {
	r.mu.Lock()
	r.halts = append(r.halts, ch)
	r.mu.Unlock()
	return r.Controller.Halt(ctx, ch)
}

func (r *recHalter) Resume(ctx context.Context, ch Change) (ledger.Control, error) {
	r.mu.Lock()
	r.resumes = append(r.resumes, ch)
	r.mu.Unlock()
	return r.Controller.Resume(ctx, ch)
}

func (r *recHalter) calls() (halts, resumes []Change) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Change(nil), r.halts...), append([]Change(nil), r.resumes...)
}

type fakeAnnouncer struct {
	mu       sync.Mutex
	err      error
	posted   [][]Announcement
	resolved [][]Announcement
}

func (f *fakeAnnouncer) Announce(_ context.Context, anns []Announcement) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.posted = append(f.posted, anns)
	return nil
}

func (f *fakeAnnouncer) Resolve(_ context.Context, anns []Announcement) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.resolved = append(f.resolved, anns)
	return nil
}

func (f *fakeAnnouncer) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// keys flattens batches into announcement keys.
func keys(batches [][]Announcement) []string {
	var out []string
	for _, b := range batches {
		for _, a := range b {
			out = append(out, a.Key())
		}
	}
	return out
}

func (f *fakeAnnouncer) snapshot() (posted, resolved []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return keys(f.posted), keys(f.resolved)
}

type fakeFaults struct {
	mu   sync.Mutex
	recs []ledger.Record
	err  error
}

func (f *fakeFaults) Active(context.Context) ([]ledger.Record, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]ledger.Record(nil), f.recs...), f.err
}

func (f *fakeFaults) set(recs ...ledger.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs = recs
}

// setup says what a harness runs.
type setup struct {
	cfg      config.GuardianConfig
	policies []*policies.Policy
	// noConsul leaves the Consul source out (no consul block).
	noConsul bool
	announce bool
	// amErr, when set, is what the alertmanager answers from the start.
	amErr error
	// alerts the alertmanager reports from the start.
	alerts []Alert
	opts   func(*WatcherOptions)
}

type harness struct {
	t        *testing.T
	clk      *clock.Fake
	led      *ledgertest.Memory
	ctrl     *Controller
	halter   *recHalter
	restorer *fakeRestorer
	am       *fakeAlerts
	slo      *fakeSLO
	consul   *fakeConsul
	ann      *fakeAnnouncer
	faults   *fakeFaults
	w        *Watcher
	reports  *reportLog
	timers   int
}

type reportLog struct {
	mu   sync.Mutex
	last map[string][2]bool
}

func (r *reportLog) on(name string, up, tripped bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last[name] = [2]bool{up, tripped}
}

func (r *reportLog) get(name string) ([2]bool, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.last[name]
	return v, ok
}

func newHarness(t *testing.T, s setup) *harness {
	t.Helper()
	clk := clock.NewFake(t0)
	h := &harness{
		t:        t,
		clk:      clk,
		led:      ledgertest.NewMemory(clk.Now),
		restorer: &fakeRestorer{},
		am:       &fakeAlerts{alerts: s.alerts, err: s.amErr},
		slo:      &fakeSLO{},
		consul:   &fakeConsul{},
		ann:      &fakeAnnouncer{},
		faults:   &fakeFaults{},
		reports:  &reportLog{last: map[string][2]bool{}},
	}
	h.ctrl = NewController(ControllerOptions{Ledger: h.led, Restorer: h.restorer, Clock: clk})
	h.halter = &recHalter{Controller: h.ctrl}
	if s.cfg.StaleAfter == 0 {
		s.cfg.StaleAfter = 15 * time.Second
	}
	opts := WatcherOptions{
		Controller:    h.halter,
		Ledger:        h.led,
		ActiveFaults:  h.faults.Active,
		Config:        s.cfg,
		Alertmanagers: map[string]AlertSource{"main": h.am},
		PollIntervals: map[string]time.Duration{"main": time.Second},
		SLO:           map[string]SLOSource{"main": h.slo},
		Consul:        h.consul,
		Clock:         clk,
		OnSource:      h.reports.on,
	}
	if s.noConsul {
		opts.Consul = nil
	}
	if s.announce {
		opts.Announcer = h.ann
	}
	if s.opts != nil {
		s.opts(&opts)
	}
	w, err := NewWatcher(opts)
	require.NoError(t, err)
	w.SetPolicies(s.policies)
	h.w = w

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(waitLimit):
			t.Error("watcher did not stop")
		}
	})
	w.mu.Lock()
	h.timers = len(w.sources) + 1
	w.mu.Unlock()
	if s.announce {
		h.timers++
	}
	h.park()
	return h
}

// park waits until every loop of the watcher waits on the clock again,
// that is, has done what the last clock move asked of it.
func (h *harness) park() {
	h.t.Helper()
	require.True(h.t, h.clk.WaitTimers(h.timers, waitLimit), "watcher loops did not park on the clock (want %d timers, have %d)", h.timers, h.clk.Timers())
}

// advance moves the clock by d in steps of at most maxStep, parking after
// each, as a real clock would let the readers keep up. One long jump would
// let the evaluation loop see every source as unread for the whole jump.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	for d > 0 {
		step := min(d, maxStep)
		h.clk.Advance(step)
		h.park()
		d -= step
	}
}

const maxStep = 5 * time.Second

func (h *harness) control() ledger.Control {
	h.t.Helper()
	c, err := h.led.Control(context.Background())
	require.NoError(h.t, err)
	return c
}

// waitGlobal waits until the global state is want.
func (h *harness) waitGlobal(want ledger.State) ledger.Control {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return h.control().Global(h.clk.Now()).State == want }, waitLimit, time.Millisecond, "global state never became %s", want)
	return h.control()
}

// waitPolicy waits until the policy's own state is want.
func (h *harness) waitPolicy(name string, want ledger.State) ledger.PolicyControl {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return h.control().Policies[name].State == want }, waitLimit, time.Millisecond, "policy %s never became %s", name, want)
	return h.control().Policies[name]
}

// waitHalts waits until n halts have been asked for and have finished
// (the watcher clears its halting mark when Halt returns).
func (h *harness) waitHalts(n int) []Change {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		halts, _ := h.halter.calls()
		h.w.mu.Lock()
		defer h.w.mu.Unlock()
		busy := false
		for _, b := range h.w.halting {
			busy = busy || b
		}
		return len(halts) >= n && !busy
	}, waitLimit, time.Millisecond, "want %d halts", n)
	halts, _ := h.halter.calls()
	return halts
}

func (h *harness) halts() []Change {
	halts, _ := h.halter.calls()
	return halts
}

func (h *harness) resumes() []Change {
	_, r := h.halter.calls()
	return r
}

func (h *harness) status(name, scope string) SourceStatus {
	h.t.Helper()
	for _, st := range h.w.Status() {
		if st.Name == name && st.Scope == scope {
			return st
		}
	}
	h.t.Fatalf("no status for %s in scope %s: %+v", name, scope, h.w.Status())
	return SourceStatus{}
}

func (h *harness) allow(p *policies.Policy) (bool, string) {
	return h.w.Allow(context.Background(), p)
}

func matchers(t *testing.T, ms ...string) []policies.Matcher {
	t.Helper()
	out := make([]policies.Matcher, 0, len(ms))
	for _, s := range ms {
		m, err := policies.ParseMatcher(s)
		require.NoError(t, err)
		out = append(out, m)
	}
	return out
}

func alertWire(t *testing.T, ms ...string) policies.HaltOn {
	return policies.HaltOn{Alerts: []policies.AlertWire{{Alertmanager: "main", Matchers: matchers(t, ms...)}}}
}

func policy(name string, h policies.HaltOn) *policies.Policy {
	return &policies.Policy{Name: name, Enabled: true, HaltOn: h}
}

func alert(labels ...string) Alert {
	l := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	return Alert{Labels: l, StartsAt: t0}
}

var errDown = errors.New("dial tcp 127.0.0.1:9093: connection refused")
