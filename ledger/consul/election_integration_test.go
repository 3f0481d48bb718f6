//go:build integration

package consul_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger/consul"
)

// These tests run the election against a real `consul agent -dev` (see
// integration/harness; TUMULT_CONSUL or scripts/consul.sh provide it) and
// hold it to issue 6: after the leader's session is gone, a follower
// leads within lock-delay and a few hundred milliseconds, not at
// consul/api's next 5s lock retry.

const (
	elTTL   = 2 * time.Second
	elDelay = 2 * time.Second
	elKey   = "election/leader"
	// elRetrySlack is what a takeover may take beyond Consul's own
	// delays: one pause between acquisitions refused for lock-delay
	// (250ms at most) and a few round trips.
	elRetrySlack = 750 * time.Millisecond
)

type elReplica struct {
	name    string
	e       *consul.Election
	started chan time.Time
	ended   chan error
	cancel  context.CancelFunc
	done    chan struct{}
}

// elRun runs an election for a replica until the test ends.
func elRun(t *testing.T, c *harness.Consul, name string, delay time.Duration) *elReplica {
	t.Helper()
	e, err := consul.NewElection(consul.ElectionOptions{Client: c.Client(), Key: elKey, SessionTTL: elTTL, LockDelay: delay, Replica: name})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &elReplica{name: name, e: e, started: make(chan time.Time, 8), ended: make(chan error, 8), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		e.Run(ctx, func(lctx context.Context) {
			r.started <- time.Now()
			<-lctx.Done()
			r.ended <- context.Cause(lctx)
		})
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *elReplica) stop() {
	r.cancel()
	<-r.done
}

func (r *elReplica) waitStarted(t *testing.T, within time.Duration) time.Time {
	t.Helper()
	select {
	case at := <-r.started:
		return at
	case <-time.After(within):
		t.Fatalf("%s did not lead within %s", r.name, within)
		return time.Time{}
	}
}

func (r *elReplica) waitEnded(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case cause := <-r.ended:
		return cause
	case <-time.After(within):
		t.Fatalf("%s still leads %s later", r.name, within)
		return nil
	}
}

// holder reads who holds the key, as Consul sees it.
func holder(t *testing.T, c *harness.Consul) *api.KVPair {
	t.Helper()
	p, _, err := c.Client().KV().Get(elKey, (&api.QueryOptions{RequireConsistent: true}).WithContext(t.Context()))
	require.NoError(t, err)
	return p
}

// sessionsOf lists the sessions named after a replica.
func sessionsOf(t *testing.T, c *harness.Consul, name string) []string {
	t.Helper()
	all, _, err := c.Client().Session().List((&api.QueryOptions{RequireConsistent: true}).WithContext(t.Context()))
	require.NoError(t, err)
	var out []string
	for _, s := range all {
		if s.Name == name {
			out = append(out, s.ID)
		}
	}
	return out
}

func TestConsulElectionHolderIsWhatConsulSays(t *testing.T) {
	c := harness.StartConsul(t)
	a := elRun(t, c, "replica-a", elDelay)
	a.waitStarted(t, 10*time.Second)

	key, sid, ok := a.e.Holder()
	require.True(t, ok)
	require.Equal(t, elKey, key)
	p := holder(t, c)
	require.NotNil(t, p)
	require.Equal(t, sid, p.Session)
	require.Equal(t, "replica-a", string(p.Value))
	require.Equal(t, uint64(api.LockFlagValue), p.Flags, "readable by consul/api's Lock too")
	info, _, err := c.Client().Session().Info(sid, nil)
	require.NoError(t, err)
	require.NotNil(t, info)
	require.Equal(t, "replica-a", info.Name)
	require.Equal(t, api.SessionBehaviorDelete, info.Behavior)
	require.Equal(t, elDelay, info.LockDelay)
	require.Equal(t, elTTL.String(), info.TTL)

	// Renewed across several TTLs (Consul would invalidate it after 2×TTL).
	require.Never(t, func() bool { return len(a.ended) > 0 || !a.e.Leading() }, 3*elTTL, 50*time.Millisecond)
	require.Equal(t, sid, holder(t, c).Session)
}

// TestConsulElectionTakeoverAfterLockDelay: when the leader's session is
// invalidated, the follower leads as soon as lock-delay has passed.
func TestConsulElectionTakeoverAfterLockDelay(t *testing.T) {
	c := harness.StartConsul(t)
	a := elRun(t, c, "replica-a", elDelay)
	a.waitStarted(t, 10*time.Second)
	b := elRun(t, c, "replica-b", elDelay)
	require.Never(t, func() bool { return len(b.started) > 0 }, elTTL, 20*time.Millisecond, "b must wait while a leads")

	_, sid, ok := a.e.Holder()
	require.True(t, ok)
	invalidated := time.Now()
	_, err := c.Client().Session().Destroy(sid, nil)
	require.NoError(t, err)
	require.ErrorIs(t, a.waitEnded(t, 2*time.Second), consul.ErrLeadershipLost)
	require.False(t, a.e.Leading())

	// Either replica may win once lock-delay is over; a campaigns again.
	var took time.Duration
	var winner *elReplica
	require.Eventually(t, func() bool {
		for _, r := range []*elReplica{a, b} {
			if len(r.started) > 0 {
				winner, took = r, time.Since(invalidated)
				return true
			}
		}
		return false
	}, elDelay+elRetrySlack, 5*time.Millisecond, "nobody led within lock-delay %s + %s", elDelay, elRetrySlack)
	t.Logf("%s leads %s after the leader's session was invalidated (lock-delay %s)", winner.name, took.Round(time.Millisecond), elDelay)
	require.GreaterOrEqual(t, took, elDelay, "lock-delay is honoured")
	require.Equal(t, winner.name, string(holder(t, c).Value))
}

// TestConsulElectionTakeoverAfterCrash: a holder whose session has no
// liveness check (a replica that could not register one) and that stops
// renewing, as after kill -9, is replaced once Consul expires its session
// (at most 2×TTL) and lock-delay has passed.
func TestConsulElectionTakeoverAfterCrash(t *testing.T) {
	c := harness.StartConsul(t)
	// Right after start the dev agent may not have registered its node
	// yet ("Missing node registration"): sessions need it.
	var sid string
	require.EventuallyWithT(t, func(ct *assert.CollectT) {
		var err error
		sid, _, err = c.Client().Session().Create(&api.SessionEntry{
			Name: "crashed", TTL: elTTL.String(), LockDelay: elDelay, Behavior: api.SessionBehaviorDelete,
		}, nil)
		assert.NoError(ct, err, "create the crashed holder's session")
	}, 10*time.Second, 50*time.Millisecond)
	ok, _, err := c.Client().KV().Acquire(&api.KVPair{Key: elKey, Value: []byte("crashed"), Session: sid, Flags: api.LockFlagValue}, nil)
	require.NoError(t, err)
	require.True(t, ok)
	crashed := time.Now()

	b := elRun(t, c, "replica-b", elDelay)
	bound := 2*elTTL + elDelay + elRetrySlack
	at := b.waitStarted(t, bound)
	took := at.Sub(crashed)
	t.Logf("takeover %s after the holder stopped renewing (TTL %s, lock-delay %s; bound %s)", took.Round(time.Millisecond), elTTL, elDelay, bound)
	require.GreaterOrEqual(t, took, elTTL+elDelay)
	require.Equal(t, "replica-b", string(holder(t, c).Value))
}

// TestConsulElectionKeyChanged: a leader whose key is deleted under it (by
// an operator) stops leading at once, and campaigns again.
func TestConsulElectionKeyChanged(t *testing.T) {
	c := harness.StartConsul(t)
	a := elRun(t, c, "replica-a", elDelay)
	a.waitStarted(t, 10*time.Second)
	_, old, ok := a.e.Holder()
	require.True(t, ok)

	deleted := time.Now()
	_, err := c.Client().KV().Delete(elKey, nil)
	require.NoError(t, err)
	require.ErrorIs(t, a.waitEnded(t, time.Second), consul.ErrLeadershipLost)
	t.Logf("leader stopped %s after its key was deleted", time.Since(deleted).Round(time.Millisecond))

	// A delete applies no lock-delay: a leads again at once, with a new
	// session; the old one is destroyed.
	a.waitStarted(t, 2*time.Second)
	_, sid, ok := a.e.Holder()
	require.True(t, ok)
	require.NotEqual(t, old, sid)
	require.Equal(t, []string{sid}, sessionsOf(t, c, "replica-a"))
}

// TestConsulElectionGracefulStop: a leader that stops releases the lock
// and destroys its session, so that the follower leads at once rather
// than after lock-delay; a follower that stops leaves no session behind.
func TestConsulElectionGracefulStop(t *testing.T) {
	c := harness.StartConsul(t)
	const delay = 10 * time.Second // long, so that a takeover within it shows
	a := elRun(t, c, "replica-a", delay)
	a.waitStarted(t, 10*time.Second)
	b := elRun(t, c, "replica-b", delay)
	require.Eventually(t, func() bool { return len(sessionsOf(t, c, "replica-b")) == 1 }, 5*time.Second, 10*time.Millisecond)

	began := time.Now()
	a.stop()
	require.ErrorIs(t, a.waitEnded(t, time.Second), context.Canceled)
	require.Empty(t, sessionsOf(t, c, "replica-a"), "the leader's session is destroyed")
	at := b.waitStarted(t, time.Second)
	t.Logf("follower leads %s after the leader's stop began (lock-delay %s)", at.Sub(began).Round(time.Millisecond), delay)
	require.Equal(t, "replica-b", string(holder(t, c).Value))

	// A follower stopped while waiting returns promptly and cleans up.
	f := elRun(t, c, "replica-f", delay)
	require.Eventually(t, func() bool { return len(sessionsOf(t, c, "replica-f")) == 1 }, 5*time.Second, 10*time.Millisecond)
	stopped := make(chan struct{})
	go func() { f.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("a waiting follower's Run did not return within 2s of its context ending")
	}
	require.Empty(t, f.started)
	require.Empty(t, sessionsOf(t, c, "replica-f"))
	require.Equal(t, "replica-b", string(holder(t, c).Value))
}

// TestConsulElectionLivenessCheck: each replica registers a TTL check
// under consul.AliveService and ties its session to it. When the check
// turns critical — a killed process stops updating it, here it is set
// critical by hand — Consul invalidates the leader's session at once,
// without waiting for the session's own TTL (which Consul doubles): the
// leader stops leading and a follower leads after lock-delay. A replica
// that stops deregisters its check.
func TestConsulElectionLivenessCheck(t *testing.T) {
	c := harness.StartConsul(t)
	a := elRun(t, c, "replica-a", elDelay)
	a.waitStarted(t, 10*time.Second)
	checkID := consul.AliveService + "-replica-a:alive"

	sids := sessionsOf(t, c, "replica-a")
	require.Len(t, sids, 1)
	s, _, err := c.Client().Session().Info(sids[0], (&api.QueryOptions{RequireConsistent: true}).WithContext(t.Context()))
	require.NoError(t, err)
	require.NotNil(t, s)
	require.Equal(t, []api.ServiceCheck{{ID: checkID}}, s.ServiceChecks)
	checks, err := c.Client().Agent().Checks()
	require.NoError(t, err)
	require.Contains(t, checks, checkID)
	require.Equal(t, api.HealthPassing, checks[checkID].Status)
	require.Equal(t, consul.AliveService, checks[checkID].ServiceName)

	b := elRun(t, c, "replica-b", elDelay)
	require.Eventually(t, func() bool { return len(sessionsOf(t, c, "replica-b")) == 1 }, 5*time.Second, 10*time.Millisecond)
	failed := time.Now()
	require.NoError(t, c.Client().Agent().UpdateTTL(checkID, "test: the process hangs", api.HealthCritical))
	require.ErrorIs(t, a.waitEnded(t, elTTL), consul.ErrLeadershipLost, "the leader notices at once, well within a TTL")
	// A hung process would not campaign again; this one would, with a
	// fresh session, so it stops here (within lock-delay: it cannot have
	// taken the lock again yet).
	a.stop()
	require.Empty(t, a.started, "replica-a did not lead again")
	at := b.waitStarted(t, elDelay+elRetrySlack)
	took := at.Sub(failed)
	t.Logf("follower leads %s after the leader's check turned critical (lock-delay %s)", took.Round(time.Millisecond), elDelay)
	require.GreaterOrEqual(t, took, elDelay, "the lock-delay of an invalidated session applies")

	checks, err = c.Client().Agent().Checks()
	require.NoError(t, err)
	require.NotContains(t, checks, checkID, "a stopped replica deregisters its check")
	require.Contains(t, checks, consul.AliveService+"-replica-b:alive")
}

// TestConsulElectionWithoutLivenessCheck: a Consul that refuses the
// liveness check's registration (an ACL token without service:write)
// costs only the fast takeover: the replica still leads, with a session
// on its own TTL.
func TestConsulElectionWithoutLivenessCheck(t *testing.T) {
	c := harness.StartConsul(t)
	target, err := url.Parse("http://" + c.Addr())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var refused atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/agent/service/register") {
			refused.Add(1)
			http.Error(w, "Permission denied: token lacks service:write on tumult-replica", http.StatusForbidden)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	client, err := api.NewClient(&api.Config{Address: srv.Listener.Addr().String()})
	require.NoError(t, err)

	e, err := consul.NewElection(consul.ElectionOptions{Client: client, Key: elKey, SessionTTL: elTTL, LockDelay: elDelay, Replica: "replica-acl"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	led := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx, func(lctx context.Context) {
			led <- struct{}{}
			<-lctx.Done()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-led:
	case <-time.After(10 * time.Second):
		t.Fatal("the replica did not lead without its liveness check")
	}
	require.Positive(t, refused.Load(), "the registration was tried")
	sids := sessionsOf(t, c, "replica-acl")
	require.Len(t, sids, 1)
	s, _, err := c.Client().Session().Info(sids[0], (&api.QueryOptions{RequireConsistent: true}).WithContext(t.Context()))
	require.NoError(t, err)
	require.NotNil(t, s)
	require.Empty(t, s.ServiceChecks, "no check to tie the session to")
	require.Equal(t, elTTL.String(), s.TTL)
	require.Equal(t, "replica-acl", string(holder(t, c).Value))
}
