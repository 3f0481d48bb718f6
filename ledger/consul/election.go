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
	"github.com/inferensys/tumult/internal/crash"
)

// maxLockDelay is the largest lock-delay Consul honours.
const maxLockDelay = 60 * time.Second

// minLivenessTTL is the shortest liveness check TTL: updated every
// quarter TTL, shorter ones would lose the lock to a moment's load.
const minLivenessTTL = 500 * time.Millisecond

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
	// Consul does not say for how long. Acquisition is tried again once
	// this replica's LockDelay has passed since the key was seen free,
	// then every delayRetryMin for a while (LockDelay/4, within
	// delayRetryMin and delayRetryMax); after that (another replica
	// configured a longer lock-delay) the pause grows with the overrun, up
	// to electionRetryMax.
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
	// LivenessTTL is the TTL of the liveness check the sessions are tied
	// to (default config.DefaultLivenessTTL, at least 500ms): a killed
	// leader loses the lock this long after its last update of the check.
	LivenessTTL time.Duration
	// LockDelay (default config.DefaultLockDelay, at most 60s) must be at
	// least LivenessTTL + config.FenceMargin: see config.DefaultLockDelay
	// for why.
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
	// sessionEnd is when the current session's own TTL runs out, a TTL
	// after its last good renewal was sent (monotonic, see mono), and
	// tied whether the session is tied to the liveness check. Holder
	// reads them: the fence.
	sessionEnd atomic.Int64
	tied       atomic.Bool
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
	if opts.LivenessTTL == 0 {
		opts.LivenessTTL = config.DefaultLivenessTTL
	}
	if opts.LockDelay == 0 {
		opts.LockDelay = config.DefaultLockDelay
	}
	switch {
	case opts.SessionTTL < time.Second:
		return nil, fmt.Errorf("leader election on %s: session TTL %s: want at least 1s", opts.Key, opts.SessionTTL)
	case opts.LivenessTTL < minLivenessTTL:
		return nil, fmt.Errorf("leader election on %s: liveness TTL %s: want at least %s", opts.Key, opts.LivenessTTL, minLivenessTTL)
	case opts.LockDelay < 0 || opts.LockDelay > maxLockDelay:
		return nil, fmt.Errorf("leader election on %s: lock delay %s: want 0 to %s", opts.Key, opts.LockDelay, maxLockDelay)
	case opts.LockDelay < opts.LivenessTTL+config.FenceMargin:
		// A new leader could act while the old one, cut off from Consul,
		// still injects.
		return nil, fmt.Errorf("leader election on %s: lock delay %s: want at least the liveness TTL %s + %s, so that a leader that lost its session has stopped before another can lead",
			opts.Key, opts.LockDelay, opts.LivenessTTL, config.FenceMargin)
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
		alive:  newAlive(opts.Client, opts.Replica, opts.LivenessTTL, log),
	}, nil
}

// Replica returns this replica's name.
func (e *Election) Replica() string { return e.opts.Replica }

// Leading reports whether this replica holds the lock right now (lead is
// running and its context not yet cancelled).
func (e *Election) Leading() bool { return e.session.Load() != nil }

// Holder implements Fence: the lock key and this replica's session while
// it leads and its lease has not run out. Store.Fenced(election) makes
// record writes fail with ErrNotLeader once leadership is lost, even
// before lead has noticed: the lease is read from the clock at each call,
// not from renew's goroutine, which a busy process may wake late.
func (e *Election) Holder() (key, session string, ok bool) {
	if s := e.session.Load(); s != nil && mono().Before(e.leaseEnd()) {
		return e.opts.Key, *s, true
	}
	return "", "", false
}

// leaseEnd is when this replica must have stopped leading: its session's
// own TTL after the last good renewal or, for a session tied to the
// liveness check, the check's TTL after its last good update, whichever
// is first. Consul may invalidate the session from then on.
func (e *Election) leaseEnd() time.Time {
	end := monoAt(e.sessionEnd.Load())
	if a := e.alive.expires(); e.tied.Load() && a.Before(end) {
		return a
	}
	return end
}

// lockDelay is the lock-delay of a session. Tied to the liveness check,
// it is the configured one (at least the check's TTL + FenceMargin, see
// config.DefaultLockDelay). Untied — the check could not be registered —
// the leader's fence is a session TTL after its last renewal, and a
// session may be invalidated (its node failed) just after one: the
// lock-delay then covers the session TTL, up to Consul's 60s.
func (e *Election) lockDelay(tied bool) time.Duration {
	if tied {
		return e.opts.LockDelay
	}
	return min(max(e.opts.LockDelay, e.opts.SessionTTL+config.FenceMargin), maxLockDelay)
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
		defer crash.Recover("consul: liveness check")
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
	tied := len(checks) > 0
	delay := e.lockDelay(tied)
	created := mono() // the session's TTL runs from when Consul got this, later
	sid, _, err := e.client.Session().Create(&api.SessionEntry{
		Name:      e.opts.Replica,
		TTL:       e.opts.SessionTTL.String(),
		LockDelay: delay,
		Behavior:  api.SessionBehaviorDelete,
		// Besides Consul's default node check (serfHealth).
		ServiceChecks: checks,
	}, (&api.WriteOptions{}).WithContext(cctx))
	cancelCreate()
	if err != nil {
		return notLed, fmt.Errorf("create session on %s: %w", e.opts.Key, err)
	}
	log := e.log.With("session", sid)
	log.Debug("session created", "ttl", e.opts.SessionTTL, "liveness_ttl", e.opts.LivenessTTL, "lock_delay", delay)
	// Set before anyone can read them: Holder, once the lock is ours.
	e.tied.Store(tied)
	e.sessionEnd.Store(int64(created.Add(e.opts.SessionTTL).Sub(epoch)))

	renewCtx, stopRenew := context.WithCancel(context.Background())
	renewDone := make(chan struct{})
	var renewErr error
	go func() {
		defer crash.Recover("consul: session renewal")
		defer close(renewDone)
		renewErr = e.renew(renewCtx, sid, created)
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
		defer crash.Recover("consul: acquire")
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
		// Free, and refused again: lock-delay runs, from about when the
		// key was first seen free (Consul started it a moment earlier,
		// when it invalidated the session): sleep until our own
		// lock-delay has passed, then try again at short intervals.
		var wait time.Duration
		switch left := e.opts.LockDelay - time.Since(freeAt); {
		case left > 0:
			wait = left
		case -left < pause:
			wait = delayRetryMin // just passed: Consul's clock runs a little behind
		default:
			// Longer than our own lock-delay: another replica's is longer,
			// or something else refuses; ask less often.
			wait = min(max(-left, pause), electionRetryMax)
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
// ran out (leaseEnd): Consul may invalidate the session from then on.
// valid is when the session's creation was sent. Each renewal is bounded
// by what is left of the lease, so an unresponsive Consul cannot keep a
// leader that Consul has already given up on.
func (e *Election) renew(ctx context.Context, sid string, valid time.Time) error {
	ttl := e.opts.SessionTTL
	var lastErr error
	next := valid.Add(ttl / 2) // when to renew
	for {
		end := e.leaseEnd()
		if !sleep(ctx, max(min(next.Sub(mono()), end.Sub(mono())), 0)) {
			return nil
		}
		end = e.leaseEnd()
		byCheck := e.tied.Load() && e.alive.expires().Equal(end)
		left := end.Sub(mono())
		switch {
		case left > 0:
		case byCheck:
			return fmt.Errorf("liveness check %s not updated for %s: %w", e.alive.checkID, e.alive.ttl, e.alive.err())
		case lastErr != nil:
			return fmt.Errorf("session not renewed for %s: %w", ttl, lastErr)
		default:
			return fmt.Errorf("session not renewed for %s", ttl)
		}
		if mono().Before(next) {
			continue // woken for the lease, which an update of the check moved on
		}
		sent := mono()
		rctx, cancel := context.WithTimeout(ctx, left)
		entry, _, err := e.client.Session().Renew(sid, (&api.WriteOptions{}).WithContext(rctx))
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			lastErr = err
			next = mono().Add(renewRetry)
			e.log.Debug("session renewal failed", "session", sid, "error", err, "lease_left", left)
			continue
		case entry == nil:
			return api.ErrSessionExpired
		}
		valid = sent
		if d, err := time.ParseDuration(entry.TTL); err == nil && d > 0 {
			ttl = d
		}
		e.sessionEnd.Store(int64(valid.Add(ttl).Sub(epoch)))
		next = valid.Add(ttl / 2)
	}
}

// epoch anchors the election's instants on the monotonic clock: they are
// kept as durations since epoch (atomics), and read back with monoAt,
// which keeps the monotonic reading, so that a step of the wall clock
// (NTP, an operator) never stretches or cuts a lease.
var epoch = time.Now()

// mono is now, on the monotonic clock.
func mono() time.Time { return epoch.Add(time.Since(epoch)) }

// monoAt is the instant d (nanoseconds) after epoch.
func monoAt(d int64) time.Time { return epoch.Add(time.Duration(d)) }

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
