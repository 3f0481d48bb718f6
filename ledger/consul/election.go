package consul

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/hashicorp/go-hclog"

	"github.com/inferensys/tumult/config"
)

// maxLockDelay is the largest lock-delay Consul honours.
const maxLockDelay = 60 * time.Second

// Pauses between election attempts that failed (Consul unreachable),
// doubling from electionRetryMin up to electionRetryMax.
const (
	electionRetryMin = 250 * time.Millisecond
	electionRetryMax = 5 * time.Second
	// cleanupTimeout bounds the release and destroy at the end of a term,
	// which run after the caller's context may have ended.
	cleanupTimeout = 5 * time.Second
	// renewRetry is the pause after a failed renewal, and after a failed
	// read of the lock key while leading.
	renewRetry = time.Second
	// lockWait bounds one blocking query on the lock key.
	lockWait = 5 * time.Second
	// A lock refused while its key is free is held back by lock-delay:
	// Consul does not say for how long, so acquisition is retried every
	// LockDelay/4, within delayRetryMin and delayRetryMax. Once LockDelay
	// has passed since the key was seen free (another replica configured
	// a longer one) the pause grows with the overrun, up to
	// electionRetryMax.
	delayRetryMin = 25 * time.Millisecond
	delayRetryMax = 250 * time.Millisecond
)

// ErrLeadershipLost is the cause (context.Cause) of a lead context that
// was cancelled because the lock or the session was lost.
var ErrLeadershipLost = errors.New("leadership lost")

// ElectionOptions configure an Election.
type ElectionOptions struct {
	// Client talks to Consul (required); Store.Client gives the ledger's.
	Client *api.Client
	// Key is the lock's KV key (default config.DefaultConsulPrefix+"leader");
	// Store.LeaderKey gives the one under the ledger's prefix.
	Key string
	// SessionTTL (default config.DefaultSessionTTL). Consul refuses TTLs below
	// its session_ttl_min (10s unless configured).
	SessionTTL time.Duration
	// LockDelay (default config.DefaultLockDelay, at most 60s).
	LockDelay time.Duration
	// Replica names this replica: the session's name and the lock's value,
	// what Leader returns (default: the host name).
	Replica string
	// Logger (default: a null logger).
	Logger hclog.Logger
}

// Election elects one leader among the replicas that run it on the same
// key: each replica creates and renews a session (TTL, lock-delay,
// behaviour "delete", tied to the replica's liveness check) and acquires
// the key with it, waiting on the key
// with blocking queries while another session holds it. It does not use
// consul/api's Lock, which retries a lock refused during lock-delay only
// every 5s (api.DefaultLockRetryTime, fixed), which was most of a
// takeover after a crash.
type Election struct {
	opts   ElectionOptions
	client *api.Client
	log    hclog.Logger
	// session is the session holding the lock while this replica leads,
	// nil otherwise; it is cleared before lead's context is cancelled.
	session atomic.Pointer[string]
	// alive is the TTL check this replica's sessions are tied to.
	alive *alive
}

var _ Fence = (*Election)(nil)

// LeaderKey returns the key of the leader lock under the store's prefix.
func (s *Store) LeaderKey() string { return s.prefix + keyLeader }

// NewElection checks the options. It does not contact Consul.
func NewElection(opts ElectionOptions) (*Election, error) {
	if opts.Client == nil {
		return nil, errors.New("leader election: no Consul client")
	}
	if opts.Key == "" {
		opts.Key = config.DefaultConsulPrefix + keyLeader
	}
	if opts.SessionTTL == 0 {
		opts.SessionTTL = config.DefaultSessionTTL
	}
	if opts.LockDelay == 0 {
		opts.LockDelay = config.DefaultLockDelay
	}
	switch {
	case opts.SessionTTL < time.Second:
		return nil, fmt.Errorf("leader election on %s: session TTL %s: want at least 1s", opts.Key, opts.SessionTTL)
	case opts.LockDelay < 0 || opts.LockDelay > maxLockDelay:
		return nil, fmt.Errorf("leader election on %s: lock delay %s: want 0 to %s", opts.Key, opts.LockDelay, maxLockDelay)
	}
	if opts.Replica == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("leader election on %s: no replica name and no host name: %w", opts.Key, err)
		}
		opts.Replica = h
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	log := opts.Logger.Named("election").With("replica", opts.Replica, "key", opts.Key)
	return &Election{
		opts:   opts,
		client: opts.Client,
		log:    log,
		alive:  newAlive(opts.Client, opts.Replica, opts.SessionTTL, log),
	}, nil
}

// Replica returns this replica's name.
func (e *Election) Replica() string { return e.opts.Replica }

// Leading reports whether this replica holds the lock right now (lead is
// running and its context not yet cancelled).
func (e *Election) Leading() bool { return e.session.Load() != nil }

// Holder implements Fence: the lock key and this replica's session while
// it leads. Store.Fenced(election) makes record writes fail with
// ErrNotLeader once leadership is lost, even before lead has noticed.
func (e *Election) Holder() (key, session string, ok bool) {
	if s := e.session.Load(); s != nil {
		return e.opts.Key, *s, true
	}
	return "", "", false
}

// Leader returns the name of the replica that holds the lock, from a
// consistent read; "" when no replica does.
func (e *Election) Leader(ctx context.Context) (string, error) {
	p, _, err := e.client.KV().Get(e.opts.Key, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
	if err != nil {
		return "", fmt.Errorf("read leader lock %s: %w", e.opts.Key, err)
	}
	if p == nil || p.Session == "" {
		return "", nil
	}
	return string(p.Value), nil
}

// Run campaigns for leadership until ctx ends. Each time this replica
// wins, it calls lead with a context that is cancelled, with cause
// ErrLeadershipLost, the moment the lock is lost: the session was
// invalidated, the lock key changed, or the session could not be renewed
// for a TTL. lead must stop acting as leader (stop injecting) as soon as
// its context ends, and return. When lead returns, the lock is released
// and Run campaigns again; if lead returned on its own while still leader,
// Run first waits a moment, so that another replica may take over.
//
// When ctx ends Run releases the lock (without lock-delay, so a follower
// takes over at once) and destroys its session, then deregisters its
// liveness check (see alive) and returns.
func (e *Election) Run(ctx context.Context, lead func(ctx context.Context)) {
	// The check outlives every session: it is deregistered only after the
	// last session was destroyed, since a session whose check goes away is
	// invalidated with lock-delay, unlike a clean release.
	kctx, stopKeep := context.WithCancel(context.WithoutCancel(ctx))
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		e.alive.keep(kctx)
	}()
	defer func() {
		stopKeep()
		<-kept
	}()
	retry := electionRetryMin
	for ctx.Err() == nil {
		led, err := e.term(ctx, lead)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			e.log.Warn("leader election failed; retrying", "error", err, "retry_in", retry)
		case led == leadReturned:
			e.log.Warn("lead returned while still leader; released the lock", "retry_in", retry)
		default:
			retry = electionRetryMin
			continue
		}
		if !sleep(ctx, retry) {
			return
		}
		retry = min(2*retry, electionRetryMax)
	}
}

// How a term ended.
type termEnd int

const (
	notLed       termEnd = iota // never acquired the lock
	leadLost                    // lost the lock while leading
	leadReturned                // lead returned while still leader
)

// term creates a session, waits for the lock, leads while it holds it, and
// cleans up: release the lock, destroy the session.
func (e *Election) term(ctx context.Context, lead func(context.Context)) (termEnd, error) {
	// A create cut short by ctx may still have created the session, and
	// then nobody would destroy it: let it finish, bounded, and clean up.
	cctx, cancelCreate := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	checks := e.alive.ensure(cctx)
	sid, _, err := e.client.Session().Create(&api.SessionEntry{
		Name:      e.opts.Replica,
		TTL:       e.opts.SessionTTL.String(),
		LockDelay: e.opts.LockDelay,
		Behavior:  api.SessionBehaviorDelete,
		// Besides Consul's default node check (serfHealth).
		ServiceChecks: checks,
	}, (&api.WriteOptions{}).WithContext(cctx))
	cancelCreate()
	if err != nil {
		return notLed, fmt.Errorf("create session on %s: %w", e.opts.Key, err)
	}
	log := e.log.With("session", sid)
	log.Debug("session created", "ttl", e.opts.SessionTTL, "lock_delay", e.opts.LockDelay)

	renewCtx, stopRenew := context.WithCancel(context.Background())
	renewDone := make(chan struct{})
	var renewErr error
	go func() {
		defer close(renewDone)
		renewErr = e.renew(renewCtx, sid, len(checks) > 0)
	}()
	defer func() {
		stopRenew()
		<-renewDone
		e.cleanup(sid, log)
	}()

	// Waiting for the lock ends when the session does: a replica whose
	// Consul is away must not win with a session Consul has given up on.
	actx, stopAcquire := context.WithCancel(ctx)
	go func() {
		select {
		case <-renewDone:
			stopAcquire()
		case <-actx.Done():
		}
	}()
	err = e.acquire(actx, sid, log)
	stopAcquire()
	select {
	case <-renewDone:
		// The cleanup releases the lock in case it was acquired just now.
		return notLed, fmt.Errorf("session %s ended while waiting for the lock: %w", sid, renewErr)
	default:
	}
	if ctx.Err() != nil {
		// The cleanup releases the lock in case it was acquired just now,
		// and destroys the session.
		return notLed, nil
	}
	if err != nil {
		return notLed, err
	}

	leadCtx, cancel := context.WithCancelCause(ctx)
	e.session.Store(&sid)
	// lose ends the term; fenced writes stop before lead hears of it.
	lose := func(cause error) {
		e.session.Store(nil)
		cancel(cause)
	}
	var watchers sync.WaitGroup
	watchers.Go(func() {
		if err := e.watch(leadCtx, sid, log); err != nil {
			lose(fmt.Errorf("%w: %w", ErrLeadershipLost, err))
		}
	})
	watchers.Go(func() {
		select {
		case <-renewDone:
			lose(fmt.Errorf("%w: session %s: %w", ErrLeadershipLost, sid, renewErr))
		case <-leadCtx.Done():
		}
	})
	began := time.Now()
	log.Info("leading")
	lead(leadCtx)
	e.session.Store(nil)
	lost := leadCtx.Err() != nil
	reason := context.Cause(leadCtx)
	cancel(nil)
	watchers.Wait()
	end := leadReturned
	if lost {
		end = leadLost
	}
	switch {
	case ctx.Err() != nil:
		reason = context.Cause(ctx)
	case reason == nil:
		reason = errors.New("lead returned")
	}
	log.Info("stopped leading", "reason", reason, "led_for", time.Since(began).Round(time.Millisecond))
	return end, nil
}

// acquire takes the lock with the session and returns nil once it holds
// it. While another session holds the key it waits for the key to change
// (blocking queries); when the key is free but the lock is refused, the
// previous holder's lock-delay runs, and it tries again after a short
// pause. It returns an error when Consul cannot be asked, and ctx's error
// when ctx ends.
func (e *Election) acquire(ctx context.Context, sid string, log hclog.Logger) error {
	kv := e.client.KV()
	pair := &api.KVPair{Key: e.opts.Key, Value: []byte(e.opts.Replica), Session: sid, Flags: api.LockFlagValue}
	pause := min(max(e.opts.LockDelay/4, delayRetryMin), delayRetryMax)
	var holder string    // the session last seen holding the key
	var freeAt time.Time // when the key was first seen free, lock refused
	for {
		ok, _, err := kv.Acquire(pair, (&api.WriteOptions{}).WithContext(ctx))
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			return fmt.Errorf("acquire %s with session %s: %w", e.opts.Key, sid, err)
		case ok:
			return nil
		}
		// Refused. Read the key at once, then, while another session
		// holds it, wait for it to change.
		var index uint64
		for {
			p, meta, err := kv.Get(e.opts.Key, (&api.QueryOptions{WaitIndex: index, WaitTime: lockWait}).WithContext(ctx))
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case err != nil:
				return fmt.Errorf("read lock %s: %w", e.opts.Key, err)
			}
			if p == nil || p.Session == "" || p.Session == sid {
				break
			}
			freeAt = time.Time{}
			if p.Session != holder {
				holder = p.Session
				log.Debug("lock held; waiting", "holder", string(p.Value), "holder_session", p.Session)
			}
			index = nextIndex(index, meta.LastIndex)
		}
		if index != 0 {
			continue // it changed while we waited: try at once
		}
		if freeAt.IsZero() {
			// Free right after a refusal: released in between, or held
			// back by lock-delay. Try once more at once to tell which.
			freeAt = time.Now()
			continue
		}
		// Free, and refused again: lock-delay runs.
		wait := pause
		if over := time.Since(freeAt) - e.opts.LockDelay; over > 0 {
			// Longer than our own lock-delay: another replica's is longer,
			// or something else refuses; ask less often.
			wait = min(max(over, pause), electionRetryMax)
		}
		log.Trace("lock free but refused: lock-delay", "free_for", time.Since(freeAt), "retry_in", wait)
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// watch follows the lock key with blocking queries while this replica
// leads. It returns an error as soon as the key is gone or held by another
// session (the session was invalidated, or someone changed the key), and
// nil when ctx ends. A failed read is retried: whether an unreachable
// Consul costs the lead is for renew to say, which bounds it by the lease.
func (e *Election) watch(ctx context.Context, sid string, log hclog.Logger) error {
	kv := e.client.KV()
	var index uint64
	for {
		p, meta, err := kv.Get(e.opts.Key, (&api.QueryOptions{WaitIndex: index, WaitTime: lockWait}).WithContext(ctx))
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Debug("read leader lock", "error", err)
			if !sleep(ctx, renewRetry) {
				return nil
			}
			continue
		case p == nil:
			return fmt.Errorf("lock %s deleted", e.opts.Key)
		case p.Session != sid:
			return fmt.Errorf("lock %s no longer held by session %s", e.opts.Key, sid)
		}
		index = nextIndex(index, meta.LastIndex)
	}
}

// nextIndex is the WaitIndex of the next blocking query after one that
// returned got: reset when the index went backwards (a Consul restore),
// and never 0, which would not block.
func nextIndex(prev, got uint64) uint64 {
	switch {
	case got < prev:
		return 0
	case got == 0:
		return 1
	}
	return got
}

// renew keeps the session alive, renewing every half TTL. It returns when
// ctx ends (nil), when Consul says the session is gone, or when the lease
// ran out: a TTL after the last good renewal was sent or, for a session
// tied to the liveness check (tied), a TTL after the last good update of
// the check was sent, whichever is first — Consul may invalidate the
// session from then on. Each renewal is bounded by what is left of the
// lease, so an unresponsive Consul cannot keep a leader that Consul has
// already given up on.
func (e *Election) renew(ctx context.Context, sid string, tied bool) error {
	ttl := e.opts.SessionTTL
	valid := time.Now() // when the last good renewal was sent
	var lastErr error
	// lease is when this replica must stop leading, and whether the
	// check's updates (not the renewals) set it.
	lease := func() (end time.Time, byCheck bool) {
		end = valid.Add(ttl)
		if a := e.alive.expires(); tied && a.Before(end) {
			return a, true
		}
		return end, false
	}
	next := valid.Add(ttl / 2) // when to renew
	for {
		end, _ := lease()
		if !sleep(ctx, max(min(time.Until(next), time.Until(end)), 0)) {
			return nil
		}
		end, byCheck := lease()
		left := time.Until(end)
		switch {
		case left > 0:
		case byCheck:
			return fmt.Errorf("liveness check %s not updated for %s: %w", e.alive.checkID, e.alive.ttl, e.alive.err())
		case lastErr != nil:
			return fmt.Errorf("session not renewed for %s: %w", ttl, lastErr)
		default:
			return fmt.Errorf("session not renewed for %s", ttl)
		}
		if time.Now().Before(next) {
			continue // woken for the lease, which an update of the check moved on
		}
		sent := time.Now()
		rctx, cancel := context.WithTimeout(ctx, left)
		entry, _, err := e.client.Session().Renew(sid, (&api.WriteOptions{}).WithContext(rctx))
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			lastErr = err
			next = time.Now().Add(renewRetry)
			e.log.Debug("session renewal failed", "session", sid, "error", err, "lease_left", left)
			continue
		case entry == nil:
			return api.ErrSessionExpired
		}
		valid = sent
		if d, err := time.ParseDuration(entry.TTL); err == nil && d > 0 {
			ttl = d
		}
		next = valid.Add(ttl / 2)
	}
}

// cleanup releases the lock if this session holds it — a release applies
// no lock-delay, so a follower takes over at once — and destroys the
// session. Both are best effort: a session Consul already invalidated has
// nothing left to release.
func (e *Election) cleanup(sid string, log hclog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	w := (&api.WriteOptions{}).WithContext(ctx)
	if ok, _, err := e.client.KV().Release(&api.KVPair{Key: e.opts.Key, Value: []byte(e.opts.Replica), Session: sid, Flags: api.LockFlagValue}, w); err != nil {
		log.Debug("release leader lock", "error", err)
	} else if ok {
		log.Debug("released leader lock")
	}
	if _, err := e.client.Session().Destroy(sid, w); err != nil {
		log.Debug("destroy session", "error", err)
	}
}
