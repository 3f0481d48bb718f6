package guardian

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/internal/crash"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
)

// ActorGuardian is the actor of the control changes the watcher makes.
const ActorGuardian = "guardian"

// Defaults of WatcherOptions.
const (
	DefaultSLOInterval    = 10 * time.Second
	DefaultConsulInterval = 2 * time.Second
	// DefaultEvalInterval is how often the watcher re-reads the control
	// state and re-evaluates without a new read: for staleness, auto
	// resume, and halting again after a resume while still tripped.
	DefaultEvalInterval = time.Second
	// MaxPollTimeout bounds one read of a source; shorter intervals bound
	// it further (but never below MinPollTimeout).
	MaxPollTimeout = 5 * time.Second
	MinPollTimeout = time.Second
)

// A halt that failed (the control state could not be written, or a
// restore failed) is tried again after haltRetryMin, the pause doubling up
// to haltRetryMax until one succeeds: often enough to finish the halt soon
// after the ledger comes back, rarely enough that a Consul outage does not
// turn every evaluation into another halt.
const (
	haltRetryMin = time.Second
	haltRetryMax = 30 * time.Second
)

// Halter carries out the watcher's decisions; *Controller is one.
type Halter interface {
	Halt(ctx context.Context, ch Change) (ledger.Control, error)
	Resume(ctx context.Context, ch Change) (ledger.Control, error)
}

var _ Halter = (*Controller)(nil)

// WatcherOptions configure a Watcher.
type WatcherOptions struct {
	// Controller halts and resumes; required.
	Controller Halter
	// Ledger is read for the control state: auto resume, halting again
	// when resumed while still tripped, and the TumultHalted
	// announcement. Nil disables those three.
	Ledger ControlReader
	// ActiveFaults lists the active fault records, for announcements.
	ActiveFaults func(ctx context.Context) ([]ledger.Record, error)
	// Config holds the global trip wires, stale_after, resume and
	// clear_for. Zero StaleAfter and ClearFor take the policies defaults.
	Config config.GuardianConfig

	// Alertmanagers by agent-config name, and how often to poll each
	// (config.DefaultPollInterval when missing).
	Alertmanagers map[string]AlertSource
	PollIntervals map[string]time.Duration
	// SLO sources by prometheus name, read every SLOInterval.
	SLO         map[string]SLOSource
	SLOInterval time.Duration
	// Consul is nil without a consul block; consul_service wires then
	// never read and so trip after stale_after (fail closed).
	Consul         ConsulHealth
	ConsulInterval time.Duration
	// PollTimeout bounds one read; default min(max(interval, 1s), 5s).
	PollTimeout time.Duration
	// EvalInterval: see DefaultEvalInterval.
	EvalInterval time.Duration

	// Announcer, when set, gets ChaosExperimentActive and TumultHalted
	// announcements (Config.Announce names it; the agent resolves it).
	Announcer Announcer
	// AnnounceEvery re-posts every active announcement (default 30s, well
	// inside Alertmanager's resolve_timeout); AnnounceCheck is how often
	// changes are looked for (default 5s). Nudge looks at once.
	AnnounceEvery time.Duration
	AnnounceCheck time.Duration

	Clock  clock.Clock
	Logger hclog.Logger
	// OnSource hears each source's state after every evaluation, for the
	// guardian_source_up and guardian_tripped metrics. It must not block.
	OnSource func(name string, up, tripped bool)
}

// Watcher evaluates the trip wires: it reads every source a wire uses,
// halts the wire's scope when one trips (fail closed: unreadable for
// stale_after trips), resumes with resume = "auto" once everything has
// been clear for clear_for, tells the scheduler whether a new fault may
// start, and announces running chaos.
type Watcher struct {
	opts       WatcherOptions
	log        hclog.Logger
	clk        clock.Clock
	staleAfter time.Duration
	clearFor   time.Duration
	webhookTTL time.Duration

	mu      sync.Mutex
	sources map[string]*source
	wires   []*wire
	// loaded holds the enabled policies of the last SetPolicies.
	loaded map[string]bool
	// held are the alerts delivered by Alertmanager's webhook (held.go).
	held *heldAlerts
	// scopeTripped is each scope's state at the last evaluation, for
	// transitions; halting marks scopes with a halt under way; retries
	// holds the scopes whose last halt failed.
	scopeTripped map[string]bool
	halting      map[string]bool
	retries      map[string]*haltRetry
	control      ledger.Control
	haveControl  bool
	// evalSeq numbers evaluations, for report's order.
	evalSeq uint64

	// reportMu serialises OnSource calls; reported is the seq of the
	// last evaluation reported.
	reportMu sync.Mutex
	reported uint64

	running bool
	stopped bool
	runCtx  context.Context
	readers sync.WaitGroup
	halts   sync.WaitGroup
	nudge   chan struct{}
}

// NewWatcher checks the options and builds the global trip wires. Call
// SetPolicies to add the policies' wires, and Run to start reading.
func NewWatcher(opts WatcherOptions) (*Watcher, error) {
	if opts.Controller == nil {
		return nil, errors.New("guardian watcher: no controller")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.SLOInterval <= 0 {
		opts.SLOInterval = DefaultSLOInterval
	}
	if opts.ConsulInterval <= 0 {
		opts.ConsulInterval = DefaultConsulInterval
	}
	if opts.EvalInterval <= 0 {
		opts.EvalInterval = DefaultEvalInterval
	}
	if opts.AnnounceEvery <= 0 {
		opts.AnnounceEvery = DefaultAnnounceEvery
	}
	if opts.AnnounceCheck <= 0 {
		opts.AnnounceCheck = DefaultAnnounceCheck
	}
	if opts.Config.StaleAfter <= 0 {
		opts.Config.StaleAfter = config.DefaultStaleAfter
	}
	if opts.Config.ClearFor <= 0 {
		opts.Config.ClearFor = config.DefaultClearFor
	}
	if opts.Config.Resume == "" {
		opts.Config.Resume = config.ResumeManual
	}
	w := &Watcher{
		opts:         opts,
		log:          opts.Logger.Named("guardian"),
		clk:          opts.Clock,
		staleAfter:   opts.Config.StaleAfter,
		clearFor:     opts.Config.ClearFor,
		webhookTTL:   2 * opts.Config.StaleAfter,
		sources:      map[string]*source{},
		loaded:       map[string]bool{},
		held:         newHeldAlerts(),
		scopeTripped: map[string]bool{},
		halting:      map[string]bool{},
		retries:      map[string]*haltRetry{},
		nudge:        make(chan struct{}, 1),
	}
	w.SetPolicies(nil)
	return w, nil
}

// SetPolicies replaces the policies whose trip wires are watched: the
// global wires plus every enabled policy's halt_on. Sources no wire uses
// any more stop being read; a source that stays keeps its state, so a
// reload neither forgets a trip nor restarts the clear_for clock.
func (w *Watcher) SetPolicies(ps []*policies.Policy) {
	type scoped struct {
		scope string
		h     policies.HaltOn
	}
	list := []scoped{{"", w.opts.Config.HaltOn}}
	loaded := map[string]bool{}
	var enabled []*policies.Policy
	for _, p := range ps {
		if p != nil && p.Enabled {
			enabled = append(enabled, p)
		}
	}
	sort.Slice(enabled, func(i, j int) bool { return enabled[i].Name < enabled[j].Name })
	for _, p := range enabled {
		loaded[p.Name] = true
		list = append(list, scoped{p.Name, p.HaltOn})
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clk.Now()
	old := w.sources
	oldWires := map[string]*wire{}
	for _, wr := range w.wires {
		oldWires[wr.key()] = wr
	}
	next := map[string]*source{}
	use := func(s *source) *source {
		if cur, ok := next[s.name]; ok {
			return cur
		}
		if prev, ok := old[s.name]; ok && prev.def == s.def {
			prev.interval, prev.read = s.interval, s.read
			s = prev
		} else {
			s.created = now
		}
		next[s.name] = s
		return s
	}
	var wires []*wire
	for _, sc := range list {
		for _, aw := range sc.h.Alerts {
			wires = append(wires, &wire{scope: sc.scope, kind: KindAlert, src: use(w.alertSource(aw.Alertmanager)), matchers: aw.Matchers})
		}
		for _, sw := range sc.h.SLOs {
			s := w.sloSource(sw)
			if cur, ok := next[s.name]; ok && cur.def != s.def {
				// Same SLO name, other definition: read it on its own.
				s.name += "@" + sc.scope
				s.label += " (policy " + sc.scope + ")"
			}
			wires = append(wires, &wire{scope: sc.scope, kind: KindSLO, src: use(s), slo: sw})
		}
		for _, cw := range sc.h.ConsulServices {
			wires = append(wires, &wire{scope: sc.scope, kind: KindConsul, src: use(w.consulSource(cw.Service)), service: cw.Service})
		}
	}
	for _, wr := range wires {
		if prev, ok := oldWires[wr.key()]; ok {
			wr.tripped, wr.clearSince = prev.tripped, prev.clearSince
		}
	}
	w.indexWires(wires, oldWires)
	w.sources, w.wires, w.loaded = next, wires, loaded
	for scope := range w.scopeTripped {
		if scope != "" && !loaded[scope] {
			delete(w.scopeTripped, scope)
		}
	}
	for scope := range w.retries {
		if scope != "" && !loaded[scope] {
			delete(w.retries, scope)
		}
	}
	for name, s := range old {
		if next[name] != s && s.cancel != nil {
			s.cancel()
			s.cancel = nil
		}
	}
	if w.running && !w.stopped {
		for _, s := range next {
			w.startReader(s)
		}
	}
	w.log.Debug("trip wires loaded", "wires", len(wires), "sources", len(next), "policies", len(loaded))
}

func (w *Watcher) alertSource(name string) *source {
	name = only(name, w.opts.Alertmanagers)
	src, ok := w.opts.Alertmanagers[name]
	iv := w.opts.PollIntervals[name]
	if iv <= 0 {
		iv = config.DefaultPollInterval
	}
	s := &source{name: "alertmanager/" + name, kind: KindAlert, label: "alertmanager " + name, interval: iv, def: name}
	if !ok {
		s.read = missing("alertmanager %q is not configured", name)
		return s
	}
	s.read = func(ctx context.Context) (reading, error) {
		as, err := src.Alerts(ctx)
		return reading{alerts: as}, err
	}
	return s
}

func (w *Watcher) sloSource(sw policies.SLOWire) *source {
	sw.Prometheus = only(sw.Prometheus, w.opts.SLO)
	src, ok := w.opts.SLO[sw.Prometheus]
	s := &source{name: "slo/" + sw.Name, kind: KindSLO, label: "slo " + sw.Name, interval: w.opts.SLOInterval, def: fmt.Sprintf("%#v", sloDef(sw))}
	if !ok {
		s.read = missing("prometheus %q of slo %q is not configured", sw.Prometheus, sw.Name)
		return s
	}
	s.read = func(ctx context.Context) (reading, error) {
		rd, err := src.Burn(ctx, sw)
		return reading{slo: rd}, err
	}
	return s
}

// sloDef is an SLO wire in a form that compares by value.
func sloDef(sw policies.SLOWire) any {
	var minLeft float64 = -1
	if sw.MinBudgetLeft != nil {
		minLeft = *sw.MinBudgetLeft
	}
	return struct {
		Prometheus, ErrorRatio string
		Objective, MinLeft     float64
		Burns                  []policies.BurnPair
		Period                 time.Duration
	}{sw.Prometheus, sw.ErrorRatio, sw.Objective, minLeft, sw.Burns, sw.Period}
}

func (w *Watcher) consulSource(service string) *source {
	s := &source{name: "consul/" + service, kind: KindConsul, label: "consul service " + service, interval: w.opts.ConsulInterval, def: service}
	c := w.opts.Consul
	if c == nil {
		s.read = missing("consul service %q: no consul block in the agent config", service)
		return s
	}
	s.read = func(ctx context.Context) (reading, error) {
		crit, err := c.Critical(ctx, service)
		return reading{critical: crit}, err
	}
	return s
}

// only resolves an omitted source name when exactly one source is
// configured, as policies allow.
func only[T any](name string, m map[string]T) string {
	if name != "" || len(m) != 1 {
		return name
	}
	for n := range m {
		return n
	}
	return name
}

func missing(format string, args ...any) func(context.Context) (reading, error) {
	err := fmt.Errorf(format, args...)
	return func(context.Context) (reading, error) { return reading{}, err }
}

// Run reads the sources, evaluates and announces until ctx ends. It then
// waits for halts under way: a restore is never abandoned.
func (w *Watcher) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return errors.New("guardian watcher: already running")
	}
	w.running, w.runCtx = true, ctx
	for _, s := range w.sources {
		w.startReader(s)
	}
	noWires, global := len(w.wires) == 0, false
	for _, wi := range w.wires {
		global = global || wi.scope == ""
	}
	w.mu.Unlock()
	// One warning for what is missing, not one per layer that notices.
	switch {
	case noWires:
		w.log.Warn("no trip wires: nothing halts tumult on its own")
	case !global:
		w.log.Warn("no global trip wires (guardian { halt_on { … } }); only per-policy ones apply")
	}

	var loops sync.WaitGroup
	loops.Go(func() { w.evalLoop(ctx) })
	if w.opts.Announcer != nil {
		loops.Go(func() { w.announceLoop(ctx) })
	}
	<-ctx.Done()
	loops.Wait()

	w.mu.Lock()
	w.stopped = true
	for _, s := range w.sources {
		if s.cancel != nil {
			s.cancel()
			s.cancel = nil
		}
	}
	w.mu.Unlock()
	w.readers.Wait()
	w.halts.Wait()
	return nil
}

// startReader starts the source's reader unless it runs. Locked.
func (w *Watcher) startReader(s *source) {
	if s.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(w.runCtx)
	s.cancel = cancel
	w.readers.Go(func() { w.readLoop(ctx, s) })
}

func (w *Watcher) readLoop(ctx context.Context, s *source) {
	for {
		w.poll(ctx, s)
		w.mu.Lock()
		iv := s.interval
		w.mu.Unlock()
		tick, stop := w.clk.After(iv)
		select {
		case <-ctx.Done():
			stop()
			return
		case <-tick:
		}
	}
}

func (w *Watcher) pollTimeout(iv time.Duration) time.Duration {
	if w.opts.PollTimeout > 0 {
		return w.opts.PollTimeout
	}
	return min(max(iv, MinPollTimeout), MaxPollTimeout)
}

// poll reads a source once and evaluates.
func (w *Watcher) poll(ctx context.Context, s *source) {
	w.mu.Lock()
	read, timeout := s.read, w.pollTimeout(s.interval)
	w.mu.Unlock()
	rctx, cancel := context.WithTimeout(ctx, timeout)
	rd, err := read(rctx)
	cancel()
	if ctx.Err() != nil {
		return // stopping or removed: a cancelled read says nothing
	}
	now := w.clk.Now()
	w.mu.Lock()
	if err != nil {
		if s.lastErr == nil {
			w.log.Warn("source unreadable", "source", s.name, "error", err)
		}
		s.lastErr = err
	} else {
		if s.lastErr != nil {
			w.log.Info("source readable again", "source", s.name)
		}
		s.lastErr, s.reading, s.lastOK, s.everOK = nil, rd, now, true
	}
	halts, reports := w.evaluate(now)
	w.mu.Unlock()
	w.dispatch(ctx, halts)
	w.report(reports)
}

func (w *Watcher) evalLoop(ctx context.Context) {
	for {
		w.tick(ctx)
		tick, stop := w.clk.After(w.opts.EvalInterval)
		select {
		case <-ctx.Done():
			stop()
			return
		case <-tick:
		}
	}
}

// tick re-reads the control state and evaluates without a new read:
// staleness, halting again after a resume while tripped, auto resume.
func (w *Watcher) tick(ctx context.Context) {
	var ctrl ledger.Control
	var cerr error = errors.New("no ledger")
	if w.opts.Ledger != nil {
		lctx, cancel := context.WithTimeout(ctx, MaxPollTimeout)
		ctrl, cerr = w.opts.Ledger.Control(lctx)
		cancel()
		if cerr != nil && ctx.Err() == nil {
			w.log.Warn("read control state", "error", cerr)
		}
	}
	if ctx.Err() != nil {
		return
	}
	now := w.clk.Now()
	w.mu.Lock()
	if cerr == nil {
		w.setControl(ctrl)
	}
	halts, reports := w.evaluate(now)
	resumes := w.resumable(now)
	w.mu.Unlock()
	w.dispatch(ctx, halts)
	for _, ch := range resumes {
		w.log.Warn("resuming: every source clear", "policy", orAll(ch.Policy), "clear_for", w.clearFor)
		c, err := w.opts.Controller.Resume(ctx, ch)
		if err != nil {
			w.log.Error("auto resume failed", "policy", orAll(ch.Policy), "error", err)
			continue
		}
		w.mu.Lock()
		w.setControl(c)
		w.mu.Unlock()
		w.Nudge()
	}
	w.report(reports)
}

// setControl keeps the newest control state seen. Locked.
func (w *Watcher) setControl(c ledger.Control) {
	if w.haveControl && c.Version < w.control.Version {
		return
	}
	w.control, w.haveControl = c, true
}

type sourceReport struct {
	name        string
	up, tripped bool
}

// sourceReports is what one evaluation tells OnSource. Evaluations run
// under the lock but report after it, so two can report out of order:
// seq lets report drop the older one.
type sourceReports struct {
	seq  uint64
	list []sourceReport
}

// evaluate judges every wire at now, keeps the clear stretches, and
// returns the halts to start and what to report. Locked.
func (w *Watcher) evaluate(now time.Time) ([]Change, sourceReports) {
	w.expireHeld(now)
	first := map[string]*wire{} // first tripped wire per scope
	reasons := map[*wire]string{}
	srcTripped := map[*source]bool{}
	for _, wr := range w.wires {
		v := w.judge(wr, now)
		reasons[wr] = v.reason
		if v.tripped && !wr.tripped {
			w.log.Warn("trip wire tripped", "scope", wr.scopeName(), "source", wr.src.name, "reason", v.reason)
		} else if !v.tripped && wr.tripped {
			w.log.Info("trip wire clear", "scope", wr.scopeName(), "source", wr.src.name)
		}
		wr.tripped = v.tripped
		switch {
		case !v.clear:
			wr.clearSince = time.Time{}
		case wr.clearSince.IsZero():
			wr.clearSince = now
		}
		if v.tripped {
			srcTripped[wr.src] = true
			if first[wr.scope] == nil {
				first[wr.scope] = wr
			}
		}
	}
	var halts []Change
	for _, scope := range w.scopes() {
		wr := first[scope]
		was := w.scopeTripped[scope]
		w.scopeTripped[scope] = wr != nil
		if w.halting[scope] {
			continue
		}
		if ch, ok := w.haltDue(scope, wr, was, reasons[wr], now); ok {
			w.halting[scope] = true
			halts = append(halts, ch)
		}
	}
	w.evalSeq++
	reports := sourceReports{seq: w.evalSeq, list: make([]sourceReport, 0, len(w.sources))}
	for _, s := range w.sources {
		reports.list = append(reports.list, sourceReport{name: s.name, up: s.readOK(), tripped: srcTripped[s]})
	}
	return halts, reports
}

// haltRetry is a scope whose last halt failed.
type haltRetry struct {
	// ch is the halt that failed; it is tried again as it was once the
	// wires are clear but the halt it recorded stands.
	ch Change
	// at is when to try again; wait the pause that led to it.
	at   time.Time
	wait time.Duration
	// failures counts the halts that failed in a row.
	failures int
	// version is the control state's version when the halt failed: a
	// newer one that does not show the scope halted is a resume.
	version uint64
}

// haltDue decides whether the scope needs a halt now, with wr its first
// tripped wire (nil when none is) and was whether it was tripped at the
// last evaluation. A halt is due once when the scope trips, again when the
// control state shows it not halted although it stayed tripped (someone
// resumed), and, after a halt that failed, when its back-off has passed:
// a halt that cannot be recorded leaves the state armed, which must not
// read as a resume at every evaluation. Locked.
func (w *Watcher) haltDue(scope string, wr *wire, was bool, reason string, now time.Time) (Change, bool) {
	stands := w.haveControl && halted(w.control, scope, now)
	var ch Change
	if wr != nil {
		ch = Change{Actor: ActorGuardian, Source: wr.src.name, Reason: reason, Policy: scope}
	}
	r := w.retries[scope]
	switch {
	case r == nil:
		return ch, wr != nil && (!was || w.haveControl && !stands)
	case wr == nil && !stands:
		// Clear, and not halted (never recorded, or resumed since):
		// nothing calls for the halt any more.
		delete(w.retries, scope)
		return Change{}, false
	case now.Before(r.at) && (stands || w.control.Version <= r.version):
		return Change{}, false
	case wr == nil:
		// The halt was recorded but its restore failed: finish it.
		return r.ch, true
	}
	return ch, true
}

// scopes lists the global scope and the loaded policies. Locked.
func (w *Watcher) scopes() []string {
	out := []string{""}
	for p := range w.loaded {
		out = append(out, p)
	}
	slices.Sort(out[1:])
	return out
}

// halted reports whether the scope's own state is halted at now.
func halted(c ledger.Control, scope string, now time.Time) bool {
	if scope == "" {
		return c.Global(now).State == ledger.Halted
	}
	p, ok := c.Policies[scope]
	return ok && p.State == ledger.Halted
}

// dispatch starts each halt in its own goroutine: a slow restore never
// holds up reading and evaluating.
func (w *Watcher) dispatch(ctx context.Context, halts []Change) {
	for _, ch := range halts {
		hctx := context.WithoutCancel(ctx)
		w.mu.Lock()
		track := !w.stopped
		if track {
			w.halts.Add(1)
		}
		w.mu.Unlock()
		go func() {
			defer crash.Recover("guardian: halt")
			if track {
				defer w.halts.Done()
			}
			w.log.Warn("halting", "policy", orAll(ch.Policy), "source", ch.Source, "reason", ch.Reason)
			c, err := w.opts.Controller.Halt(hctx, ch)
			now := w.clk.Now()
			w.mu.Lock()
			w.halting[ch.Policy] = false
			if c.Version > 0 {
				w.setControl(c)
			}
			var retry haltRetry
			if err != nil {
				retry = w.failed(ch, now)
			} else {
				delete(w.retries, ch.Policy)
			}
			w.mu.Unlock()
			if err != nil {
				w.log.Error("halt failed; retrying", "policy", orAll(ch.Policy), "source", ch.Source, "error", err,
					"failures", retry.failures, "retry_in", retry.wait)
			}
			w.Nudge()
		}()
	}
}

// failed keeps a halt that failed for a retry after a back-off, and
// returns the retry. Locked.
func (w *Watcher) failed(ch Change, now time.Time) haltRetry {
	r := w.retries[ch.Policy]
	if r == nil {
		r = &haltRetry{wait: haltRetryMin / 2}
		if ch.Policy == "" || w.loaded[ch.Policy] {
			w.retries[ch.Policy] = r
		}
	}
	r.wait = min(2*r.wait, haltRetryMax)
	r.failures++
	r.ch, r.at, r.version = ch, now.Add(r.wait), w.control.Version
	return *r
}

// report tells OnSource what an evaluation found, unless a later
// evaluation has reported already.
func (w *Watcher) report(rs sourceReports) {
	if w.opts.OnSource == nil {
		return
	}
	w.reportMu.Lock()
	defer w.reportMu.Unlock()
	if rs.seq <= w.reported {
		return
	}
	w.reported = rs.seq
	for _, r := range rs.list {
		w.opts.OnSource(r.name, r.up, r.tripped)
	}
}

// byGuardian reports whether a halt was the watcher's own, so that auto
// resume may lift it: a halt by a person is lifted by a person.
func byGuardian(p ledger.PolicyControl) bool {
	if p.Actor != ActorGuardian {
		return false
	}
	for _, prefix := range []string{"alertmanager/", "slo/", "consul/"} {
		if strings.HasPrefix(p.Source, prefix) {
			return true
		}
	}
	return false
}

// resumable returns the resumes that resume = "auto" calls for now: a
// halt of the guardian's own, whose wires (for the global state every
// wire; for a policy the global ones and its own) have all been clear for
// clear_for, and that is itself at least clear_for old. Locked.
func (w *Watcher) resumable(now time.Time) []Change {
	if w.opts.Config.Resume != config.ResumeAuto || !w.haveControl {
		return nil
	}
	reason := "all sources clear for " + policies.FormatDuration(w.clearFor)
	ready := func(p ledger.PolicyControl, scope string) bool {
		if p.State != ledger.Halted || !byGuardian(p) || w.halting[scope] || now.Sub(p.Since) < w.clearFor {
			return false
		}
		for _, wr := range w.wires {
			if scope != "" && wr.scope != "" && wr.scope != scope {
				continue
			}
			if wr.clearSince.IsZero() || now.Sub(wr.clearSince) < w.clearFor {
				return false
			}
		}
		return true
	}
	var out []Change
	if ready(w.control.Global(now), "") {
		out = append(out, Change{Actor: ActorGuardian, Source: ActorGuardian, Reason: reason})
	}
	// Only loaded policies: the controller refuses unknown ones, and a
	// policy that comes back keeps its halt until it is clear.
	names := make([]string, 0, len(w.control.Policies))
	for n := range w.control.Policies {
		if w.loaded[n] {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		if ready(w.control.Policies[n], n) {
			out = append(out, Change{Actor: ActorGuardian, Source: ActorGuardian, Reason: reason, Policy: n})
		}
	}
	return out
}

// Delivery is one webhook delivery of Alertmanager.
type Delivery struct {
	// Alertmanager names the configured Alertmanager that sent it. Empty
	// when the sender did not say: its alerts then count for the alert
	// wires of every Alertmanager, which errs on the side of halting.
	Alertmanager string
	// Receiver is the receiver in Alertmanager's route, for the log.
	Receiver         string
	Firing, Resolved []Alert
}

// Ingest takes alerts that Alertmanager delivered through its webhook and
// evaluates at once, so that a route with group_wait 0s halts without
// waiting for the next poll. A firing alert is kept until it is resolved
// or has not been repeated for twice stale_after; the polls carry it
// after that.
func (w *Watcher) Ingest(ctx context.Context, d Delivery) {
	now := w.clk.Now()
	w.mu.Lock()
	w.hold(d, now)
	halts, reports := w.evaluate(now)
	w.mu.Unlock()
	w.log.Debug("webhook alerts", "alertmanager", d.Alertmanager, "receiver", d.Receiver,
		"firing", len(d.Firing), "resolved", len(d.Resolved), "halts", len(halts))
	w.dispatch(ctx, halts)
	w.report(reports)
}

func webhookKey(from string, a Alert) string { return from + "|" + alertKey(a) }

// Allow tells the scheduler whether a new fault of p may start: not while
// a global wire or one of p's own is tripped, unreadable, failing, or not
// read yet (fail closed), nor while an SLO start gate (min_budget_left)
// is closed.
func (w *Watcher) Allow(_ context.Context, p *policies.Policy) (bool, string) {
	now := w.clk.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expireHeld(now)
	scope := ""
	if p != nil {
		scope = p.Name
		if !p.HaltOn.Empty() && !w.loaded[p.Name] {
			// A disabled policy's wires are not read (tumult inject can
			// still ask for it); a fault must not start under wires that
			// nobody watches.
			return false, fmt.Sprintf("the trip wires of policy %s are not watched: the guardian reads a policy's halt_on only while it is enabled", p.Name)
		}
	}
	for _, wr := range w.wires {
		if wr.scope != "" && wr.scope != scope {
			continue
		}
		if v := w.judge(wr, now); v.block != "" {
			if wr.scope != "" {
				return false, "policy trip wire: " + v.block
			}
			return false, v.block
		}
	}
	return true, ""
}

// Status returns every trip wire and its source, global ones first.
func (w *Watcher) Status() []SourceStatus {
	now := w.clk.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.expireHeld(now)
	out := make([]SourceStatus, 0, len(w.wires))
	for _, wr := range w.wires {
		v := w.judge(wr, now)
		st := SourceStatus{
			Name:    wr.src.name,
			Kind:    wr.kind,
			Scope:   wr.scopeName(),
			Up:      wr.src.readOK(),
			Tripped: v.tripped,
			Detail:  v.detail,
		}
		if wr.src.everOK {
			st.LastRead = wr.src.lastOK
		}
		if wr.src.lastErr != nil {
			st.LastError = wr.src.lastErr.Error()
		}
		if st.Detail == "" && v.block != "" {
			st.Detail = v.block
		}
		out = append(out, st)
	}
	return out
}
