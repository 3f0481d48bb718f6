package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/policies"
)

// EndpointProber checks that one driver endpoint answers: a Docker
// engine's ping, a Nomad cluster's leader.
type EndpointProber interface {
	Probe(ctx context.Context, driver policies.Driver, endpoint string) error
}

// Endpoint checks run at start and then every endpointEvery, each bounded
// by endpointTimeout.
const (
	endpointEvery   = 15 * time.Second
	endpointTimeout = 5 * time.Second
)

// endpointMonitor knows whether each configured endpoint answers. A
// mistyped socket otherwise shows only as a skip reason on every decision
// while /v1/health answers ok: here it is checked at start, shown in
// status and as tumult_endpoint_up, and logged once when it changes.
type endpointMonitor struct {
	prober EndpointProber
	clock  clock.Clock
	log    hclog.Logger
	up     *prometheus.GaugeVec

	mu sync.Mutex
	// all is every docker and nomad block of the config, in config order.
	all    []endpointKey
	states map[endpointKey]*endpointState
}

type endpointKey struct {
	driver policies.Driver
	name   string
}

func (k endpointKey) String() string { return string(k.driver) + "/" + k.name }

type endpointState struct {
	state     string // api.Endpoint*
	since     time.Time
	checked   time.Time
	err       string
	downSince time.Time
}

func newEndpointMonitor(all []endpointKey, prober EndpointProber, ck clock.Clock, log hclog.Logger, reg prometheus.Registerer) *endpointMonitor {
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "tumult_endpoint_up",
		Help: "Whether a Docker engine or Nomad cluster that an enabled policy uses answered its last check (1) or not (0).",
	}, []string{"endpoint"})
	reg.MustRegister(up)
	m := &endpointMonitor{prober: prober, clock: ck, log: log, up: up, all: all, states: map[endpointKey]*endpointState{}}
	for _, k := range all {
		m.states[k] = &endpointState{state: api.EndpointUnused}
	}
	return m
}

// users maps each endpoint to the enabled policies that target it.
func users(ps []*policies.Policy) map[endpointKey][]string {
	out := map[endpointKey][]string{}
	for _, p := range ps {
		if !p.Enabled {
			continue
		}
		k := endpointKey{p.Target.Driver, p.Target.Endpoint}
		out[k] = append(out[k], p.Name)
	}
	return out
}

// Check probes every endpoint an enabled policy uses, at once, and
// records and logs what changed. Endpoints no enabled policy uses are
// never contacted.
func (m *endpointMonitor) Check(ctx context.Context, ps []*policies.Policy) {
	if m.prober == nil {
		return
	}
	used := users(ps)
	type result struct {
		k   endpointKey
		err error
	}
	results := make(chan result, len(used))
	for k := range used {
		go func() {
			cctx, cancel := context.WithTimeout(ctx, endpointTimeout)
			defer cancel()
			results <- result{k, m.prober.Probe(cctx, k.driver, k.name)}
		}()
	}
	got := map[endpointKey]error{}
	for range used {
		r := <-results
		got[r.k] = r.err
	}
	if ctx.Err() != nil {
		return // stopping: a cancelled probe says nothing about the endpoint
	}
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, st := range m.states {
		if _, ok := used[k]; !ok && st.state != api.EndpointUnused {
			st.state, st.since, st.err = api.EndpointUnused, now, ""
			m.up.DeleteLabelValues(k.String())
		}
	}
	keys := make([]endpointKey, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	for _, k := range keys {
		m.record(k, got[k], used[k], now)
	}
}

// record notes one probe's result; the caller holds m.mu. A change is
// logged once: down at ERROR (no fault of its policies can start), back
// at WARN, the first good check at INFO.
func (m *endpointMonitor) record(k endpointKey, err error, names []string, now time.Time) {
	st, ok := m.states[k]
	if !ok { // a policy names an endpoint the config lacks: validate refuses that, but be safe
		st = &endpointState{state: api.EndpointUnused}
		m.states[k] = st
		m.all = append(m.all, k)
	}
	st.checked = now
	log := m.log.With("endpoint", k.String(), "policies", strings.Join(names, ","))
	if err != nil {
		msg := err.Error()
		if st.state != api.EndpointDown {
			st.state, st.since, st.downSince = api.EndpointDown, now, now
			log.Error(fmt.Sprintf("%s endpoint %q unreachable: no fault of its policies can start until it answers", k.driver, k.name), "error", msg)
		}
		st.err = msg
		m.up.WithLabelValues(k.String()).Set(0)
		return
	}
	switch st.state {
	case api.EndpointDown:
		log.Warn(fmt.Sprintf("%s endpoint %q reachable again", k.driver, k.name), "down_for", now.Sub(st.downSince).Round(time.Second))
	case api.EndpointUp:
	default:
		log.Info(fmt.Sprintf("%s endpoint %q reachable", k.driver, k.name))
	}
	if st.state != api.EndpointUp {
		st.state, st.since = api.EndpointUp, now
	}
	st.err = ""
	m.up.WithLabelValues(k.String()).Set(1)
}

// Run checks every endpointEvery until ctx ends.
func (m *endpointMonitor) Run(ctx context.Context, ps func() []*policies.Policy) {
	for {
		c, stop := m.clock.After(endpointEvery)
		select {
		case <-ctx.Done():
			stop()
			return
		case <-c:
		}
		m.Check(ctx, ps())
	}
}

// Statuses reports every configured endpoint, in config order.
func (m *endpointMonitor) Statuses(ps []*policies.Policy) []api.EndpointStatus {
	used := users(ps)
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]api.EndpointStatus, 0, len(m.all))
	for _, k := range m.all {
		st := m.states[k]
		es := api.EndpointStatus{Name: k.String(), Driver: string(k.driver), Endpoint: k.name, State: st.state,
			Since: st.since, Checked: st.checked, Error: st.err, Policies: used[k]}
		if es.State == api.EndpointUnused && len(used[k]) > 0 {
			es.State = api.EndpointUnchecked
		}
		if m.prober == nil && len(used[k]) > 0 {
			es.State = api.EndpointUnchecked
		}
		out = append(out, es)
	}
	return out
}

// errNoProbe says an endpoint cannot be probed.
var errNoProbe = errors.New("this driver endpoint cannot be probed")

// endpointsOf lists the config's docker and nomad blocks.
func endpointsOf(cfg *config.Config) []endpointKey {
	var out []endpointKey
	for _, d := range cfg.Docker {
		out = append(out, endpointKey{policies.DriverDocker, d.Name})
	}
	for _, n := range cfg.Nomad {
		out = append(out, endpointKey{policies.DriverNomad, n.Name})
	}
	return out
}
