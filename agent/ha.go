package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/guardian"
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
		Client: client, Key: store.LeaderKey(), SessionTTL: cc.SessionTTL, LockDelay: cc.LockDelay,
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
