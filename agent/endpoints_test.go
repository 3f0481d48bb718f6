package agent

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/policies"
)

type fakeProber struct {
	mu    sync.Mutex
	errs  map[string]error
	calls map[string]int
}

var _ EndpointProber = (*fakeProber)(nil)

func (f *fakeProber) Probe(_ context.Context, d policies.Driver, endpoint string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := string(d) + "/" + endpoint
	f.calls[key]++
	return f.errs[key]
}

func (f *fakeProber) set(key string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs[key] = err
}

func TestEndpointMonitor(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 29, 23, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	prober := &fakeProber{errs: map[string]error{}, calls: map[string]int{}}
	var buf bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info, DisableTime: true})
	reg := prometheus.NewRegistry()
	all := []endpointKey{{policies.DriverDocker, "local"}, {policies.DriverDocker, "typo"}, {policies.DriverNomad, "prod"}}
	m := newEndpointMonitor(all, prober, clk, log, reg)
	ps := []*policies.Policy{
		{Name: "a", Enabled: true, Target: policies.Selector{Driver: policies.DriverDocker, Endpoint: "local"}},
		{Name: "b", Enabled: true, Target: policies.Selector{Driver: policies.DriverDocker, Endpoint: "typo"}},
		{Name: "n", Enabled: false, Target: policies.Selector{Driver: policies.DriverNomad, Endpoint: "prod"}},
	}
	gauge := func(name string) float64 { return testutil.ToFloat64(m.up.WithLabelValues(name)) }
	lines := func() []string {
		s := strings.TrimSpace(buf.String())
		buf.Reset()
		if s == "" {
			return nil
		}
		return strings.Split(s, "\n")
	}

	// At start: local answers, typo does not; prod is used by a disabled
	// policy only and is never contacted.
	prober.set("docker/typo", errors.New(`dial unix /var/run/dockr.sock: connect: no such file or directory`))
	m.Check(ctx, ps)
	require.Equal(t, []string{
		`[INFO]  docker endpoint "local" reachable: endpoint=docker/local policies=a`,
		`[ERROR] docker endpoint "typo" unreachable: no fault of its policies can start until it answers: endpoint=docker/typo policies=b error="dial unix /var/run/dockr.sock: connect: no such file or directory"`,
	}, lines())
	require.Zero(t, prober.calls["nomad/prod"])
	require.Equal(t, 1.0, gauge("docker/local"))
	require.Equal(t, 0.0, gauge("docker/typo"))
	require.Equal(t, []api.EndpointStatus{
		{Name: "docker/local", Driver: "docker", Endpoint: "local", State: api.EndpointUp, Since: t0, Checked: t0, Policies: []string{"a"}},
		{Name: "docker/typo", Driver: "docker", Endpoint: "typo", State: api.EndpointDown, Since: t0, Checked: t0,
			Error: "dial unix /var/run/dockr.sock: connect: no such file or directory", Policies: []string{"b"}},
		{Name: "nomad/prod", Driver: "nomad", Endpoint: "prod", State: api.EndpointUnused},
	}, m.Statuses(ps))

	// Still down, still up: nothing new is logged.
	for range 3 {
		clk.Advance(endpointEvery)
		m.Check(ctx, ps)
	}
	require.Empty(t, lines())
	st := m.Statuses(ps)
	require.Equal(t, t0, st[1].Since, "down since the first failed check")
	require.Equal(t, t0.Add(3*endpointEvery), st[1].Checked)

	// Back: one WARN with how long it was down.
	prober.set("docker/typo", nil)
	clk.Advance(endpointEvery)
	m.Check(ctx, ps)
	require.Equal(t, []string{`[WARN]  docker endpoint "typo" reachable again: endpoint=docker/typo policies=b down_for=1m0s`}, lines())
	require.Equal(t, 1.0, gauge("docker/typo"))
	require.Equal(t, api.EndpointUp, m.Statuses(ps)[1].State)
}
