package consul

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"
)

// AliveService is the Consul service under which each replica registers
// its liveness check. It is not the service that carries tumult's API
// (deploy/tumult.nomad.hcl registers that as "tumult"): it has no port.
const AliveService = "tumult-replica"

// Consul invalidates a session up to 2×TTL after its last renewal, and
// refuses session TTLs under its session_ttl_min (10s by default), so a
// leader killed with SIGKILL would keep the lock for up to 20s, and a
// follower would lead only lock_delay after that. A TTL health check has
// neither limit: it turns critical its own TTL (liveness_ttl, 1.5s by
// default) after its last update, and Consul invalidates every session
// tied to it at that moment. Each replica therefore registers a TTL check
// with its Consul agent, keeps it passing four times per TTL, and ties its
// sessions to it, which brings a takeover after a crash down to
// liveness_ttl + lock_delay.
//
// The check is best effort: a Consul token without service:write on
// AliveService, or an agent that refuses, leaves the sessions on their
// own TTL (with a warning), as before.
type alive struct {
	client *api.Client
	log    hclog.Logger
	ttl    time.Duration
	// serviceID doubles as the check's ID prefix: one per replica.
	serviceID, checkID string

	mu         sync.Mutex
	registered bool
	warned     bool
	// sent is when the last update that succeeded was sent (nanoseconds
	// since epoch, monotonic): Consul may invalidate the sessions tied to
	// the check a TTL later. Sent, not answered: the agent starts the
	// check's TTL when it gets the update, which is no earlier.
	sent atomic.Int64
	// failing is since when keep's updates fail, zero while they
	// succeed; failWarned once that stretch was logged as a warning.
	// keep alone uses them.
	failing    time.Time
	failWarned bool
	// lastErr is the last failed update's error.
	lastErr atomic.Pointer[error]
}

func newAlive(client *api.Client, replica string, ttl time.Duration, log hclog.Logger) *alive {
	id := AliveService + "-" + replica
	return &alive{client: client, log: log, ttl: ttl, serviceID: id, checkID: id + ":alive"}
}

// every is how often the check is updated: four times per TTL, so that a
// replica busy for a moment does not lose its lock.
func (a *alive) every() time.Duration { return max(a.ttl/4, 100*time.Millisecond) }

// ensure registers the check if needed and marks it passing. It returns
// the checks a new session is to be tied to: none when the check cannot be
// kept, and the session then relies on its own TTL.
func (a *alive) ensure(ctx context.Context) []api.ServiceCheck {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.registered {
		err := a.update(ctx)
		if err == nil {
			return []api.ServiceCheck{{ID: a.checkID}}
		}
		// The agent may have restarted and forgotten it: register again.
		a.log.Debug("update liveness check; registering it again", "check", a.checkID, "error", err)
		a.registered = false
	}
	// Registering a check that exists keeps its status (critical, if an
	// earlier process of this replica died): the update makes it passing.
	err := a.register(ctx)
	if err == nil {
		err = a.update(ctx)
	}
	if err != nil {
		if !a.warned {
			a.log.Warn("cannot register the liveness check: a crashed leader keeps the lock for up to 2×session_ttl, and lock-delay grows to session_ttl + 500ms",
				"service", AliveService, "check", a.checkID, "error", err)
			a.warned = true
		}
		return nil
	}
	a.registered, a.warned = true, false
	return []api.ServiceCheck{{ID: a.checkID}}
}

// update marks the check passing and records when it was sent.
func (a *alive) update(ctx context.Context) error {
	sent := mono()
	err := a.client.Agent().UpdateTTLOpts(a.checkID, "", api.HealthPassing, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		err = fmt.Errorf("update check %s: %w", a.checkID, err)
		a.lastErr.Store(&err)
		return err
	}
	a.sent.Store(int64(sent.Sub(epoch)))
	return nil
}

// expires is when Consul may invalidate the sessions tied to the check:
// a TTL after the last update that succeeded was sent.
func (a *alive) expires() time.Time { return monoAt(a.sent.Load()).Add(a.ttl) }

// err is the last failed update's error, for messages.
func (a *alive) err() error {
	if p := a.lastErr.Load(); p != nil {
		return *p
	}
	return errors.New("no update failed; the replica was too slow")
}

func (a *alive) register(ctx context.Context) error {
	reg := &api.AgentServiceRegistration{
		ID:   a.serviceID,
		Name: AliveService,
		Check: &api.AgentServiceCheck{
			CheckID: a.checkID,
			Name:    "tumult replica alive",
			Notes:   "Updated by the tumult agent; tumult's leader lock is tied to it.",
			TTL:     a.ttl.String(),
			Status:  api.HealthPassing,
			// The agent removes a crashed replica's registration.
			DeregisterCriticalServiceAfter: "1m",
		},
	}
	if err := a.client.Agent().ServiceRegisterOpts(reg, api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)); err != nil {
		return fmt.Errorf("register service %s: %w", a.serviceID, err)
	}
	return nil
}

// keep updates the check until ctx ends, then deregisters it.
func (a *alive) keep(ctx context.Context) {
	t := time.NewTicker(a.every())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			a.deregister()
			return
		case <-t.C:
		}
		a.mu.Lock()
		registered := a.registered
		a.mu.Unlock()
		if !registered {
			continue // ensure registers it at the next session
		}
		uctx, cancel := context.WithTimeout(ctx, a.every())
		err := a.update(uctx)
		cancel()
		switch {
		case ctx.Err() != nil:
		case err == nil:
			a.failing, a.failWarned = time.Time{}, false
		case a.failing.IsZero():
			a.failing = time.Now()
			a.log.Debug("update liveness check", "check", a.checkID, "error", err)
		case !a.failWarned && time.Since(a.failing) >= a.ttl/2:
			// Once per stretch of failures: a leader is about to stop.
			a.log.Warn("liveness check not updated; a leader stops leading a TTL after the last update",
				"check", a.checkID, "failing_for", time.Since(a.failing).Round(time.Millisecond), "error", err)
			a.failWarned = true
		}
	}
}

func (a *alive) deregister() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.registered {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	if err := a.client.Agent().ServiceDeregisterOpts(a.serviceID, (&api.QueryOptions{}).WithContext(ctx)); err != nil {
		a.log.Debug("deregister liveness check", "service", a.serviceID, "error", err)
	}
	a.registered = false
}
