//go:build integration

package integration

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	consulapi "github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
	consulledger "github.com/inferensys/tumult/ledger/consul"
)

// These tests run two real tumult agents (subprocesses) that share one
// ledger on a real Consul agent (`consul agent -dev`) and inject faults
// into real Docker containers. Each test has its own Consul prefix, its
// own run label and its own fleet.

const (
	// Every HA test and the failover benchmark run the consul block's
	// defaults: haTTL and haLockDelay are its liveness_ttl and lock_delay.
	haTTL       = config.DefaultLivenessTTL
	haLockDelay = config.DefaultLockDelay
	// haTakeoverBound is how long a follower may take to lead after the
	// leader died: the dead leader's liveness check turns critical one TTL
	// after its last update (updated every TTL/4), which invalidates its
	// session at once; lock-delay then holds the lock back; the follower
	// retries a lock refused for lock-delay every 250ms at most, and the
	// status is polled every 50ms. The slack is for a loaded machine: the
	// figure itself is BenchmarkHAFailover's. Without the check, Consul's
	// own session expiry (up to 2×session_ttl, 20s) would make it fail.
	haTakeoverBound = haTTL + haLockDelay + 5*time.Second
)

// haConfig is the consul block shared by the replicas of one test: the
// defaults but for the address and the prefix.
func haConfig(c *harness.Consul, prefix string) string {
	return fmt.Sprintf(`
consul {
  address = %q
  prefix  = %q
}
`, c.Addr(), prefix)
}

// haStart starts n agents on the same Consul prefix with the same
// policies; extra is appended to every agent's config.
func haStart(ctx context.Context, t testing.TB, c *harness.Consul, prefix string, n int, policies, extra string) []*harness.Agent {
	t.Helper()
	agents := make([]*harness.Agent, n)
	for i := range agents {
		agents[i] = harness.StartAgent(ctx, t, harness.AgentOptions{
			Policies:    map[string]string{"ha.hcl": policies},
			ExtraConfig: haConfig(c, prefix) + extra,
		})
	}
	return agents
}

// haNote shows what a string holds when it is formatted, not when it is
// passed: a failed require.Eventually formats its message after the last
// try, so that the message can say what the last try saw.
type haNote struct{ s *string }

func (n haNote) String() string { return *n.s }

// haLeaders returns the running agents whose status says they lead, and
// their statuses by agent address.
func haLeaders(ctx context.Context, agents []*harness.Agent) ([]*harness.Agent, map[string]api.Status, error) {
	var leaders []*harness.Agent
	st := map[string]api.Status{}
	for _, a := range agents {
		if !a.Running() {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		s, err := a.Client.Status(sctx)
		cancel()
		if err != nil {
			return nil, nil, fmt.Errorf("status of %s: %w", a.Addr, err)
		}
		st[a.Addr] = s
		if s.Leader {
			leaders = append(leaders, a)
		}
	}
	return leaders, st, nil
}

// haWaitLeader waits until exactly one running agent leads and returns it
// and the other running agents.
func haWaitLeader(ctx context.Context, t testing.TB, within time.Duration, agents ...*harness.Agent) (*harness.Agent, []*harness.Agent) {
	t.Helper()
	var leader *harness.Agent
	var last string
	require.Eventually(t, func() bool {
		ls, _, err := haLeaders(ctx, agents)
		if err != nil {
			last = err.Error()
			return false
		}
		last = fmt.Sprintf("%d leaders", len(ls))
		if len(ls) != 1 {
			return false
		}
		leader = ls[0]
		return true
	}, within, 100*time.Millisecond, "exactly one replica should lead within %s (last: %s)", within, haNote{&last})
	var others []*harness.Agent
	for _, a := range agents {
		if a != leader && a.Running() {
			others = append(others, a)
		}
	}
	return leader, others
}

// haRecords returns every record of the shared ledger through an agent's
// API: the whole history and the active faults.
func haRecords(ctx context.Context, c *api.Client) ([]ledger.Record, error) {
	h, err := c.History(ctx, 0, "", 0)
	if err != nil {
		return nil, err
	}
	f, err := c.Faults(ctx)
	if err != nil {
		return nil, err
	}
	return append(h, f...), nil
}

// haOpenLedger opens the shared ledger on Consul directly, as a replica
// would, to read it after the agents stopped.
// haAtRest checks, once every agent has stopped, that every member runs
// and no record of the shared ledger is active (msgAndArgs say why it
// must not be), and returns the finished history.
func haAtRest(ctx context.Context, t testing.TB, cli *client.Client, c *harness.Consul, prefix string, ids []string, msgAndArgs ...any) []ledger.Record {
	t.Helper()
	ok, why := haAllUp(ctx, cli, ids)
	require.True(t, ok, why)
	store := haOpenLedger(ctx, t, c, prefix)
	active, err := store.Active(ctx)
	require.NoError(t, err)
	require.Empty(t, active, msgAndArgs...)
	all, err := store.History(ctx, ledger.HistoryQuery{})
	require.NoError(t, err)
	return all
}

func haOpenLedger(ctx context.Context, t testing.TB, c *harness.Consul, prefix string) *consulledger.Store {
	t.Helper()
	s, err := consulledger.Open(ctx, consulledger.Options{Client: c.Client(), Prefix: prefix})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// haEvent is one Docker event of a container.
type haEvent struct {
	ID     string
	Action string
	At     time.Time
}

// haDockerLog records the Docker events of a set of containers as they
// happen. A live stream, not a replay: the engine replays past events
// from a buffer of its last 256, which other tests on the same engine
// can overrun.
type haDockerLog struct {
	cli    *client.Client
	mu     sync.Mutex
	evs    []haEvent
	err    error
	cancel context.CancelFunc
	done   chan struct{}
}

// haWatchDocker starts recording the containers' events; the recording
// stops when the test ends.
func haWatchDocker(ctx context.Context, t testing.TB, cli *client.Client, ids []string) *haDockerLog {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	args := []filters.KeyValuePair{filters.Arg("type", string(events.ContainerEventType))}
	for _, id := range ids {
		args = append(args, filters.Arg("container", id))
	}
	msgs, errs := cli.Events(ctx, events.ListOptions{Filters: filters.NewArgs(args...)})
	l := &haDockerLog{cli: cli, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for {
			select {
			case m := <-msgs:
				l.mu.Lock()
				l.evs = append(l.evs, haEvent{ID: m.Actor.ID, Action: string(m.Action), At: time.Unix(0, m.TimeNano)})
				l.mu.Unlock()
			case err := <-errs:
				l.mu.Lock()
				if ctx.Err() == nil {
					l.err = err
				}
				l.mu.Unlock()
				return
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-l.done })
	return l
}

// Sync makes sure the recording holds every event up to now: it causes an
// "update" event on the container marker (a no-op update) and waits until
// the stream delivers it; the engine sends events in order.
func (l *haDockerLog) Sync(ctx context.Context, t testing.TB, marker string) {
	t.Helper()
	updates := func() int {
		l.mu.Lock()
		defer l.mu.Unlock()
		n := 0
		for _, e := range l.evs {
			if e.ID == marker && e.Action == "update" {
				n++
			}
		}
		return n
	}
	before := updates()
	_, err := l.cli.ContainerUpdate(ctx, marker, container.UpdateConfig{})
	require.NoError(t, err, "update %s to mark the docker event stream", marker)
	require.Eventually(t, func() bool { return updates() > before }, 10*time.Second, 20*time.Millisecond,
		"the docker event stream should deliver the marker event")
	l.mu.Lock()
	defer l.mu.Unlock()
	require.NoError(t, l.err, "docker event stream")
}

// Events returns the recorded events from since on, oldest first.
func (l *haDockerLog) Events(since time.Time) []haEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []haEvent
	for _, e := range l.evs {
		if !e.At.Before(since) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b haEvent) int { return a.At.Compare(b.At) })
	return out
}

// haCount counts the events of one action per container.
func haCount(evs []haEvent, action string) map[string]int {
	n := map[string]int{}
	for _, e := range evs {
		if e.Action == action {
			n[e.ID]++
		}
	}
	return n
}

// haMaxDisrupted replays the events and returns the largest number of
// the containers that were disrupted at the same moment: paused (pause
// until unpause) or down (die until start).
func haMaxDisrupted(evs []haEvent, ids []string) int {
	in := map[string]bool{}
	for _, id := range ids {
		in[id] = true
	}
	paused, down := map[string]bool{}, map[string]bool{}
	most := 0
	for _, e := range evs {
		if !in[e.ID] {
			continue
		}
		switch e.Action {
		case "pause":
			paused[e.ID] = true
		case "unpause":
			delete(paused, e.ID)
		case "die":
			down[e.ID] = true
		case "start":
			delete(down, e.ID)
		}
		n := 0
		for _, id := range ids {
			if paused[id] || down[id] {
				n++
			}
		}
		most = max(most, n)
	}
	return most
}

// haAllUp reports whether every container runs unpaused, and names the
// first that does not.
func haAllUp(ctx context.Context, cli *client.Client, ids []string) (bool, string) {
	for _, id := range ids {
		info, err := cli.ContainerInspect(ctx, id)
		if err != nil {
			return false, fmt.Sprintf("inspect %s: %v", id, err)
		}
		if !harness.Running(info) {
			return false, fmt.Sprintf("%s is %s (paused %v)", info.Name, info.State.Status, info.State.Paused)
		}
	}
	return true, ""
}

// haInjectedSteps counts the "injected …" lines of a record's audit: one
// per injection.
func haInjectedSteps(r ledger.Record) int {
	n := 0
	for _, s := range r.Steps {
		if strings.HasPrefix(s.What, "injected ") {
			n++
		}
	}
	return n
}

// haCheckRecords asserts what "no fault injected twice" means in the
// ledger: IDs are unique, every injected record was injected exactly once
// and nothing else was, and no member held two faults at once.
func haCheckRecords(t testing.TB, recs []ledger.Record) {
	t.Helper()
	seen := map[string]bool{}
	byMember := map[string][]ledger.Record{}
	for _, r := range recs {
		require.False(t, seen[r.ID], "record ID %s appears twice", r.ID)
		seen[r.ID] = true
		if r.Injected.IsZero() {
			require.Zero(t, haInjectedSteps(r), "record %s was not injected but its audit says so: %+v", r.ID, r.Steps)
			continue
		}
		require.Equal(t, 1, haInjectedSteps(r), "record %s: injections in its audit: %+v", r.ID, r.Steps)
		byMember[r.Member.ID] = append(byMember[r.Member.ID], r)
	}
	end := func(r ledger.Record) time.Time {
		if r.Finished.IsZero() {
			return time.Now().Add(time.Hour) // still active
		}
		return r.Finished
	}
	for member, rs := range byMember {
		slices.SortFunc(rs, func(a, b ledger.Record) int { return a.Injected.Compare(b.Injected) })
		for i := 1; i < len(rs); i++ {
			require.False(t, rs[i].Injected.Before(end(rs[i-1])),
				"member %s held two faults at once: %s (injected %s, finished %s) and %s (injected %s)",
				member, rs[i-1].ID, rs[i-1].Injected.Format(time.RFC3339Nano), rs[i-1].Finished.Format(time.RFC3339Nano),
				rs[i].ID, rs[i].Injected.Format(time.RFC3339Nano))
		}
	}
}

// haCheckDocker asserts that Docker saw exactly the injections the ledger
// holds: per member, one pause event per pause record and one stop event
// per stop record that was injected. A record left at intent by a killed
// leader may or may not have reached Docker, so each such record allows
// one more event.
func haCheckDocker(t testing.TB, recs []ledger.Record, evs []haEvent) {
	t.Helper()
	type key struct{ member, kind string }
	want, slack := map[key]int{}, map[key]int{}
	for _, r := range recs {
		k := key{r.Member.ID, string(r.Fault.Kind)}
		switch {
		case !r.Injected.IsZero():
			want[k]++
		case r.Member.ID != "" && (strings.Contains(r.Reason, "recovered at start") || r.Error != ""):
			// Left at intent by a crash, or an injection whose call was
			// cut short by the stop: the engine may have acted on it, and
			// both were restored as if it had.
			slack[k]++
		}
	}
	for _, kind := range []string{"pause", "stop"} {
		got := haCount(evs, kind)
		members := map[string]bool{}
		for id := range got {
			members[id] = true
		}
		for k := range want {
			if k.kind == kind {
				members[k.member] = true
			}
		}
		for m := range members {
			k := key{m, kind}
			require.True(t, got[m] >= want[k] && got[m] <= want[k]+slack[k],
				"member %s: docker saw %d %s events, the ledger holds %d injected %s records (and %d left at intent or cut short)",
				m, got[m], kind, want[k], kind, slack[k])
		}
	}
}

// haMemberIDs are the IDs of the containers.
func haMemberIDs(cs ...[]harness.Container) []string {
	var ids []string
	for _, c := range cs {
		for _, m := range c {
			ids = append(ids, m.ID)
		}
	}
	return ids
}

// haRegisterService registers a service with a TTL check on the Consul
// agent and passes the check. It returns the check's ID.
func haRegisterService(t testing.TB, c *harness.Consul, name string) string {
	t.Helper()
	check := name + "-ttl"
	require.NoError(t, c.Client().Agent().ServiceRegister(&consulapi.AgentServiceRegistration{
		ID: name, Name: name, Port: 8080,
		Check: &consulapi.AgentServiceCheck{CheckID: check, Name: name + " ttl", TTL: "10m"},
	}))
	require.NoError(t, c.Client().Agent().UpdateTTL(check, "ok", consulapi.HealthPassing))
	return check
}

// haGuardian is a guardian block that halts on a critical check of the
// service and trips when it cannot read Consul for 3s.
func haGuardian(service string) string {
	return fmt.Sprintf(`
guardian {
  halt_on {
    consul_service { service = %q }
  }
  stale_after = "3s"
}
`, service)
}

// haHeldFaults is the policy pair of the crash and halt tests: a pause of
// 60s into one fleet and a stop restored after 60s into another, one
// member at a time each, arrivals every second.
func haHeldFaults(prefix string, pLabels, sLabels map[string]string) string {
	return agPolicies(
		agPolicy{Name: prefix + "-pause", Labels: pLabels, Fault: `"pause" { duration = "60s" }`, Mean: "1s", MinHealthy: 1},
		agPolicy{Name: prefix + "-stop", Labels: sLabels, Fault: `"stop" {
    timeout       = "1s"
    restore_after = "60s"
  }`, Mean: "1s", MinHealthy: 1},
	)
}

// haWaitHeld waits until both policies hold a fault, in the ledger and in
// Docker, and returns the active records.
func haWaitHeld(ctx context.Context, t testing.TB, cli *client.Client, c *api.Client, within time.Duration, pausePolicy, stopPolicy string) []ledger.Record {
	t.Helper()
	var active []ledger.Record
	require.Eventually(t, func() bool {
		f, err := c.Faults(ctx)
		if err != nil {
			return false
		}
		held := map[string]bool{}
		for _, r := range f {
			if r.Phase != ledger.Injected {
				continue
			}
			info, err := cli.ContainerInspect(ctx, r.Member.ID)
			if err != nil {
				return false
			}
			switch r.Policy {
			case pausePolicy:
				held[r.Policy] = info.State.Paused
			case stopPolicy:
				held[r.Policy] = !info.State.Running
			}
		}
		active = f
		return held[pausePolicy] && held[stopPolicy]
	}, within, 200*time.Millisecond, "a pause and a stop fault should be held, in the ledger and in Docker")
	return active
}

func TestHAOneLeaderInjects(t *testing.T) {
	cli := harness.RequireDocker(t)
	c := harness.StartConsul(t)
	ctx := agCtx(t, 4*time.Minute)
	run := harness.Unique("ha-one")
	prefix := run + "/"
	labels := map[string]string{runLabel: run, "tumult.enable": "true"}
	fleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 4, Labels: labels})
	ids := haMemberIDs(fleet)
	dlog := haWatchDocker(ctx, t, cli, ids)
	began := time.Now()
	agents := haStart(ctx, t, c, prefix, 2, agPolicies(
		agPolicy{Name: "ha1-pause", Labels: labels, Fault: `"pause" { duration = "2s" }`, Mean: "1s", Min: "500ms", MaxDisrupted: "1", MinHealthy: 1},
	), "")

	leader, others := haWaitLeader(ctx, t, 30*time.Second, agents...)
	require.Len(t, others, 1)
	follower := others[0]

	// Consul agrees: the lock is held, and its value names the leader.
	lst, err := leader.Client.Status(ctx)
	require.NoError(t, err)
	pair, _, err := c.Client().KV().Get(prefix+"leader", nil)
	require.NoError(t, err)
	require.NotNil(t, pair, "no leader lock under %s", prefix)
	require.NotEmpty(t, pair.Session, "the leader lock is not held")
	require.Equal(t, lst.Replica, string(pair.Value))

	require.Eventually(t, func() bool {
		recs, err := haRecords(ctx, follower.Client)
		if err != nil {
			return false
		}
		n := 0
		for _, r := range recs {
			if !r.Injected.IsZero() {
				n++
			}
		}
		return n >= 3
	}, 45*time.Second, 250*time.Millisecond, "the leader should inject three faults within 45s")

	// For 6s: the same single leader; the follower decides nothing (its
	// scheduler has no last decision) while the leader does; the ledger
	// never holds more than max_disrupted faults.
	err = agPoll(6*time.Second, 250*time.Millisecond, func() error {
		ls, st, err := haLeaders(ctx, agents)
		if err != nil {
			return err
		}
		if len(ls) != 1 || ls[0] != leader {
			return fmt.Errorf("%d leaders, want only %s", len(ls), leader.Addr)
		}
		for _, p := range st[follower.Addr].Policies {
			if p.Last != "" {
				return fmt.Errorf("the follower decided for %s: %s", p.Name, p.Last)
			}
		}
		for _, p := range st[leader.Addr].Policies {
			if p.Last == "" {
				return fmt.Errorf("the leader has no decision for %s", p.Name)
			}
		}
		if n := len(st[follower.Addr].Faults); n > 1 {
			return fmt.Errorf("%d faults active, max_disrupted is 1", n)
		}
		return nil
	})
	require.NoError(t, err)

	// Stop the follower first, then the leader (which restores what it
	// holds), so that the ledger and Docker can be compared at rest.
	_, err = follower.Stop(30 * time.Second)
	require.NoError(t, err)
	_, err = leader.Stop(30 * time.Second)
	require.NoError(t, err)
	all := haAtRest(ctx, t, cli, c, prefix, ids)
	haCheckRecords(t, all)
	dlog.Sync(ctx, t, ids[0])
	evs := dlog.Events(began)
	haCheckDocker(t, all, evs)
	require.LessOrEqual(t, haMaxDisrupted(evs, ids), 1, "docker saw more members paused at once than max_disrupted")
	injected := 0
	for _, r := range all {
		if !r.Injected.IsZero() {
			injected++
		}
	}
	require.Equal(t, injected, haSum(haCount(evs, "pause")), "every pause docker saw has one injected record, and no other")
	t.Logf("%d records, %d faults injected by the leader %s; docker saw %d pauses", len(all), injected, lst.Replica, haSum(haCount(evs, "pause")))
}

func haSum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// haFailover is what a leader's kill -9 cost, each from the moment the
// SIGKILL was sent.
type haFailover struct {
	// Takeover: until the follower's status said it leads (polled every
	// 50ms).
	Takeover time.Duration
	// Recovering: until the new leader began restoring the first record
	// the dead leader left unfinished (its "restoring" step): tumult's
	// own part of a failover.
	Recovering time.Duration
	// Restored: until the last record the dead leader left unfinished was
	// finished by the new leader (the records' Finished).
	Restored time.Duration
	// SlowestRestore: the longest restore of one such record, from its
	// "restoring" step to Finished: mostly Docker's own time (a start of
	// a stopped container, an unpause), the floor under Restored −
	// Recovering.
	SlowestRestore time.Duration
	// Injecting: until the new leader injected a fault it decided after
	// the kill (the first such record's Injected).
	Injecting time.Duration
}

// haKillLeader kills the leader with SIGKILL and waits, each within its
// bound, until the follower leads, has finished every record in orphans,
// and has injected a new fault for each of the policies. It returns the
// times and every record of the ledger at the end.
func haKillLeader(ctx context.Context, t testing.TB, leader, follower *harness.Agent, orphans []ledger.Record, policies ...string) (haFailover, []ledger.Record) {
	t.Helper()
	var m haFailover
	killed := time.Now()
	leader.Kill()

	require.Eventually(t, func() bool {
		sctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		st, err := follower.Client.Status(sctx)
		if err == nil && st.Leader {
			m.Takeover = time.Since(killed)
			return true
		}
		return false
	}, haTakeoverBound, 50*time.Millisecond,
		"the follower should lead within liveness_ttl + lock_delay + 5s of slack = %s of the leader's kill -9", haTakeoverBound)

	var recs []ledger.Record
	var last string
	require.Eventually(t, func() bool {
		all, err := haRecords(ctx, follower.Client)
		if err != nil {
			last = err.Error()
			return false
		}
		recs = all
		byID := map[string]ledger.Record{}
		for _, r := range all {
			byID[r.ID] = r
		}
		var restored, began time.Time
		var slowest time.Duration
		for _, o := range orphans {
			r := byID[o.ID]
			if r.Phase != ledger.Finished {
				last = fmt.Sprintf("record %s is %s", o.ID, r.Phase)
				return false
			}
			if r.Finished.After(restored) {
				restored = r.Finished
			}
			for _, st := range r.Steps {
				if strings.HasPrefix(st.What, "restoring") && st.At.After(killed) {
					if began.IsZero() || st.At.Before(began) {
						began = st.At
					}
					slowest = max(slowest, r.Finished.Sub(st.At))
					break
				}
			}
		}
		var first time.Time
		injected := map[string]bool{}
		for _, r := range all {
			if r.Decided.After(killed) && !r.Injected.IsZero() {
				injected[r.Policy] = true
				if first.IsZero() || r.Injected.Before(first) {
					first = r.Injected
				}
			}
		}
		for _, p := range policies {
			if !injected[p] {
				last = "no fault of " + p + " injected since the kill"
				return false
			}
		}
		m.Restored, m.Injecting = restored.Sub(killed), first.Sub(killed)
		if !began.IsZero() {
			m.Recovering, m.SlowestRestore = began.Sub(killed), slowest
		}
		return true
	}, haTakeoverBound+30*time.Second, 100*time.Millisecond,
		"the new leader should restore the orphaned faults and inject again (last: %s)", haNote{&last})
	return m, recs
}

func TestHALeaderKill9FollowerTakesOver(t *testing.T) {
	cli := harness.RequireDocker(t)
	c := harness.StartConsul(t)
	ctx := agCtx(t, 5*time.Minute)
	run := harness.Unique("ha-kill")
	prefix := run + "/"
	pLabels := map[string]string{runLabel: run, "app": "p", "tumult.enable": "true"}
	sLabels := map[string]string{runLabel: run, "app": "s", "tumult.enable": "true"}
	pFleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-p", N: 3, Labels: pLabels})
	sFleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-s", N: 3, Labels: sLabels})
	ids := haMemberIDs(pFleet, sFleet)
	dlog := haWatchDocker(ctx, t, cli, ids)
	began := time.Now()
	agents := haStart(ctx, t, c, prefix, 2, haHeldFaults("ha2", pLabels, sLabels), "")
	leader, others := haWaitLeader(ctx, t, 30*time.Second, agents...)
	follower := others[0]
	lst, err := leader.Client.Status(ctx)
	require.NoError(t, err)
	fst, err := follower.Client.Status(ctx)
	require.NoError(t, err)

	held := haWaitHeld(ctx, t, cli, follower.Client, 45*time.Second, "ha2-pause", "ha2-stop")
	before, err := haRecords(ctx, follower.Client)
	require.NoError(t, err)
	killed := time.Now()
	m, _ := haKillLeader(ctx, t, leader, follower, held, "ha2-pause", "ha2-stop")
	t.Logf("kill -9 of %s: %s led after %s, orphaned faults finished after %s, injecting again after %s (liveness_ttl %s, lock_delay %s)",
		lst.Replica, fst.Replica, m.Takeover.Round(time.Millisecond), m.Restored.Round(time.Millisecond), m.Injecting.Round(time.Millisecond), haTTL, haLockDelay)

	// Consul names the new leader.
	pair, _, err := c.Client().KV().Get(prefix+"leader", nil)
	require.NoError(t, err)
	require.NotNil(t, pair)
	require.Equal(t, fst.Replica, string(pair.Value))

	// Docker saw each orphaned fault undone after the kill.
	dlog.Sync(ctx, t, ids[0])
	evs := dlog.Events(killed)
	for _, r := range held {
		if r.Phase != ledger.Injected {
			continue
		}
		undo := "unpause"
		if r.Policy == "ha2-stop" {
			undo = "start"
		}
		require.True(t, slices.ContainsFunc(evs, func(e haEvent) bool { return e.ID == r.Member.ID && e.Action == undo }),
			"docker saw no %s of %s after the kill", undo, r.Member.Short())
	}

	// The new leader decides; SIGTERM then restores what it holds, so that
	// the ledger and Docker can be compared at rest.
	nst, err := follower.Client.Status(ctx)
	require.NoError(t, err)
	require.True(t, nst.Leader)
	for _, p := range nst.Policies {
		require.NotEmpty(t, p.Last, "the new leader has no decision for %s", p.Name)
	}
	_, err = follower.Stop(30 * time.Second)
	require.NoError(t, err)
	all := haAtRest(ctx, t, cli, c, prefix, ids, "no fault may stay active after the new leader stopped")
	byID := map[string]ledger.Record{}
	for _, r := range all {
		byID[r.ID] = r
	}
	for _, r := range before {
		require.Contains(t, byID, r.ID, "record %s from before the kill is lost", r.ID)
	}
	for _, r := range held {
		got := byID[r.ID]
		require.Equal(t, ledger.Restored, got.Result, "orphaned record %s: %s", r.ID, got.Reason)
		require.Contains(t, got.Reason, "recovered at start", "orphaned record %s", r.ID)
		require.True(t, got.Finished.After(killed), "orphaned record %s finished before the kill", r.ID)
	}
	haCheckRecords(t, all)
	dlog.Sync(ctx, t, ids[0])
	evs = dlog.Events(began)
	haCheckDocker(t, all, evs)
	require.LessOrEqual(t, haMaxDisrupted(evs, haMemberIDs(pFleet)), 1, "members of the pause fleet disrupted at once")
	require.LessOrEqual(t, haMaxDisrupted(evs, haMemberIDs(sFleet)), 1, "members of the stop fleet disrupted at once")
	after := 0
	for _, r := range all {
		if r.Decided.After(killed) && !r.Injected.IsZero() {
			after++
		}
	}
	t.Logf("%d records (%d before the kill), %d faults injected by the new leader", len(all), len(before), after)
}

func TestHAPauseThroughFollowerStopsLeader(t *testing.T) {
	cli := harness.RequireDocker(t)
	c := harness.StartConsul(t)
	ctx := agCtx(t, 4*time.Minute)
	run := harness.Unique("ha-pause")
	labels := map[string]string{runLabel: run, "tumult.enable": "true"}
	harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 3, Labels: labels})
	agents := haStart(ctx, t, c, run+"/", 2, agPolicies(
		agPolicy{Name: "ha3-pause", Labels: labels, Fault: `"pause" { duration = "1s" }`, Mean: "1s", Min: "200ms", MinHealthy: 1},
	), "")
	leader, others := haWaitLeader(ctx, t, 30*time.Second, agents...)
	follower := others[0]

	require.Eventually(t, func() bool {
		recs, err := haRecords(ctx, leader.Client)
		return err == nil && slices.ContainsFunc(recs, func(r ledger.Record) bool { return !r.Injected.IsZero() })
	}, 30*time.Second, 200*time.Millisecond, "the leader should inject a first fault")

	// The real CLI, pointed at the follower with the follower's token.
	res := follower.CLI(ctx, t, follower.Token, "pause", "-reason", "x")
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	paused := time.Now()
	st, err := leader.Client.Status(ctx)
	require.NoError(t, err)
	require.True(t, st.Leader)
	require.Equal(t, ledger.Paused, st.State, "the leader reads the pause from the shared state")
	require.Equal(t, "oncall", st.Actor)

	// For 6s nothing new is injected; the leader's decisions are skipped.
	var skipped []ledger.Record
	err = agPoll(6*time.Second, 200*time.Millisecond, func() error {
		recs, err := haRecords(ctx, follower.Client)
		if err != nil {
			return err
		}
		skipped, err = agSkippedSince(recs, paused)
		return err
	})
	require.NoError(t, err)
	require.NotEmpty(t, skipped, "the leader's decisions while paused should be recorded as skipped")
	for _, r := range skipped {
		require.Equal(t, "paused by oncall: x", r.Reason, "record %s", r.ID)
	}
	_, sts, err := haLeaders(ctx, agents)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(sts[leader.Addr].Policies[0].Last, "skipped: paused by oncall: x"),
		"the leader's last decision: %q", sts[leader.Addr].Policies[0].Last)
	require.Empty(t, sts[follower.Addr].Policies[0].Last, "the follower decides nothing")
	t.Logf("%d decisions skipped by the leader while paused through the follower", len(skipped))

	res = follower.CLI(ctx, t, follower.Token, "resume", "-reason", "done")
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	resumed := time.Now()
	require.Eventually(t, func() bool {
		recs, err := haRecords(ctx, follower.Client)
		return err == nil && slices.ContainsFunc(recs, func(r ledger.Record) bool { return r.Injected.After(resumed) })
	}, 20*time.Second, 200*time.Millisecond, "the leader should inject again after a resume through the follower")
	ls, _, err := haLeaders(ctx, agents)
	require.NoError(t, err)
	require.Equal(t, []*harness.Agent{leader}, ls, "the same replica leads throughout")
}

// TestHAControlThroughFollowerLeaderRestores: a pause with restore, then
// a halt, asked of the follower while the leader holds a pause and a stop
// fault. Only the leader acts on control state: the follower records the
// change in the shared ledger, the leader's control watch sees it and the
// leader restores; the follower's engine never touches the leader's
// records, so neither log holds a write refused by the leader's fence.
func TestHAControlThroughFollowerLeaderRestores(t *testing.T) {
	cli := harness.RequireDocker(t)
	c := harness.StartConsul(t)
	ctx := agCtx(t, 5*time.Minute)
	run := harness.Unique("ha-ctl")
	prefix := run + "/"
	pLabels := map[string]string{runLabel: run, "app": "p", "tumult.enable": "true"}
	sLabels := map[string]string{runLabel: run, "app": "s", "tumult.enable": "true"}
	pFleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-p", N: 2, Labels: pLabels})
	sFleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-s", N: 2, Labels: sLabels})
	ids := haMemberIDs(pFleet, sFleet)
	agents := haStart(ctx, t, c, prefix, 2, haHeldFaults("ha6", pLabels, sLabels), "")
	leader, others := haWaitLeader(ctx, t, 30*time.Second, agents...)
	follower := others[0]

	// restoredBy waits until every held record is finished, restored,
	// with a reason starting with why, and every member runs again.
	restoredBy := func(held []ledger.Record, why string) {
		t.Helper()
		var last string
		require.Eventually(t, func() bool {
			if ok, w := haAllUp(ctx, cli, ids); !ok {
				last = w
				return false
			}
			hist, err := leader.Client.History(ctx, 0, "", 0)
			if err != nil {
				last = err.Error()
				return false
			}
			byID := map[string]ledger.Record{}
			for _, r := range hist {
				byID[r.ID] = r
			}
			for _, h := range held {
				if h.Phase != ledger.Injected {
					continue
				}
				r, ok := byID[h.ID]
				if !ok {
					last = "record " + h.ID + " not finished"
					return false
				}
				if r.Result != ledger.Restored || !strings.HasPrefix(r.Reason, why) {
					last = fmt.Sprintf("record %s: %s: %s", r.ID, r.Result, r.Reason)
					return false
				}
			}
			return true
		}, 30*time.Second, 100*time.Millisecond, "the leader should restore the faults, well before their 60s (last: %s)", haNote{&last})
	}

	// 1. pause -restore through the follower.
	held := haWaitHeld(ctx, t, cli, leader.Client, 45*time.Second, "ha6-pause", "ha6-stop")
	res := follower.CLI(ctx, t, follower.Token, "pause", "-restore", "-reason", "quiet")
	require.Equal(t, 0, res.Code, "stdout: %s\nstderr: %s", res.Stdout, res.Stderr)
	restoredBy(held, "paused with restore by oncall: quiet")
	st, err := leader.Client.Status(ctx)
	require.NoError(t, err)
	require.True(t, st.Leader, "the same replica leads")
	require.Equal(t, ledger.Paused, st.State)

	// 2. resume, and once the leader holds faults again, halt through
	// the follower.
	res = follower.CLI(ctx, t, follower.Token, "resume", "-reason", "go on")
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	var again []ledger.Record
	require.Eventually(t, func() bool {
		f, err := leader.Client.Faults(ctx)
		if err != nil {
			return false
		}
		again = again[:0]
		for _, r := range f {
			if !slices.ContainsFunc(held, func(h ledger.Record) bool { return h.ID == r.ID }) {
				again = append(again, r)
			}
		}
		return len(again) > 0
	}, 30*time.Second, 100*time.Millisecond, "the leader should inject again after the resume")
	held = haWaitHeld(ctx, t, cli, leader.Client, 45*time.Second, "ha6-pause", "ha6-stop")
	res = follower.CLI(ctx, t, follower.Token, "halt", "-reason", "incident")
	require.Equal(t, 0, res.Code, "stdout: %s\nstderr: %s", res.Stdout, res.Stderr)
	restoredBy(held, "halted by oncall: incident")
	_, sts, err := haLeaders(ctx, agents)
	require.NoError(t, err)
	for addr, st := range sts {
		require.Equal(t, ledger.Halted, st.State, "replica %s", addr)
		require.Empty(t, st.Faults, "replica %s", addr)
	}
	ls, _, err := haLeaders(ctx, agents)
	require.NoError(t, err)
	require.Equal(t, []*harness.Agent{leader}, ls, "the same replica leads throughout")

	// The follower left both restores to the leader, and nobody's write
	// was refused by the fence.
	require.Contains(t, follower.Log(), "follower: the leader restores; waiting for it")
	require.NotContains(t, follower.Log(), consulledger.ErrNotLeader.Error(), "follower log")
	require.NotContains(t, leader.Log(), consulledger.ErrNotLeader.Error(), "leader log")
	_, err = follower.Stop(30 * time.Second)
	require.NoError(t, err)
	_, err = leader.Stop(30 * time.Second)
	require.NoError(t, err)
	haCheckRecords(t, haAtRest(ctx, t, cli, c, prefix, ids, "nothing may stay active after a halt"))
}

func TestHAConsulCheckCriticalHalts(t *testing.T) {
	cli := harness.RequireDocker(t)
	c := harness.StartConsul(t)
	ctx := agCtx(t, 4*time.Minute)
	run := harness.Unique("ha-check")
	svc := run + "-svc"
	check := haRegisterService(t, c, svc)
	pLabels := map[string]string{runLabel: run, "app": "p", "tumult.enable": "true"}
	sLabels := map[string]string{runLabel: run, "app": "s", "tumult.enable": "true"}
	pFleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-p", N: 2, Labels: pLabels})
	sFleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-s", N: 2, Labels: sLabels})
	ids := haMemberIDs(pFleet, sFleet)
	agents := haStart(ctx, t, c, run+"/", 2, haHeldFaults("ha4", pLabels, sLabels), haGuardian(svc))
	leader, _ := haWaitLeader(ctx, t, 30*time.Second, agents...)
	held := haWaitHeld(ctx, t, cli, leader.Client, 45*time.Second, "ha4-pause", "ha4-stop")

	require.NoError(t, c.Client().Agent().UpdateTTL(check, "down", consulapi.HealthCritical))
	tripped := time.Now()
	var took time.Duration
	var last string
	require.Eventually(t, func() bool {
		if ok, why := haAllUp(ctx, cli, ids); !ok {
			last = why
			return false
		}
		_, sts, err := haLeaders(ctx, agents)
		if err != nil {
			last = err.Error()
			return false
		}
		for addr, st := range sts {
			if st.State != ledger.Halted || st.Source != "consul/"+svc || len(st.Faults) != 0 {
				last = fmt.Sprintf("%s: %s by %s from %s, %d faults active", addr, st.State, st.Actor, st.Source, len(st.Faults))
				return false
			}
		}
		took = time.Since(tripped)
		return true
	}, 20*time.Second, 100*time.Millisecond, "a critical check of %s should halt and restore everything (last: %s)", svc, haNote{&last})
	t.Logf("critical check of %s → halted and every member restored after %s", svc, took.Round(time.Millisecond))

	_, sts, err := haLeaders(ctx, agents)
	require.NoError(t, err)
	for addr, st := range sts {
		require.Equal(t, "guardian", st.Actor, "replica %s", addr)
		i := slices.IndexFunc(st.Sources, func(s api.SourceStatus) bool { return s.Name == "consul/"+svc })
		require.GreaterOrEqual(t, i, 0, "replica %s has no source consul/%s: %+v", addr, svc, st.Sources)
		require.True(t, st.Sources[i].Tripped, "replica %s: %+v", addr, st.Sources[i])
	}
	hist, err := leader.Client.History(ctx, 0, "", 0)
	require.NoError(t, err)
	byID := map[string]ledger.Record{}
	for _, r := range hist {
		byID[r.ID] = r
	}
	for _, r := range held {
		got, ok := byID[r.ID]
		require.True(t, ok, "record %s is not finished", r.ID)
		require.Equal(t, ledger.Restored, got.Result, "record %s: %s", r.ID, got.Reason)
		require.True(t, strings.HasPrefix(got.Reason, "halted by guardian: "), "record %s: %s", r.ID, got.Reason)
	}

	// Halted: nothing new for 4s.
	err = agPoll(4*time.Second, 250*time.Millisecond, func() error {
		recs, err := haRecords(ctx, leader.Client)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Injected.After(tripped) {
				return fmt.Errorf("record %s injected at %s, after the halt", r.ID, r.Injected.Format(time.RFC3339Nano))
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// TestHAConsulStoppedFailsClosed stops Consul under two replicas while
// the leader holds faults: the shared ledger, the election and the health
// source go at once. What tumult guarantees then, and what is asserted:
//
//   - the leader cannot renew its session and stops leading within a TTL;
//   - each replica's consul_service wire trips after stale_after (3s) and
//     halts: recording the halt fails (the ledger is unreachable), and the
//     restore goes on anyway — the replica that injected restores the
//     faults it runs, the other has none — so every member is back within
//     a few seconds, long before the faults' 60s hold;
//   - /v1/status answers 503 (it reads the control state from the
//     ledger), so the halt shows in the metrics, not in the status;
//   - the records of the restored faults cannot be finished and stay
//     active in the ledger; the next leader restores them again when
//     Consul is back (restore is idempotent). Not asserted here: a dev
//     Consul keeps its state in memory and comes back empty.
func TestHAConsulStoppedFailsClosed(t *testing.T) {
	cli := harness.RequireDocker(t)
	c := harness.StartConsul(t)
	ctx := agCtx(t, 4*time.Minute)
	run := harness.Unique("ha-down")
	svc := run + "-svc"
	haRegisterService(t, c, svc)
	pLabels := map[string]string{runLabel: run, "app": "p", "tumult.enable": "true"}
	sLabels := map[string]string{runLabel: run, "app": "s", "tumult.enable": "true"}
	pFleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-p", N: 2, Labels: pLabels})
	sFleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-s", N: 2, Labels: sLabels})
	ids := haMemberIDs(pFleet, sFleet)
	agents := haStart(ctx, t, c, run+"/", 2, haHeldFaults("ha5", pLabels, sLabels), haGuardian(svc))
	leader, _ := haWaitLeader(ctx, t, 30*time.Second, agents...)
	haWaitHeld(ctx, t, cli, leader.Client, 45*time.Second, "ha5-pause", "ha5-stop")

	c.Stop()
	stopped := time.Now()
	// Well under the faults' 60s hold: only a halt restores this soon.
	var took time.Duration
	var last string
	require.Eventually(t, func() bool {
		ok, why := haAllUp(ctx, cli, ids)
		last = why
		if ok {
			took = time.Since(stopped)
		}
		return ok
	}, 20*time.Second, 100*time.Millisecond, "with Consul down every member should be restored (fail closed) (last: %s)", haNote{&last})
	t.Logf("consul stopped → every member restored after %s", took.Round(time.Millisecond))

	for _, a := range agents {
		require.True(t, a.Alive(), "replica %s exited without Consul", a.Addr)
		text := agMetrics(t, a)
		v, ok := agMetric(text, "tumult_guardian_tripped", `source="consul/`+svc+`"`)
		require.True(t, ok, "replica %s has no tumult_guardian_tripped for consul/%s", a.Addr, svc)
		require.Equal(t, 1.0, v, "replica %s: consul/%s should be tripped", a.Addr, svc)
		// A halt is counted once its restore returns, which may be a
		// moment after the members are up.
		require.Eventually(t, func() bool {
			v, ok := agMetric(agMetrics(t, a), "tumult_halts_total", `source="consul/`+svc+`"`)
			return ok && v >= 1
		}, 10*time.Second, 100*time.Millisecond, "replica %s should count a halt by consul/%s", a.Addr, svc)
		_, err := a.Client.Status(ctx)
		require.Error(t, err, "replica %s: status without its ledger", a.Addr)
		require.Contains(t, err.Error(), "HTTP 503", "replica %s", a.Addr)
		t.Logf("replica %s: status without Consul: %v", a.Addr, err)
	}
	// The leader could not renew its session: it stopped leading.
	require.Eventually(t, func() bool { return strings.Contains(leader.Log(), "leadership lost") }, 10*time.Second, 100*time.Millisecond,
		"the leader should stop leading without Consul")
}
