//go:build integration

package integration

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
	consulledger "github.com/inferensys/tumult/ledger/consul"
	"github.com/inferensys/tumult/ledger/ledgertest"
)

// csOpen opens a Store on the test's Consul that the test closes at its
// end.
func csOpen(t *testing.T, c *harness.Consul, opts consulledger.Options) *consulledger.Store {
	t.Helper()
	opts.Client = c.Client()
	s, err := consulledger.Open(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func TestConsulLedgerConformance(t *testing.T) {
	c := harness.StartConsul(t)
	var n atomic.Int64
	ledgertest.Run(t,
		func(t *testing.T) ledger.Ledger {
			return csOpen(t, c, consulledger.Options{Prefix: fmt.Sprintf("conformance/%d/", n.Add(1))})
		},
		func(t *testing.T, old ledger.Ledger) ledger.Ledger {
			s := old.(*consulledger.Store)
			require.NoError(t, s.Close())
			return csOpen(t, c, consulledger.Options{Prefix: s.Prefix()})
		})
}

// TestConsulLedgerConformanceFenced runs the suite through a fenced view
// whose session holds the lock: fencing changes nothing else.
func TestConsulLedgerConformanceFenced(t *testing.T) {
	c := harness.StartConsul(t)
	sid, _, err := c.Client().Session().Create(&api.SessionEntry{Name: "fenced", TTL: "1h"}, nil)
	require.NoError(t, err)
	ok, _, err := c.Client().KV().Acquire(&api.KVPair{Key: "fenced/leader", Session: sid, Flags: api.LockFlagValue}, nil)
	require.NoError(t, err)
	require.True(t, ok)
	fence := csFence{key: "fenced/leader", session: sid}
	var n atomic.Int64
	ledgertest.Run(t,
		func(t *testing.T) ledger.Ledger {
			return csOpen(t, c, consulledger.Options{Prefix: fmt.Sprintf("fenced/%d/", n.Add(1))}).Fenced(fence)
		},
		func(t *testing.T, old ledger.Ledger) ledger.Ledger {
			s := old.(*consulledger.Store)
			require.NoError(t, s.Close())
			return csOpen(t, c, consulledger.Options{Prefix: s.Prefix()}).Fenced(fence)
		})
}

// csReplicas is one ledger made of several Stores on the same prefix —
// as several tumult replicas share one — that sends each call to the next
// Store in turn. Run through the conformance suite, its concurrent cases
// have replicas racing each other's check-and-set.
type csReplicas struct {
	stores []*consulledger.Store
	next   atomic.Uint64
}

func (r *csReplicas) pick() *consulledger.Store {
	return r.stores[(r.next.Add(1)-1)%uint64(len(r.stores))]
}

func (r *csReplicas) Control(ctx context.Context) (ledger.Control, error) {
	return r.pick().Control(ctx)
}

func (r *csReplicas) UpdateControl(ctx context.Context, fn func(*ledger.Control) error) (ledger.Control, error) {
	return r.pick().UpdateControl(ctx, fn)
}

func (r *csReplicas) Begin(ctx context.Context, rec ledger.Record) error {
	return r.pick().Begin(ctx, rec)
}

func (r *csReplicas) Update(ctx context.Context, id string, fn func(*ledger.Record) error) (ledger.Record, error) {
	return r.pick().Update(ctx, id, fn)
}

func (r *csReplicas) UpdateMany(ctx context.Context, ups []ledger.RecordUpdate) ([]ledger.Record, []error) {
	return r.pick().UpdateMany(ctx, ups)
}

func (r *csReplicas) Active(ctx context.Context) ([]ledger.Record, error) {
	return r.pick().Active(ctx)
}

func (r *csReplicas) History(ctx context.Context, q ledger.HistoryQuery) ([]ledger.Record, error) {
	return r.pick().History(ctx, q)
}

func (r *csReplicas) CountSince(ctx context.Context, policy string, since time.Time) (int, error) {
	return r.pick().CountSince(ctx, policy, since)
}

func (r *csReplicas) Close() error {
	var errs []error
	for _, s := range r.stores {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

func TestConsulLedgerConformanceTwoReplicas(t *testing.T) {
	c := harness.StartConsul(t)
	var n atomic.Int64
	open := func(t *testing.T, prefix string) ledger.Ledger {
		r := &csReplicas{}
		for range 2 {
			r.stores = append(r.stores, csOpen(t, c, consulledger.Options{Prefix: prefix}))
		}
		return r
	}
	ledgertest.Run(t,
		func(t *testing.T) ledger.Ledger { return open(t, fmt.Sprintf("replicas/%d/", n.Add(1))) },
		func(t *testing.T, old ledger.Ledger) ledger.Ledger {
			r := old.(*csReplicas)
			require.NoError(t, r.Close())
			return open(t, r.stores[0].Prefix())
		})
}

// TestConsulLedgerNoLostUpdateAcrossStores has two Stores, as two
// replicas, write the same control state and the same record at once;
// every write must survive.
func TestConsulLedgerNoLostUpdateAcrossStores(t *testing.T) {
	c := harness.StartConsul(t)
	a := csOpen(t, c, consulledger.Options{Prefix: "race/"})
	b := csOpen(t, c, consulledger.Options{Prefix: "race/"})
	require.NoError(t, a.Begin(t.Context(), ledger.Record{ID: "shared", Policy: "p", Phase: ledger.Intent}))

	const perStore = 60
	var wg sync.WaitGroup
	for i, s := range []*consulledger.Store{a, b} {
		wg.Go(func() {
			for j := range perStore {
				_, err := s.UpdateControl(t.Context(), func(c *ledger.Control) error {
					c.Reason = fmt.Sprintf("store %d write %d", i, j)
					return nil
				})
				if err != nil {
					t.Errorf("store %d: update control: %v", i, err)
					return
				}
				_, err = s.Update(t.Context(), "shared", func(r *ledger.Record) error {
					r.AddStep(time.Now(), "store %d write %d", i, j)
					return nil
				})
				if err != nil {
					t.Errorf("store %d: update record: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()

	ctl, err := b.Control(t.Context())
	require.NoError(t, err)
	require.Equal(t, uint64(2*perStore), ctl.Version, "every control update counted once")
	active, err := a.Active(t.Context())
	require.NoError(t, err)
	require.Len(t, active, 1)
	require.Len(t, active[0].Steps, 2*perStore, "every step of both stores is there")
	seen := map[string]bool{}
	for _, st := range active[0].Steps {
		require.False(t, seen[st.What], "step %q twice", st.What)
		seen[st.What] = true
	}
}

// csClock is a settable clock for retention tests.
type csClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *csClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *csClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestConsulLedgerRetention(t *testing.T) {
	c := harness.StartConsul(t)
	clk := &csClock{now: time.Date(2026, 10, 16, 9, 0, 0, 0, time.UTC)}
	opts := consulledger.Options{Prefix: "retention/", MaxHistory: 3, Retention: 24 * time.Hour, Now: clk.Now}
	s := csOpen(t, c, opts)
	ctx := t.Context()

	finish := func(id string) {
		t.Helper()
		require.NoError(t, s.Begin(ctx, ledger.Record{ID: id, Policy: "p", Phase: ledger.Intent}))
		_, err := s.Update(ctx, id, func(r *ledger.Record) error {
			r.Phase, r.Injected = ledger.Injected, clk.Now()
			return nil
		})
		require.NoError(t, err)
		_, err = s.Update(ctx, id, func(r *ledger.Record) error {
			r.Phase, r.Result = ledger.Finished, ledger.Passed
			return nil
		})
		require.NoError(t, err)
	}
	ids := func() []string {
		t.Helper()
		h, err := s.History(ctx, ledger.HistoryQuery{})
		require.NoError(t, err)
		var out []string
		for _, r := range h {
			out = append(out, r.ID)
		}
		return out
	}
	for i := 1; i <= 5; i++ {
		finish(fmt.Sprintf("r%d", i))
		clk.Add(time.Minute)
	}
	require.Equal(t, []string{"r5", "r4", "r3"}, ids(), "MaxHistory keeps the newest")
	require.NoError(t, s.Begin(ctx, ledger.Record{ID: "r1", Policy: "p", Phase: ledger.Intent}),
		"a pruned ID is free again, as in the bolt store")
	_, err := s.Update(ctx, "r1", func(r *ledger.Record) error {
		r.Phase, r.Result = ledger.Finished, ledger.Skipped
		return nil
	})
	require.NoError(t, err)

	n, err := s.CountSince(ctx, "p", time.Time{})
	require.NoError(t, err)
	require.Equal(t, 5, n, "injections stay countable after their records are pruned")

	// Two days on, Retention (1 day) and the 48h floor of the injection
	// index have both passed: the next finishing write prunes both.
	clk.Add(49 * time.Hour)
	finish("late")
	require.Equal(t, []string{"late"}, ids())
	n, err = s.CountSince(ctx, "p", time.Time{})
	require.NoError(t, err)
	require.Equal(t, 1, n)

	// Open prunes what accumulated; a second store sees the same state.
	clk.Add(49 * time.Hour)
	other := csOpen(t, c, opts)
	h, err := other.History(ctx, ledger.HistoryQuery{})
	require.NoError(t, err)
	require.Empty(t, h)
}

func TestConsulLedgerWatchControl(t *testing.T) {
	c := harness.StartConsul(t)
	leader := csOpen(t, c, consulledger.Options{Prefix: "watch/"})
	other := csOpen(t, c, consulledger.Options{Prefix: "watch/"})

	got := make(chan ledger.Control, 16)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		leader.WatchControl(ctx, func(c ledger.Control) { got <- c })
	}()
	next := func() ledger.Control {
		t.Helper()
		select {
		case c := <-got:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no control state delivered within 5s")
			return ledger.Control{}
		}
	}
	first := next()
	require.Equal(t, ledger.Armed, first.State, "the current state is delivered at once")
	require.Equal(t, uint64(0), first.Version)

	// Another replica halts: the watcher hears of it within a round trip.
	began := time.Now()
	_, err := other.UpdateControl(t.Context(), func(c *ledger.Control) error {
		c.State, c.Actor, c.Reason, c.Source = ledger.Halted, "guardian", "CheckoutDown", "main"
		return nil
	})
	require.NoError(t, err)
	halted := next()
	t.Logf("halt written by another replica reached the watcher after %s", time.Since(began).Round(time.Microsecond))
	require.Equal(t, ledger.Halted, halted.State)
	require.Equal(t, "CheckoutDown", halted.Reason)
	require.Equal(t, uint64(1), halted.Version)

	// Writes to other keys under the prefix do not call fn.
	require.NoError(t, other.Begin(t.Context(), ledger.Record{ID: "r1", Policy: "p", Phase: ledger.Intent}))
	_, err = other.UpdateControl(t.Context(), func(c *ledger.Control) error {
		c.State = ledger.Armed
		return nil
	})
	require.NoError(t, err)
	armed := next()
	require.Equal(t, uint64(2), armed.Version, "the record write in between delivered nothing")

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WatchControl did not return within 5s of its context ending")
	}
	require.Empty(t, got)
}

// csProbe records a replica's terms of leadership.
type csProbe struct {
	started chan time.Time
	ended   chan error
}

func newCSProbe() *csProbe {
	return &csProbe{started: make(chan time.Time, 16), ended: make(chan error, 16)}
}

func (p *csProbe) lead(ctx context.Context) {
	p.started <- time.Now()
	<-ctx.Done()
	p.ended <- context.Cause(ctx)
}

type csReplica struct {
	name   string
	e      *consulledger.Election
	probe  *csProbe
	cancel context.CancelFunc
	done   chan struct{}
}

// csRun starts an election for a replica; the test stops it at its end.
func csRun(t *testing.T, c *harness.Consul, name string, ttl, delay time.Duration) *csReplica {
	t.Helper()
	e, err := consulledger.NewElection(consulledger.ElectionOptions{
		Client: c.Client(), Key: "election/leader", SessionTTL: ttl, LockDelay: delay, Replica: name,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &csReplica{name: name, e: e, probe: newCSProbe(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		e.Run(ctx, r.probe.lead)
	}()
	t.Cleanup(r.stop)
	return r
}

// stop cancels the replica's Run and waits for it to return.
func (r *csReplica) stop() {
	r.cancel()
	<-r.done
}

// csFirstLeader waits for one of the replicas to lead and returns it and
// the others.
func csFirstLeader(t *testing.T, within time.Duration, rs ...*csReplica) (*csReplica, []*csReplica) {
	t.Helper()
	var leader *csReplica
	require.Eventually(t, func() bool {
		for _, r := range rs {
			if len(r.probe.started) > 0 {
				leader = r
				return true
			}
		}
		return false
	}, within, 10*time.Millisecond, "no replica leads")
	var others []*csReplica
	for _, r := range rs {
		if r != leader {
			others = append(others, r)
		}
	}
	return leader, others
}

func csWaitStarted(t *testing.T, r *csReplica, within time.Duration) time.Time {
	t.Helper()
	select {
	case at := <-r.probe.started:
		return at
	case <-time.After(within):
		t.Fatalf("replica %s did not start leading within %s", r.name, within)
		return time.Time{}
	}
}

func csLeader(t *testing.T, e *consulledger.Election) string {
	t.Helper()
	name, err := e.Leader(t.Context())
	require.NoError(t, err)
	return name
}

const (
	csTTL   = 2 * time.Second
	csDelay = 2 * time.Second
	// csTakeover bounds a takeover after a session is invalidated: Consul
	// invalidates a session up to twice its TTL after the last renewal,
	// then keeps the lock for lock-delay, and consul/api retries a lock
	// refused for lock-delay every api.DefaultLockRetryTime (5s).
	csTakeover = 2*csTTL + csDelay + api.DefaultLockRetryTime + 2*time.Second
)

func TestConsulElectionOneLeaderAndGracefulHandover(t *testing.T) {
	c := harness.StartConsul(t)
	a := csRun(t, c, "replica-a", csTTL, csDelay)
	b := csRun(t, c, "replica-b", csTTL, csDelay)

	leader, others := csFirstLeader(t, 10*time.Second, a, b)
	follower := others[0]
	<-leader.probe.started
	require.Equal(t, leader.name, csLeader(t, follower.e), "every replica reads the same leader")
	require.True(t, leader.e.Leading())
	// Across several TTLs the leader keeps its session renewed and the
	// follower stays out.
	require.Never(t, func() bool { return len(follower.probe.started) > 0 || follower.e.Leading() },
		3*csTTL, 50*time.Millisecond, "the follower must not lead while the leader holds the lock")

	// A clean stop releases the lock without lock-delay.
	began := time.Now()
	leader.stop()
	require.False(t, leader.e.Leading())
	require.ErrorIs(t, <-leader.probe.ended, context.Canceled, "lead ended because Run's context did")
	at := csWaitStarted(t, follower, csDelay+csTTL)
	t.Logf("graceful handover: follower leads %s after the leader's stop began", at.Sub(began).Round(time.Millisecond))
	require.Equal(t, follower.name, csLeader(t, follower.e))
}

func TestConsulElectionSessionDestroyed(t *testing.T) {
	c := harness.StartConsul(t)
	a := csRun(t, c, "replica-a", csTTL, csDelay)
	b := csRun(t, c, "replica-b", csTTL, csDelay)
	leader, others := csFirstLeader(t, 10*time.Second, a, b)
	follower := others[0]
	<-leader.probe.started

	pair, _, err := c.Client().KV().Get("election/leader", nil)
	require.NoError(t, err)
	require.NotNil(t, pair)
	require.NotEmpty(t, pair.Session)
	info, _, err := c.Client().Session().Info(pair.Session, nil)
	require.NoError(t, err)
	require.Equal(t, leader.name, info.Name, "the session is named after the replica")
	require.Equal(t, api.SessionBehaviorDelete, info.Behavior)
	require.Equal(t, csDelay, info.LockDelay)

	// What Consul does when the leader's node or session dies.
	began := time.Now()
	_, err = c.Client().Session().Destroy(pair.Session, nil)
	require.NoError(t, err)

	select {
	case cause := <-leader.probe.ended:
		t.Logf("old leader's context cancelled %s after its session was destroyed", time.Since(began).Round(time.Millisecond))
		require.ErrorIs(t, cause, consulledger.ErrLeadershipLost)
		require.Less(t, time.Since(began), 2*time.Second, "the old leader stops at once")
	case <-time.After(5 * time.Second):
		t.Fatal("the old leader's context was not cancelled within 5s of losing its session")
	}

	// Lock-delay holds both replicas off; then exactly one leads.
	var next *csReplica
	require.Eventually(t, func() bool {
		for _, r := range []*csReplica{leader, follower} {
			if len(r.probe.started) > 0 {
				next = r
				return true
			}
		}
		return false
	}, csTakeover, 10*time.Millisecond, "nobody took over")
	took := time.Since(began)
	t.Logf("takeover after session destroy: %s (lock-delay %s)", took.Round(time.Millisecond), csDelay)
	require.GreaterOrEqual(t, took, csDelay, "lock-delay was honoured")
	require.Equal(t, next.name, csLeader(t, a.e))
}

// TestConsulElectionCrashedLeader has a holder that stops renewing without
// releasing, as a kill -9 leaves it: the follower takes over once Consul
// invalidates the session (within twice its TTL) and lock-delay passes.
func TestConsulElectionCrashedLeader(t *testing.T) {
	c := harness.StartConsul(t)
	kv, sessions := c.Client().KV(), c.Client().Session()
	sid, _, err := sessions.Create(&api.SessionEntry{
		Name: "crashed", TTL: csTTL.String(), LockDelay: csDelay, Behavior: api.SessionBehaviorDelete,
	}, nil)
	require.NoError(t, err)
	ok, _, err := kv.Acquire(&api.KVPair{Key: "election/leader", Value: []byte("crashed"), Session: sid, Flags: api.LockFlagValue}, nil)
	require.NoError(t, err)
	require.True(t, ok)
	crashed := time.Now() // never renewed from here on

	b := csRun(t, c, "replica-b", csTTL, csDelay)
	require.Equal(t, "crashed", csLeader(t, b.e))
	at := csWaitStarted(t, b, csTakeover)
	took := at.Sub(crashed)
	t.Logf("takeover after the holder stopped renewing: %s (TTL %s, lock-delay %s)", took.Round(time.Millisecond), csTTL, csDelay)
	require.GreaterOrEqual(t, took, csTTL+csDelay, "not before the session expired and lock-delay passed")
	require.Equal(t, "replica-b", csLeader(t, b.e))
}

// TestConsulElectionLeaderLosesConsul: a leader whose Consul goes away
// stops leading within a TTL, and Run returns promptly when stopped.
func TestConsulElectionLeaderLosesConsul(t *testing.T) {
	c := harness.StartConsul(t)
	a := csRun(t, c, "replica-a", csTTL, csDelay)
	csWaitStarted(t, a, 10*time.Second)

	began := time.Now()
	c.Stop()
	select {
	case cause := <-a.probe.ended:
		t.Logf("leader stopped %s after Consul went away", time.Since(began).Round(time.Millisecond))
		require.ErrorIs(t, cause, consulledger.ErrLeadershipLost)
	case <-time.After(csTTL + 3*time.Second):
		t.Fatalf("the leader still leads %s after Consul went away", csTTL+3*time.Second)
	}
	stopped := make(chan struct{})
	go func() { a.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of its context ending while Consul was away")
	}
}

func TestConsulHealthSource(t *testing.T) {
	c := harness.StartConsul(t)
	agent := c.Client().Agent()
	h, err := alerting.NewConsulHealth(alerting.ConsulHealthOptions{Client: c.Client(), Trips: guardian.ConsulCheckTrips})
	require.NoError(t, err)
	ctx := t.Context()

	_, err = h.Critical(ctx, "checkout")
	require.ErrorIs(t, err, alerting.ErrServiceNotRegistered)

	require.NoError(t, agent.ServiceRegister(&api.AgentServiceRegistration{
		ID: "checkout-1", Name: "checkout", Address: "127.0.0.1", Port: 8080,
		Check: &api.AgentServiceCheck{CheckID: "checkout-1-ttl", Name: "checkout heartbeat", TTL: "10m"},
	}))
	require.NoError(t, agent.ServiceRegister(&api.AgentServiceRegistration{
		ID: "checkout-2", Name: "checkout", Address: "127.0.0.1", Port: 8081,
		Check: &api.AgentServiceCheck{CheckID: "checkout-2-ttl", Name: "checkout heartbeat", TTL: "10m", Status: api.HealthPassing},
	}))
	critical := func(want ...string) {
		t.Helper()
		var got []string
		require.Eventually(t, func() bool {
			got, err = h.Critical(ctx, "checkout")
			return err == nil && fmt.Sprint(got) == fmt.Sprint(want)
		}, 10*time.Second, 20*time.Millisecond, "want critical %q; last %q, %v", want, got, err)
	}
	// A TTL check starts critical until it is first passed.
	critical(`checkout heartbeat (checkout-1) on tumult-test`)
	require.NoError(t, agent.UpdateTTL("checkout-1-ttl", "ok", api.HealthPassing))
	critical()
	require.NoError(t, agent.UpdateTTL("checkout-2-ttl", "502 from /health", api.HealthCritical))
	critical(`checkout heartbeat (checkout-2) on tumult-test`)
	require.NoError(t, agent.UpdateTTL("checkout-2-ttl", "ok", api.HealthPassing))
	critical()
	require.NoError(t, agent.UpdateTTL("checkout-1-ttl", "slow", api.HealthWarning))
	critical()

	c.Stop()
	_, err = h.Critical(ctx, "checkout")
	require.Error(t, err, "Consul unreachable is an error, which the guardian treats as tripped")
	require.NotErrorIs(t, err, alerting.ErrServiceNotRegistered)

	c.Start()
	require.Eventually(t, func() bool {
		_, err = h.Critical(ctx, "checkout")
		return err == nil || errors.Is(err, alerting.ErrServiceNotRegistered)
	}, 10*time.Second, 20*time.Millisecond, "Consul is back: %v", err)
}

// csFence is a Fence that claims a fixed session, as a leader that has not
// yet noticed losing its lock would.
type csFence struct{ key, session string }

func (f csFence) Holder() (string, string, bool) { return f.key, f.session, f.session != "" }

// TestConsulLedgerFencedWrites: record writes through a fenced view go
// through only while the fence's session holds the leader lock.
func TestConsulLedgerFencedWrites(t *testing.T) {
	c := harness.StartConsul(t)
	s := csOpen(t, c, consulledger.Options{Prefix: "fence/"})
	ctx := t.Context()
	a := csRun(t, c, "replica-a", csTTL, csDelay)
	e, err := consulledger.NewElection(consulledger.ElectionOptions{Client: c.Client(), Key: "election/leader", Replica: "never"})
	require.NoError(t, err)
	csWaitStarted(t, a, 10*time.Second)

	_, err = s.Fenced(e).UpdateControl(ctx, func(c *ledger.Control) error { c.Reason = "anyone may"; return nil })
	require.NoError(t, err, "control state writes are not fenced")
	require.ErrorIs(t, s.Fenced(e).Begin(ctx, ledger.Record{ID: "f0", Policy: "p", Phase: ledger.Intent}), consulledger.ErrNotLeader,
		"a replica that does not lead cannot begin a record")

	leader := s.Fenced(a.e)
	require.NoError(t, leader.Begin(ctx, ledger.Record{ID: "f1", Policy: "p", Phase: ledger.Intent}))
	_, err = leader.Update(ctx, "f1", func(r *ledger.Record) error { r.Phase = ledger.Injected; return nil })
	require.NoError(t, err)

	key, sid, ok := a.e.Holder()
	require.True(t, ok)
	require.Equal(t, "election/leader", key)
	stale := s.Fenced(csFence{key: key, session: sid})
	_, err = c.Client().Session().Destroy(sid, nil)
	require.NoError(t, err)

	// Even a replica that still believes it leads is refused by Consul.
	require.ErrorIs(t, stale.Begin(ctx, ledger.Record{ID: "f2", Policy: "p", Phase: ledger.Intent}), consulledger.ErrNotLeader)
	_, err = stale.Update(ctx, "f1", func(r *ledger.Record) error { r.Phase = ledger.Restoring; return nil })
	require.ErrorIs(t, err, consulledger.ErrNotLeader)
	require.Eventually(t, func() bool { _, _, ok := a.e.Holder(); return !ok }, 2*time.Second, 10*time.Millisecond)
	require.ErrorIs(t, leader.Begin(ctx, ledger.Record{ID: "f3", Policy: "p", Phase: ledger.Intent}), consulledger.ErrNotLeader)

	active, err := s.Active(ctx)
	require.NoError(t, err)
	require.Len(t, active, 1)
	require.Equal(t, ledger.Injected, active[0].Phase, "the refused update changed nothing")
}
