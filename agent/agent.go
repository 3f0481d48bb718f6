package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/api/server"
	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/internal/crash"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/scheduler"
)

// Options configure an Agent.
type Options struct {
	Config *config.Config
	Logger hclog.Logger
	Clock  clock.Clock
	// Registry takes the metrics; a fresh one when nil.
	Registry *prometheus.Registry
	// Listener serves the API; when nil the agent listens on
	// Config.HTTP.Address.
	Listener net.Listener
	// Targets replaces the Docker and Nomad drivers (tests).
	Targets scheduler.Targets
	// Prober checks that endpoints answer; default the drivers' own ping.
	// With Targets set and no Prober, endpoints are not checked.
	Prober EndpointProber
	// StopTimeout bounds the restore of running faults at shutdown
	// (default 60s).
	StopTimeout time.Duration
	// NoGuardianWarning is logged at start when no trip wire exists.
	Dev bool
	// LogSink, when the logger writes through one, is counted in
	// tumult_log_write_errors_total.
	LogSink *LogSink
	// ReloadTimeout bounds one reading of the policy files (default
	// DefaultReloadTimeout); see reload.
	ReloadTimeout time.Duration
}

// Agent is the tumult daemon.
type Agent struct {
	opts   Options
	cfg    *config.Config
	log    hclog.Logger
	clock  clock.Clock
	reg    *prometheus.Registry
	ledger ledger.Ledger
	// ha is set with a consul block: the shared ledger's election and
	// control watch. Without it this replica always leads.
	ha      *highAvailability
	targets scheduler.Targets
	engine  *scheduler.Engine
	control *guardian.Controller
	guard   Guard
	watcher *guardian.Watcher
	metrics *metrics
	// endpoints knows whether each Docker engine and Nomad cluster answers.
	endpoints *endpointMonitor
	tokens    *server.Tokens

	mu  sync.Mutex
	set *policies.Set
	// lastReload is the last policy load's result, for status.
	lastReload *api.ReloadStatus
	// reloading holds a token while a reload reads the files: one load
	// at a time, so an older set never lands after a newer one.
	reloading chan struct{}

	listener net.Listener
	server   *http.Server
	teardown []step
}

// step is one teardown step, run in reverse order by shutdown.
type step struct {
	name string
	fn   func(context.Context) error
}

// New opens the ledger and builds the agent. It does not start anything.
func New(opts Options) (*Agent, error) {
	cfg := opts.Config
	if cfg == nil {
		return nil, errors.New("agent: a config is required")
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	opts.Logger = TimeSafe(opts.Logger)
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = time.Minute
	}
	if opts.ReloadTimeout <= 0 {
		opts.ReloadTimeout = DefaultReloadTimeout
	}
	a := &Agent{opts: opts, cfg: cfg, log: opts.Logger, clock: opts.Clock, reg: opts.Registry, set: &policies.Set{},
		reloading: make(chan struct{}, 1)}
	ok := false
	defer func() {
		if !ok {
			a.shutdown(context.Background())
		}
	}()

	if cfg.HTTP.TokensFile != "" {
		t, err := server.LoadTokens(cfg.HTTP.TokensFile)
		if err != nil {
			return nil, err
		}
		if w := t.Warning(); w != "" {
			a.log.Warn(w)
		}
		a.tokens = &t
	}
	schedLedger, err := a.openLedger()
	if err != nil {
		return nil, err
	}

	prober := opts.Prober
	if opts.Targets != nil {
		a.targets = opts.Targets
	} else {
		ts := newTargetSet(cfg, a.log)
		a.targets = ts
		a.onStop("close drivers", func(context.Context) error { return ts.Close() })
		if prober == nil {
			prober = ts
		}
	}
	a.endpoints = newEndpointMonitor(endpointsOf(cfg), prober, a.clock, a.log.Named("endpoints"), a.reg)

	a.metrics = newMetrics(a.reg, newLiveCollector(a.ledger, a.policies, a.clock.Now))
	if sink := opts.LogSink; sink != nil {
		a.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tumult_log_write_errors_total",
			Help: "Log lines lost because the log output failed (its reader went away, a full disk); the agent goes on."},
			func() float64 { return float64(sink.Failed()) }))
	}
	srcs, err := newSources(cfg, a.log)
	if err != nil {
		return nil, err
	}
	a.engine, err = scheduler.New(scheduler.Options{
		Ledger: schedLedger, Targets: a.targets, Guard: a, Control: a, Steady: SteadyOf(srcs.prometheus),
		Observer: observers{a.metrics, a}, Clock: a.clock,
		Seed: cfg.Seed, DryRun: cfg.DryRun, Logger: a.log.Named("scheduler"),
	})
	if err != nil {
		return nil, err
	}
	a.onStop("stop fault runs", func(context.Context) error { a.engine.Close(); return nil })
	a.control = guardian.NewController(guardian.ControllerOptions{
		Ledger: a.ledger, Restorer: replicaRestorer{a}, Clock: a.clock, Logger: a.log.Named("control"),
		Known: func(name string) bool { _, ok := a.policy(name); return ok },
		OnHalt: func(source string, _ int, took time.Duration) {
			a.metrics.halted(source, took)
		},
		FollowTimeout: opts.StopTimeout,
	})
	if err := a.newWatcher(srcs); err != nil {
		return nil, err
	}
	ok = true
	return a, nil
}

// sources are the clients of the config's alertmanager and prometheus
// blocks, by name.
type sources struct {
	alertmanager map[string]*alerting.Alertmanager
	prometheus   map[string]*alerting.Prometheus
}

func newSources(cfg *config.Config, log hclog.Logger) (sources, error) {
	s := sources{alertmanager: map[string]*alerting.Alertmanager{}, prometheus: map[string]*alerting.Prometheus{}}
	for _, am := range cfg.Alertmanagers {
		c, err := alerting.NewAlertmanager(alerting.AlertmanagerOptions{Name: am.Name, Address: am.Address, Logger: log, Ignore: guardian.IsAnnouncement})
		if err != nil {
			return s, fmt.Errorf("alertmanager %q: %w", am.Name, err)
		}
		s.alertmanager[am.Name] = c
	}
	for _, p := range cfg.Prometheus {
		c, err := alerting.NewPrometheus(alerting.PrometheusOptions{Name: p.Name, Address: p.Address, Logger: log})
		if err != nil {
			return s, fmt.Errorf("prometheus %q: %w", p.Name, err)
		}
		s.prometheus[p.Name] = c
	}
	return s, nil
}

// newWatcher builds the guardian's watcher over the configured sources.
func (a *Agent) newWatcher(srcs sources) error {
	cfg := a.cfg
	ams := map[string]guardian.AlertSource{}
	polls := map[string]time.Duration{}
	for _, am := range cfg.Alertmanagers {
		ams[am.Name] = AlertSourceOf(srcs.alertmanager[am.Name])
		polls[am.Name] = am.PollInterval
	}
	slos := map[string]guardian.SLOSource{}
	for name, p := range srcs.prometheus {
		slos[name] = SLOSourceOf(p)
	}
	var announce guardian.Announcer
	if cfg.Guardian.Announce != "" {
		announce = AnnouncerOf(srcs.alertmanager[cfg.Guardian.Announce])
	}
	var health guardian.ConsulHealth
	if a.ha != nil {
		health = a.ha.health
	}
	w, err := guardian.NewWatcher(guardian.WatcherOptions{
		Controller: a.control, Ledger: a.ledger, ActiveFaults: a.ledger.Active, Config: cfg.Guardian,
		Alertmanagers: ams, PollIntervals: polls, SLO: slos, Announcer: announce, Consul: health,
		// Read often enough that a healthy source never looks stale.
		SLOInterval:    readEvery(cfg.Guardian.StaleAfter, 10*time.Second),
		ConsulInterval: readEvery(cfg.Guardian.StaleAfter, 2*time.Second),
		Clock:          a.clock, Logger: a.log,
		OnSource: func(name string, up, tripped bool) {
			a.metrics.sourceUp.WithLabelValues(name).Set(b2f(up))
			a.metrics.tripped.WithLabelValues(name).Set(b2f(tripped))
		},
	})
	if err != nil {
		return fmt.Errorf("guardian: %w", err)
	}
	a.watcher = w
	a.guard = GuardOf(w)
	return nil
}

// readEvery is how often to read a source so that at least three reads
// fall within stale_after, between 1s and max.
func readEvery(staleAfter, max time.Duration) time.Duration {
	d := staleAfter / 3
	if d > max {
		d = max
	}
	if d < time.Second {
		d = time.Second
	}
	return d
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// observers fans scheduler events out.
type observers []scheduler.Observer

func (os observers) Observe(e scheduler.Event) {
	for _, o := range os {
		o.Observe(e)
	}
}

// Observe lets the guardian announce a fault the moment it starts or ends.
func (a *Agent) Observe(e scheduler.Event) {
	if a.watcher != nil && (e.Kind == scheduler.EventInjected || e.Kind == scheduler.EventFinished) {
		a.watcher.Nudge()
	}
}

func (a *Agent) onStop(name string, fn func(context.Context) error) {
	a.teardown = append(a.teardown, step{name, fn})
}

// shutdown runs the teardown steps in reverse order, once.
func (a *Agent) shutdown(ctx context.Context) error {
	var errs []error
	for i := len(a.teardown) - 1; i >= 0; i-- {
		s := a.teardown[i]
		if err := s.fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
		}
	}
	a.teardown = nil
	return errors.Join(errs...)
}

// PauseFailed implements scheduler.Control through the controller, which
// is built after the engine it restores through.
func (a *Agent) PauseFailed(ctx context.Context, policy, reason string) error {
	return a.control.PauseFailed(ctx, policy, reason)
}

// Allow implements scheduler.Guard through whatever guard is installed.
func (a *Agent) Allow(ctx context.Context, p *policies.Policy) (bool, string) {
	return a.currentGuard().Allow(ctx, p)
}

// currentGuard is the guard installed by newWatcher.
func (a *Agent) currentGuard() Guard {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.guard
}

// The agent is the scheduler's guard and its way to the controller.
var (
	_ scheduler.Guard   = (*Agent)(nil)
	_ scheduler.Control = (*Agent)(nil)
)

func (a *Agent) policies() []*policies.Policy {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.set.Policies
}

func (a *Agent) policy(name string) (*policies.Policy, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.set.ByName(name)
}

// Addr is the address the API listens on, once Run has started it.
func (a *Agent) Addr() string {
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// Run starts the agent and blocks until ctx ends, then stops it: no new
// faults, running faults restored, ledger flushed. started, when not nil,
// is closed once the API serves and earlier faults are recovered.
//
// Recovery comes first: the faults an earlier run left (it crashed, was
// killed, ran out of memory) are restored from what the ledger holds
// before the policies are read and checked, so that a slow policy check
// never keeps a member down. Scheduling starts once they are all back.
//
// A panic in any goroutine the agent started (see package crash), or in
// Run itself, ends Run the way a stop does, restores included, and Run
// then returns the panic as its error.
func (a *Agent) Run(ctx context.Context, started chan<- struct{}) (err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer crash.Handle(func(p crash.Panic) {
		a.log.Error("panic: stopping in order, restoring every running fault", "where", p.Where,
			"panic", fmt.Sprint(p.Value), "stack", string(p.Stack))
		cancel(p)
	})()
	var wg sync.WaitGroup
	defer func() {
		if v := recover(); v != nil {
			p := crash.Panic{Where: "agent: run", Value: v, Stack: debug.Stack()}
			a.log.Error("panic: stopping in order, restoring every running fault", "where", p.Where,
				"panic", fmt.Sprint(p.Value), "stack", string(p.Stack))
			cancel(p)
		}
		wg.Wait()
		var p crash.Panic
		if errors.As(context.Cause(ctx), &p) {
			err = errors.Join(err, fmt.Errorf("stopped after a %w", p))
		}
		sctx, stop := context.WithTimeout(context.Background(), a.opts.StopTimeout+10*time.Second)
		defer stop()
		if serr := a.shutdown(sctx); serr != nil {
			a.log.Error("shutdown", "error", serr)
		}
	}()

	recovered := make(chan error, 1)
	if a.ha == nil {
		// Earlier faults first: restored from the ledger alone, while
		// the policies load; nothing is scheduled until every
		// unfinished record is restored.
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := errors.New("recovery ended in a panic")
			defer func() { recovered <- err }()
			defer crash.Recover("agent: recovery")
			err = a.recover(ctx)
		}()
	} else {
		recovered <- nil
	}
	if res, err := a.reload(ctx, "start"); err != nil {
		a.restoreAtStop(<-recovered)
		return err
	} else if !res.OK {
		a.restoreAtStop(<-recovered)
		return fmt.Errorf("policies in %s have errors:\n  %s", a.cfg.PolicyDir, strings.Join(res.Errors, "\n  "))
	}
	if err := a.serve(); err != nil {
		a.restoreAtStop(<-recovered)
		return err
	}
	// The guardian watches from the start, recovery included, and stops
	// last: it may still have to halt while running faults are restored.
	guardCtx, stopGuard := context.WithCancel(context.Background())
	guardDone := make(chan struct{})
	go func() {
		defer crash.Recover("guardian: watcher")
		defer close(guardDone)
		_ = a.watcher.Run(guardCtx)
	}()
	a.onStop("stop guardian", func(ctx context.Context) error {
		stopGuard()
		select {
		case <-guardDone:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	if a.cfg.DryRun {
		a.log.Warn("dry run: decisions are made and recorded, nothing is injected")
	}
	// What holds tumult back is said before anything else happens, so
	// that on-call reading the start of the log sees it.
	if _, err := a.control.ReportCarriedOver(ctx); err != nil {
		a.log.Error("cannot tell whether a halt or pause carried over", "error", err)
	}
	a.endpoints.Check(ctx, a.policies())
	if err := <-recovered; err != nil {
		// Stopped (or a panic) before every earlier fault was back: try
		// once more within the stop timeout; what is left stays in the
		// ledger for the next start.
		a.restoreAtStop(err)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	wg.Add(4)
	go func() { defer wg.Done(); defer crash.Recover("agent: policy watch"); a.watchPolicies(ctx) }()
	go func() {
		defer wg.Done()
		defer crash.Recover("agent: endpoint checks")
		a.endpoints.Run(ctx, a.policies)
	}()
	go func() { defer wg.Done(); defer crash.Recover("agent: pause expiry"); a.control.RunExpiry(ctx) }()
	if a.ha == nil {
		go func() { defer wg.Done(); defer crash.Recover("agent: scheduler"); a.lead(ctx, ctx) }()
	} else {
		go func() {
			defer wg.Done()
			defer crash.Recover("agent: election")
			a.ha.election.Run(ctx, func(lctx context.Context) {
				if err := a.recover(lctx); err != nil {
					a.log.Error("leading: recovery stopped", "error", err)
					return
				}
				a.lead(ctx, lctx)
			})
		}()
	}
	a.log.Info("tumult agent running", "address", a.Addr(), "policies", len(a.policies()), "replica", a.replica())
	if started != nil {
		close(started)
	}
	<-ctx.Done()
	a.log.Info("stopping: no new faults")
	return nil
}

// recover restores every fault the ledger holds as unfinished.
func (a *Agent) recover(ctx context.Context) error {
	a.log.Info("recovering unfinished faults")
	n, err := a.engine.Recover(ctx)
	if err != nil {
		return fmt.Errorf("recover unfinished faults: %w", err)
	}
	if n > 0 {
		a.log.Warn("restored faults left by an earlier run", "count", n)
	}
	return nil
}

// restoreAtStop restores whatever faults are still active before a Run
// that did not get to schedule returns; why is the error that ended it,
// if any. Bounded by StopTimeout; what is left stays in the ledger.
func (a *Agent) restoreAtStop(why error) {
	if a.ha != nil {
		return // only a leader restores, and this replica never led
	}
	if why != nil {
		a.log.Warn("recovery interrupted", "error", why)
	}
	rctx, cancel := context.WithTimeout(context.Background(), a.opts.StopTimeout)
	defer cancel()
	if n, err := a.engine.RestoreAll(rctx, "agent stopping", nil); err != nil {
		a.log.Error("restore at stop; the records stay active and the next start restores them", "error", err)
	} else if n > 0 {
		a.log.Info("restored running faults", "count", n)
	}
}

// lead schedules until lctx ends: the agent stops (ctx ends too) or, with
// Consul, leadership is lost. On a stop it restores the faults it runs
// before it lets go of the lock; on a lost lock it leaves them to the new
// leader, which restores every unfinished record first.
func (a *Agent) lead(ctx, lctx context.Context) {
	if a.ha != nil {
		a.log.Info("leading: scheduling faults", "replica", a.replica())
		crash.Go("agent: control watch", func() { a.ha.store.WatchControl(lctx, a.control.Follow) })
	}
	a.schedule(lctx)
	if ctx.Err() == nil {
		a.log.Warn("leadership lost: stopped injecting; the new leader restores running faults")
		return
	}
	a.log.Info("restoring running faults", "timeout", a.opts.StopTimeout)
	rctx, cancel := context.WithTimeout(context.Background(), a.opts.StopTimeout)
	defer cancel()
	if n, err := a.engine.RestoreAll(rctx, "agent stopping", nil); err != nil {
		a.log.Error("restore at stop; the records stay active and the next start restores them", "error", err)
	} else if n > 0 {
		a.log.Info("restored running faults", "count", n)
	}
}

// warnedBefore reports whether the last load gave this warning too.
func (a *Agent) warnedBefore(line string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastReload != nil && slices.Contains(a.lastReload.Warnings, line)
}

// ReloadOn reloads the policies, saying what asked for it ("SIGHUP") in
// the status's last reload. Like every reload it is bounded (see reload):
// it returns at the latest when ctx ends or Options.ReloadTimeout passes.
func (a *Agent) ReloadOn(ctx context.Context, trigger string) (api.ReloadResult, error) {
	return a.reload(ctx, trigger)
}

// schedule runs the scheduler until lctx ends. A panic in it is reported
// like any other (the agent stops), and lead goes on to restore.
func (a *Agent) schedule(lctx context.Context) {
	defer crash.Recover("scheduler: run loop")
	_ = a.engine.Run(lctx)
}

// load (re)reads the policies. On errors it keeps the set it has. The
// result is kept for status, with its trigger.
func (a *Agent) load(trigger string) (res api.ReloadResult) {
	// Callers go through reload, whose token lets one load run at a time.
	defer func() {
		a.mu.Lock()
		a.lastReload = &api.ReloadStatus{At: a.clock.Now(), Trigger: trigger, ReloadResult: res}
		a.mu.Unlock()
	}()
	set, ds := policies.LoadPolicies([]string{a.cfg.PolicyDir}, policies.LoadOptions{Config: a.cfg, Now: a.clock.Now()})
	policies.Sort(ds)
	for _, d := range ds {
		line := strings.TrimPrefix(policies.Location(d)+": "+policies.Message(d), ": ")
		if d.Severity == hcl.DiagError {
			res.Errors = append(res.Errors, line)
			a.log.Error("policy error", "where", policies.Location(d), "error", policies.Message(d))
		} else {
			res.Warnings = append(res.Warnings, line)
			// A warning the last load gave already is not news: each
			// reload of an unchanged file would repeat it.
			if !a.warnedBefore(line) {
				a.log.Warn("policy warning", "where", policies.Location(d), "warning", policies.Message(d))
			}
		}
	}
	if ds.HasErrors() {
		a.metrics.reloadOK.Set(0)
		a.mu.Lock()
		res.Policies = len(a.set.Policies)
		a.mu.Unlock()
		a.log.Error("policies not (re)loaded: keeping the last good set", "errors", len(res.Errors))
		return res
	}
	a.mu.Lock()
	a.set = set
	a.mu.Unlock()
	a.engine.SetPolicies(set.Policies)
	a.currentGuard().SetPolicies(set.Policies)
	a.metrics.loaded.Set(float64(len(set.Policies)))
	a.metrics.reloadOK.Set(1)
	res.OK, res.Policies = true, len(set.Policies)
	a.log.Info("policies loaded", "count", len(set.Policies), "files", len(set.Files))
	return res
}

// watchPolicies reloads when a file in policy_dir changes, once the
// changes have settled for a moment (editors write in several steps).
func (a *Agent) watchPolicies(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		a.log.Warn("cannot watch policy_dir; reload with SIGHUP or POST /v1/reload", "error", err)
		return
	}
	defer w.Close()
	if err := w.Add(a.cfg.PolicyDir); err != nil {
		a.log.Warn("cannot watch policy_dir; reload with SIGHUP or POST /v1/reload", "dir", a.cfg.PolicyDir, "error", err)
		return
	}
	const settle = 300 * time.Millisecond
	var due <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if strings.HasSuffix(ev.Name, ".hcl") {
				due = time.After(settle)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			a.log.Warn("policy_dir watch", "error", err)
		case <-due:
			due = nil
			a.log.Info("policy files changed; reloading")
			_, _ = a.reload(ctx, "file change")
		}
	}
}
