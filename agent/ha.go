package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/bolt"
	"github.com/inferensys/tumult/ledger/consul"
	"github.com/inferensys/tumult/scheduler"
)

// highAvailability is what a consul block adds: a shared ledger, an
// election that decides which replica schedules, and a watch on the
// control state so the leader acts on halts written by any replica.
type highAvailability struct {
	store    *consul.Store
	election *consul.Election
	health   *alerting.ConsulHealth
}

// openLedger opens the embedded ledger, or with a consul block the shared
// one. It returns the ledger the scheduler writes through: with Consul,
// fenced by the election, so that a replica that lost the lock cannot
// write a decision even before it notices.
func (a *Agent) openLedger() (scheduler.Ledger, error) {
	cfg := a.cfg
	if cfg.Consul == nil {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data_dir: %w", err)
		}
		store, err := bolt.Open(filepath.Join(cfg.DataDir, "ledger.db"), bolt.Options{Logger: a.log, Now: a.clock.Now})
		if err != nil {
			return nil, fmt.Errorf("open ledger: %w", err)
		}
		a.ledger = store
		a.onStop("close ledger", func(context.Context) error { return store.Close() })
		return store, nil
	}

	cc := cfg.Consul
	token := ""
	if cc.TokenEnv != "" {
		token = os.Getenv(cc.TokenEnv)
	}
	client, err := consul.NewClient(cc.Address, token)
	if err != nil {
		return nil, fmt.Errorf("consul %s: %w", cc.Address, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	store, err := consul.Open(ctx, consul.Options{Client: client, Prefix: cc.Prefix, Now: a.clock.Now, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("open the shared ledger on consul %s: %w", cc.Address, err)
	}
	a.ledger = store
	a.onStop("close ledger", func(context.Context) error { return store.Close() })
	election, err := consul.NewElection(consul.ElectionOptions{
		Client: client, Key: store.LeaderKey(), SessionTTL: cc.SessionTTL, LivenessTTL: cc.LivenessTTL, LockDelay: cc.LockDelay,
		Replica: replicaName(), Logger: a.log,
	})
	if err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	health, err := alerting.NewConsulHealth(alerting.ConsulHealthOptions{Client: client, Trips: guardian.ConsulCheckTrips, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("consul health: %w", err)
	}
	a.ha = &highAvailability{store: store, election: election, health: health}
	a.log.Info("shared ledger on consul", "address", cc.Address, "prefix", cc.Prefix, "replica", election.Replica())
	return store.Fenced(election), nil
}

// replicaName names this replica in the election: host, and the Nomad
// allocation or the process when there is none.
func replicaName() string {
	host, _ := os.Hostname()
	if alloc := os.Getenv("NOMAD_ALLOC_ID"); len(alloc) >= 8 {
		return host + "/" + alloc[:8]
	}
	return fmt.Sprintf("%s/%d", host, os.Getpid())
}

func (a *Agent) replica() string {
	if a.ha == nil {
		return replicaName()
	}
	return a.ha.election.Replica()
}

// leading reports whether this replica schedules.
func (a *Agent) leading() bool { return a.ha == nil || a.ha.election.Leading() }

// followerWait bounds how long a pause with restore received by a
// follower waits for the leader to restore, so that its answer still says
// what happened (the CLI gives up after 10s). A halt is answered once
// recorded; there the wait runs in the background and only its log line
// (and the error it ends with) tells of the leader's progress.
const followerWait = 8 * time.Second

// replicaRestorer is how the controller restores. On the leader (or a
// single node) it is the engine's RestoreAll. On a follower the shared
// ledger's records are the leader's: the controller has recorded the
// halt or pause in the shared control state, the leader's control watch
// sees it and restores (guardian.Controller.Follow), and the follower
// only restores the faults its own process still runs (left from when it
// led) and then waits, up to followerWait, until the leader has restored
// the rest. The follower never writes the leader's records, which the
// leader's fence would refuse.
type replicaRestorer struct{ a *Agent }

var _ guardian.Restorer = replicaRestorer{}

// RestoreAll implements guardian.Restorer.
func (r replicaRestorer) RestoreAll(ctx context.Context, reason string, keep func(ledger.Record) bool) (int, error) {
	a := r.a
	if a.leading() {
		return a.engine.RestoreAll(ctx, reason, keep)
	}
	n, err := a.engine.RestoreRunning(ctx, reason, keep)
	if err != nil {
		return n, fmt.Errorf("restore the faults this replica still runs: %w", err)
	}
	m, err := a.awaitLeader(ctx, keep)
	return n + m, err
}

// Hold implements guardian.Restorer. On the leader (or a single node) it
// holds the engine, the only one that injects. A follower cannot hold
// the leader: it returns nil, so the halt is recorded (and seen by the
// leader) before the follower restores and waits for the leader.
func (r replicaRestorer) Hold(policy string) (release func()) {
	if !r.a.leading() {
		return nil
	}
	return r.a.engine.Hold(policy)
}

// awaitLeader waits until the active records that keep selects, as they
// are now, are no longer active, up to followerWait or until ctx ends. It
// returns how many finished.
func (a *Agent) awaitLeader(ctx context.Context, keep func(ledger.Record) bool) (int, error) {
	scope := func() (map[string]bool, error) {
		recs, err := a.ledger.Active(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the faults the leader is to restore: %w", err)
		}
		ids := map[string]bool{}
		for _, r := range recs {
			if keep == nil || keep(r) {
				ids[r.ID] = true
			}
		}
		return ids, nil
	}
	want, err := scope()
	if err != nil || len(want) == 0 {
		return 0, err
	}
	a.log.Info("follower: the leader restores; waiting for it", "faults", len(want), "wait", followerWait)
	deadline := a.clock.Now().Add(followerWait)
	for {
		now, err := scope()
		if err != nil {
			return 0, err
		}
		left := 0
		for id := range want {
			if now[id] {
				left++
			}
		}
		if left == 0 {
			return len(want), nil
		}
		if !a.clock.Now().Before(deadline) {
			return len(want) - left, fmt.Errorf("recorded for the leader, which has not restored %d of %d faults after %s yet; tumult faults shows them", left, len(want), followerWait)
		}
		tick, stop := a.clock.After(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			stop()
			return len(want) - left, fmt.Errorf("waiting for the leader to restore %d faults: %w", left, ctx.Err())
		case <-tick:
		}
	}
}
