package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// Options configure an Engine.
type Options struct {
	Ledger  Ledger
	Targets Targets
	// Guard allows or refuses new faults; nil allows all (no guardian).
	Guard Guard
	// Control pauses a policy whose experiment failed: the guardian's
	// controller, the one owner of the control state. Required.
	Control Control
	// Steady reads steady-state queries; required when a policy has one.
	Steady   SteadyState
	Observer Observer
	Clock    clock.Clock
	// Seed makes choices reproducible; 0 draws a random seed.
	Seed   int64
	Logger hclog.Logger
	// DryRun makes every policy a dry run.
	DryRun bool

	// RestoreParallelism bounds concurrent restores (default 32).
	RestoreParallelism int
	// RestoreTimeout bounds one restore attempt of one member (default 1m).
	RestoreTimeout time.Duration
	// VerifyInterval is how often recovery is checked (default 2s).
	VerifyInterval time.Duration
	// DefaultRecoverWithin applies to policies without steady_state
	// (default 5m).
	DefaultRecoverWithin time.Duration
	// NewID makes record IDs (default ledger.NewID).
	NewID func() string
}

// Engine schedules and carries out the faults of a set of policies.
type Engine struct {
	opts Options
	log  hclog.Logger

	mu       sync.Mutex
	policies []*policyState
	runs     map[string]*faultRun // by record ID
	rng      *rand.Rand           // member choice; guarded by mu
	seed     int64
	wake     chan struct{}

	// fleetLocks serialise decisions per endpoint, so that two policies
	// on one fleet never both see room for one more fault.
	fleetLocks sync.Map // endpoint key → *sync.Mutex

	// gate is held for reading from the control check to the end of an
	// injection, and for writing by RestoreAll: once a halt has been
	// recorded (or a Hold is on) and RestoreAll holds the gate, no
	// injection is under way and none can start.
	gate sync.RWMutex
	// holds counts the Holds not yet released, by policy ("" for every
	// policy): while one covers a policy, its decisions that reach the
	// gate skip, as they would under a recorded halt.
	holdMu sync.Mutex
	holds  map[string]int
	// injectCtx is cancelled by RestoreAll, aborting injections in flight.
	injectMu     sync.Mutex
	injectCtx    context.Context
	injectCancel context.CancelFunc

	// sem bounds concurrent restores.
	sem chan struct{}
	// writes batches the fault runs' record updates.
	writes *writes
	// runCtx is cancelled by Close: runs stop retrying and leave their
	// records active for the next start.
	runCtx    context.Context
	runCancel context.CancelFunc
	wg        sync.WaitGroup
}

type policyState struct {
	p        *policies.Policy
	arrivals *policies.Arrivals
	next     time.Time // next arrival; zero: none found yet
	retryAt  time.Time // when to look for an arrival again if none found
	last     string
	lastAt   time.Time
}

// New makes an engine. Call SetPolicies, Recover, then Run.
func New(opts Options) (*Engine, error) {
	if opts.Ledger == nil || opts.Targets == nil || opts.Control == nil {
		return nil, errors.New("scheduler: a ledger, targets and a control are required")
	}
	if opts.Guard == nil {
		opts.Guard = allowAll{}
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.RestoreParallelism <= 0 {
		opts.RestoreParallelism = 32
	}
	if opts.RestoreTimeout <= 0 {
		opts.RestoreTimeout = time.Minute
	}
	if opts.VerifyInterval <= 0 {
		opts.VerifyInterval = 2 * time.Second
	}
	if opts.DefaultRecoverWithin <= 0 {
		opts.DefaultRecoverWithin = 5 * time.Minute
	}
	if opts.NewID == nil {
		opts.NewID = ledger.NewID
	}
	seed := opts.Seed
	if seed == 0 {
		seed = rand.Int64()
	}
	e := &Engine{
		opts:  opts,
		log:   opts.Logger,
		runs:  map[string]*faultRun{},
		holds: map[string]int{},
		rng:   rand.New(rand.NewPCG(uint64(seed), 0x7475_6d75_6c74)),
		seed:  seed,
		wake:  make(chan struct{}, 1),
		sem:   make(chan struct{}, opts.RestoreParallelism),
	}
	e.writes = &writes{l: opts.Ledger}
	e.injectCtx, e.injectCancel = context.WithCancel(context.Background())
	e.runCtx, e.runCancel = context.WithCancel(context.Background())
	return e, nil
}

// SetPolicies replaces the policies the engine schedules. Arrivals are
// drawn afresh from now; faults under way are not touched.
func (e *Engine) SetPolicies(ps []*policies.Policy) {
	e.mu.Lock()
	old := map[string]*policyState{}
	for _, s := range e.policies {
		old[s.p.Name] = s
	}
	e.policies = e.policies[:0:0]
	for _, p := range ps {
		s := &policyState{p: p, arrivals: policies.NewArrivals(p, PolicyRand(e.seed, p.Name))}
		if o, ok := old[p.Name]; ok {
			s.last, s.lastAt = o.last, o.lastAt
		}
		e.policies = append(e.policies, s)
	}
	e.mu.Unlock()
	e.poke()
}

// Policy returns the loaded policy of that name.
func (e *Engine) Policy(name string) (*policies.Policy, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.policies {
		if s.p.Name == name {
			return s.p, true
		}
	}
	return nil, false
}

// Policies returns the loaded policies.
func (e *Engine) Policies() []*policies.Policy {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*policies.Policy, len(e.policies))
	for i, s := range e.policies {
		out[i] = s.p
	}
	return out
}

// PolicyInfo is what the engine knows of a policy's schedule.
type PolicyInfo struct {
	Next   time.Time
	Last   string
	LastAt time.Time
}

// Info returns the schedule state of a policy.
func (e *Engine) Info(name string) PolicyInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.policies {
		if s.p.Name == name {
			return PolicyInfo{Next: s.next, Last: s.last, LastAt: s.lastAt}
		}
	}
	return PolicyInfo{}
}

func (e *Engine) poke() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// horizon is how far ahead the engine looks for a policy's next arrival;
// lookAgain is how soon it looks again when it found none.
const (
	horizon   = 400 * 24 * time.Hour
	lookAgain = time.Hour
	// maxSleep bounds a wait so that clock jumps and reloads are noticed.
	maxSleep = time.Minute
)

// Run schedules faults until ctx ends. It does not recover earlier faults:
// call Recover first.
func (e *Engine) Run(ctx context.Context) error {
	for {
		now := e.opts.Clock.Now()
		wait := e.Step(ctx, now)
		if wait > maxSleep {
			wait = maxSleep
		}
		c, stop := e.opts.Clock.After(wait)
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-e.wake:
			stop()
		case <-c:
		}
	}
}

// Step makes every decision due at now and returns how long until the
// next one is due. Run calls it in a loop; tests call it directly.
func (e *Engine) Step(ctx context.Context, now time.Time) time.Duration {
	type due struct {
		s  *policyState
		at time.Time
	}
	var todo []due
	next := now.Add(maxSleep)
	e.mu.Lock()
	for _, s := range e.policies {
		if !s.p.Enabled {
			s.next = time.Time{}
			continue
		}
		if s.next.IsZero() {
			if now.Before(s.retryAt) {
				continue
			}
			at, ok := s.arrivals.Next(now, now.Add(horizon))
			if !ok {
				s.retryAt = now.Add(lookAgain)
				continue
			}
			s.next = at
		}
		if !s.next.After(now) {
			todo = append(todo, due{s, s.next})
			// The next gap starts from this arrival, or from now when the
			// engine fell behind (it was down, or the host slept), so that
			// missed arrivals are not made up in a burst.
			from := s.next
			if now.Sub(from) > s.p.Every.Mean {
				from = now
			}
			at, ok := s.arrivals.Next(from, now.Add(horizon))
			if !ok {
				s.next, s.retryAt = time.Time{}, now.Add(lookAgain)
			} else {
				s.next = at
			}
		}
		if !s.next.IsZero() && s.next.Before(next) {
			next = s.next
		}
	}
	e.mu.Unlock()
	for _, d := range todo {
		e.Decide(ctx, d.s.p, d.at)
	}
	return next.Sub(now)
}

// heldBack says why a decision is skipped under a pause or a halt: who,
// and the reason cut to skipReasonMax bytes. A skip is written at every
// decision for as long as the pause lasts; the whole reason stays in the
// control state, where status shows it.
func heldBack(eff ledger.PolicyControl) string {
	return fmt.Sprintf("%s by %s: %s", eff.State, cmp.Or(eff.Actor, "-"), excerpt(cmp.Or(eff.Reason, "-"), skipReasonMax))
}

// skipReasonMax bounds the part of a pause's or halt's reason a skip
// record repeats.
const skipReasonMax = 80

// excerpt cuts s to at most n bytes at a rune boundary, marking the cut.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Decide makes one decision for the policy at the given time: it checks
// every gate in order, and either injects a fault into one member chosen
// at random or records why it did not. It returns the record written.
func (e *Engine) Decide(ctx context.Context, p *policies.Policy, at time.Time) ledger.Record {
	rec, _ := e.decide(ctx, p, at, request{})
	return rec
}

// request is who asked for a decision, when it was not the scheduler's
// own arrival (tumult inject).
type request struct {
	actor, reason string
	// member, when set, is the one member to try (ID, ID prefix or name).
	member string
	// anyTime skips the window and freeze gate: every other gate applies.
	anyTime bool
}

// decide is Decide for a request. Its error is nil when a fault was
// injected (or its injection attempted and recorded), else ErrRefused or
// ErrUnknownMember wrapped with the gate's reason.
func (e *Engine) decide(ctx context.Context, p *policies.Policy, at time.Time, req request) (ledger.Record, error) {
	actor := req.actor
	if actor == "" {
		actor = "scheduler"
	}
	rec := ledger.Record{
		ID: e.opts.NewID(), Policy: p.Name, Actor: actor, ActorReason: req.reason, Fault: p.Fault,
		DryRun: e.opts.DryRun || p.DryRun, Phase: ledger.Intent, Decided: at,
	}
	log := e.log.With("policy", p.Name, "fault_id", rec.ID)
	refusal := ErrRefused
	skipRec := func(format string, args ...any) ledger.Record {
		rec.Phase, rec.Result, rec.Reason = ledger.Finished, ledger.Skipped, fmt.Sprintf(format, args...)
		rec.Finished = at
		if err := e.opts.Ledger.Begin(ctx, rec); err != nil {
			log.Error("record skipped decision", "error", err)
		}
		log.Info("skipped", "reason", rec.Reason, "actor", actor)
		e.noteLast(p.Name, "skipped: "+rec.Reason, at)
		e.opts.Observer.Observe(Event{Kind: EventSkipped, Record: rec})
		return rec
	}
	skip := func(format string, args ...any) (ledger.Record, error) {
		r := skipRec(format, args...)
		return r, fmt.Errorf("%w: %s", refusal, r.Reason)
	}

	if !req.anyTime && !p.OpenAt(at) {
		return skip("window closed")
	}
	ctrl, err := e.opts.Ledger.Control(ctx)
	if err != nil {
		return skip("read control state: %v", err)
	}
	if eff := ctrl.Effective(p.Name, at); eff.State != ledger.Armed {
		return skip("%s", heldBack(eff))
	}
	if ok, why := e.opts.Guard.Allow(ctx, p); !ok {
		return skip("guardian: %s", why)
	}
	if ss := p.SteadyState; ss != nil {
		if e.opts.Steady == nil {
			return skip("steady state: no Prometheus source to read it")
		}
		v, err := e.opts.Steady.Query(ctx, ss.Prometheus, ss.Query)
		if err != nil {
			return skip("steady state unreadable: %v", err)
		}
		if !ss.InBounds(v) {
			return skip("steady state out of bounds: %g not in %s", v, bounds(ss))
		}
	}
	target, err := e.target(p)
	if err != nil {
		return skip("%v", err)
	}

	unlock := e.lockFleet(p.Target)
	defer unlock()
	fleet, err := target.List(ctx, p.Target)
	if err != nil {
		return skip("list fleet: %v", err)
	}
	active, err := e.opts.Ledger.Active(ctx)
	if err != nil {
		return skip("read active faults: %v", err)
	}
	c := count(fleet, active)
	if len(fleet.Members) == 0 && fleet.Size == 0 {
		if fleet.Self > 0 {
			return skip("fleet is empty: only tumult itself matches the target")
		}
		return skip("fleet is empty: no member matches the target")
	}
	if allowed := p.Limits.MaxDisrupted.Of(fleet.Size); c.disrupted+1 > allowed {
		return skip("max_disrupted: %d of %d members disrupted, limit %s = %d", c.disrupted, fleet.Size, p.Limits.MaxDisrupted, allowed)
	}
	if c.healthy-1 < p.Limits.MinHealthy {
		return skip("min_healthy: %d healthy, a fault would leave %d, need %d", c.healthy, c.healthy-1, p.Limits.MinHealthy)
	}
	if max := p.Limits.MaxPerDay; max > 0 {
		n, err := e.opts.Ledger.CountSince(ctx, p.Name, p.DayStart(at))
		if err != nil {
			return skip("count today's faults: %v", err)
		}
		if n >= max {
			return skip("max_per_day: %d faults today, limit %d", n, max)
		}
	}
	var member targets.Member
	if req.member != "" {
		i, why := c.pick(fleet, req.member)
		if i < 0 {
			if why == "" {
				refusal = ErrUnknownMember
				return skip("member %q is not in the fleet of policy %s (%d members)", req.member, p.Name, len(fleet.Members))
			}
			return skip("member %s is not eligible: %s", req.member, why)
		}
		member = fleet.Members[i]
	} else {
		if len(c.eligible) == 0 {
			return skip("no eligible member: %s", c.why())
		}
		e.mu.Lock()
		member = fleet.Members[c.eligible[e.rng.IntN(len(c.eligible))]]
		e.mu.Unlock()
	}
	rec.Member = member
	log = log.With("member", member.Short())

	// From here the control state is re-read under the gate: a halt that
	// was recorded since the first check wins, and a halt recorded after
	// this point waits for the injection and then restores it.
	e.gate.RLock()
	defer e.gate.RUnlock()
	if why := e.heldBack(p.Name); why != "" {
		return skip("%s", why)
	}
	if ctrl, err := e.opts.Ledger.Control(ctx); err != nil {
		return skip("read control state: %v", err)
	} else if eff := ctrl.Effective(p.Name, at); eff.State != ledger.Armed {
		return skip("%s", heldBack(eff))
	}
	if req.anyTime {
		rec.AddStep(at, "asked by %s, outside the policy's windows: %s", actor, req.reason)
	}
	rec.AddStep(at, "chose %s among %d eligible (%d healthy of %d)", member.Short(), len(c.eligible), c.healthy, fleet.Size)
	if err := e.opts.Ledger.Begin(ctx, rec); err != nil {
		// Without a write-ahead record nothing may be injected.
		return skip("write-ahead record: %v", err)
	}

	injectCtx, done := e.injectContext(ctx)
	injectCtx, notes := targets.WithNotes(injectCtx)
	ierr := target.Inject(injectCtx, member, p.Fault)
	done()
	// What follows records a fault that may be in place: it must happen
	// even when the caller's context ends now (shutdown, lost leadership).
	wctx := context.WithoutCancel(ctx)
	now := e.opts.Clock.Now()
	if ierr != nil {
		log.Error("inject failed; restoring", "error", ierr)
		rec.Error = ierr.Error()
		if updated, err := e.opts.Ledger.Update(wctx, rec.ID, func(r *ledger.Record) error {
			r.AddStep(now, "inject failed: %v", ierr)
			r.Error = ierr.Error()
			return nil
		}); err == nil {
			rec = updated
		}
		e.noteLast(p.Name, "error: "+ierr.Error(), at)
		e.startRun(rec, p, target, now, "injection failed: "+ierr.Error())
		return rec, nil
	}
	restoreBy := now.Add(p.Fault.Hold())
	updated, err := e.opts.Ledger.Update(wctx, rec.ID, func(r *ledger.Record) error {
		r.Phase, r.Injected, r.RestoreBy = ledger.Injected, now, restoreBy
		r.Mechanism = notes.Mechanism()
		verb := "injected"
		if r.DryRun {
			verb = "dry run: would have injected"
		}
		if r.Mechanism != "" {
			r.AddStep(now, "%s %s into %s via %s", verb, describeFault(p.Fault), member.Short(), r.Mechanism)
		} else {
			r.AddStep(now, "%s %s into %s", verb, describeFault(p.Fault), member.Short())
		}
		return nil
	})
	if err != nil {
		// The fault is in but the ledger did not take it: restore at once
		// rather than hold a fault the ledger may not know about.
		log.Error("record injection failed; restoring at once", "error", err)
		e.startRun(rec, p, target, now, "ledger write failed: "+err.Error())
		return rec, nil
	}
	rec = updated
	msg := "injected"
	if rec.DryRun {
		msg = "dry run: would have injected"
	}
	log.Info(msg, "fault", p.Fault.Kind, "mechanism", rec.Mechanism, "restore_by", restoreBy.Format(time.RFC3339), "actor", actor)
	e.noteLast(p.Name, fmt.Sprintf("injected %s into %s", p.Fault.Kind, member.Short()), at)
	e.opts.Observer.Observe(Event{Kind: EventInjected, Record: rec})
	e.startRun(rec, p, target, restoreBy, "")
	return rec, nil
}

func (e *Engine) target(p *policies.Policy) (targets.Target, error) {
	t, err := e.opts.Targets.Target(p.Target.Driver, p.Target.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("target %s %q: %w", p.Target.Driver, p.Target.Endpoint, err)
	}
	if e.opts.DryRun || p.DryRun {
		return &targets.DryRun{Target: t}, nil
	}
	return t, nil
}

// targetFor finds the target of a record, for restores of records whose
// policy may be gone.
func (e *Engine) targetFor(rec ledger.Record) (targets.Target, error) {
	t, err := e.opts.Targets.Target(rec.Member.Driver, rec.Member.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("target %s %q: %w", rec.Member.Driver, rec.Member.Endpoint, err)
	}
	if rec.DryRun {
		return &targets.DryRun{Target: t}, nil
	}
	return t, nil
}

func (e *Engine) lockFleet(sel policies.Selector) func() {
	key := string(sel.Driver) + "/" + sel.Endpoint
	m, _ := e.fleetLocks.LoadOrStore(key, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// injectContext is ctx, also cancelled when a RestoreAll cancels the
// injections in flight. Call the returned function when done with it.
func (e *Engine) injectContext(ctx context.Context) (context.Context, func()) {
	e.injectMu.Lock()
	ic := e.injectCtx
	e.injectMu.Unlock()
	merged, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(ic, cancel)
	return merged, func() {
		stop()
		cancel()
	}
}

func (e *Engine) noteLast(policy, what string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.policies {
		if s.p.Name == policy {
			s.last, s.lastAt = what, at
		}
	}
}

// tally is a fleet seen against the active faults.
type tally struct {
	healthy   int   // healthy members without an active fault
	disrupted int   // fleet size minus healthy
	eligible  []int // indices into the fleet's members
	excluded  map[string]int
	busy      int
	held      map[string]bool // member keys with an active fault
}

func count(f targets.Fleet, active []ledger.Record) tally {
	held := make(map[string]bool, len(active))
	for _, r := range active {
		held[r.Member.Key()] = true
	}
	t := tally{excluded: map[string]int{}, held: held}
	for i, m := range f.Members {
		switch {
		case held[m.Key()]:
			t.busy++
		case !m.Healthy:
		default:
			t.healthy++
			if m.Excluded != "" {
				t.excluded[m.Excluded]++
			} else {
				t.eligible = append(t.eligible, i)
			}
		}
	}
	// Members missing from the listing (a replacement not yet placed)
	// count as disrupted too.
	t.disrupted = max(f.Size, len(f.Members)) - t.healthy
	return t
}

func (t tally) why() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(t.excluded)) {
		parts = append(parts, fmt.Sprintf("%d %s", t.excluded[k], k))
	}
	if t.busy > 0 {
		parts = append(parts, fmt.Sprintf("%d already disrupted", t.busy))
	}
	if len(parts) == 0 {
		return "the fleet is empty"
	}
	return strings.Join(parts, ", ")
}

func bounds(ss *policies.SteadyState) string {
	lo, hi := "-inf", "+inf"
	if ss.Min != nil {
		lo = fmt.Sprint(*ss.Min)
	}
	if ss.Max != nil {
		hi = fmt.Sprint(*ss.Max)
	}
	return "[" + lo + ", " + hi + "]"
}

func describeFault(f policies.FaultSpec) string {
	switch f.Kind {
	case policies.FaultKill, policies.FaultSignal:
		return fmt.Sprintf("%s (%s)", f.Kind, f.Signal)
	case policies.FaultPause:
		return fmt.Sprintf("pause for %s", policies.FormatDuration(f.Duration))
	case policies.FaultNetwork, policies.FaultPartition:
		return fmt.Sprintf("%s (%s) for %s", f.Kind, f.Network.Describe(f.Kind), policies.FormatDuration(f.Duration))
	case policies.FaultStress:
		return fmt.Sprintf("stress (%s) for %s", f.Stress.Describe(), policies.FormatDuration(f.Duration))
	}
	return string(f.Kind)
}

// Poke makes Run look at its policies again now, e.g. after a resume.
func (e *Engine) Poke() { e.poke() }
