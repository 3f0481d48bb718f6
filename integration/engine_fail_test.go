//go:build integration

package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
)

// efMode is what the failing engine does with a call.
type efMode int

const (
	efPass efMode = iota // forward to Docker
	efFail               // answer 500
	efHang               // hold the call until healed, then forward it
)

// efEngine is a Docker engine that fails: a reverse proxy on a unix
// socket in front of the real one that answers 500, or hangs, for the
// unpause calls of chosen containers, until healed.
type efEngine struct {
	sock string

	mu     sync.Mutex
	rules  map[string]efMode // container ID → mode of its unpause calls
	healed chan struct{}
	calls  map[efMode]int // unpause calls answered in each mode
}

func startFailingEngine(t *testing.T) *efEngine {
	t.Helper()
	upstream := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		upstream = strings.TrimPrefix(h, "unix://")
	}
	// A short path: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "tumult-ef-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	e := &efEngine{sock: filepath.Join(dir, "docker.sock"), rules: map[string]efMode{}, healed: make(chan struct{}), calls: map[efMode]int{}}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(&url.URL{Scheme: "http", Host: "docker"}) },
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", upstream)
		}},
		FlushInterval: -1, // events and logs stream
	}
	l, err := net.Listen("unix", e.sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch e.mode(r) {
		case efFail:
			http.Error(w, `{"message":"injected: engine failure"}`, http.StatusInternalServerError)
			return
		case efHang:
			select {
			case <-e.healedC():
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return e
}

func (e *efEngine) mode(r *http.Request) efMode {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/unpause") {
		return efPass
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, m := range e.rules {
		if strings.Contains(r.URL.Path, "/containers/"+id+"/") {
			e.calls[m]++
			return m
		}
	}
	e.calls[efPass]++
	return efPass
}

func (e *efEngine) set(id string, m efMode) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rules[id] = m
}

func (e *efEngine) healedC() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.healed
}

// heal lets every call through, the ones held included.
func (e *efEngine) heal() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rules = map[string]efMode{}
	close(e.healed)
}

func (e *efEngine) count(m efMode) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[m]
}

// A Docker engine that fails some calls during a halt: the halt is
// answered at once, the members whose unpause fails or hangs stay in the
// ledger as faults still being restored (with why), the others come back,
// and once the engine answers again the halt's retries bring back the
// rest. Nothing leaves the ledger before it is restored.
func TestHaltThroughAFailingEngine(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := agCtx(t, 4*time.Minute)
	eng := startFailingEngine(t)
	run := harness.Unique("ef")
	labels := map[string]string{runLabel: run, "tumult.enable": "true"}
	fleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 4, Labels: labels})
	a := harness.StartInProc(ctx, t, harness.InProcOptions{
		ConfigHCL: fmt.Sprintf("docker \"local\" {\n  host = %q\n}\n", "unix://"+eng.sock),
		Policies: map[string]string{"p.hcl": agPolicies(agPolicy{Name: "ef-pause", Labels: labels,
			Fault: `"pause" { duration = "1h" }`, Mean: "1s", MaxDisrupted: `"100%"`})},
	})
	var paused []ledger.Record
	require.Eventually(t, func() bool {
		f, err := a.Client.Faults(ctx)
		paused = nil
		for _, r := range f {
			if r.Phase == ledger.Injected {
				paused = append(paused, r)
			}
		}
		return err == nil && len(paused) >= 3
	}, time.Minute, 100*time.Millisecond, "the scheduler pauses three members")
	failing, hanging := paused[0].Member, paused[1].Member
	eng.set(failing.ID, efFail)
	eng.set(hanging.ID, efHang)

	began := time.Now()
	st, err := a.Client.Halt(ctx, api.HaltRequest{Reason: "engine trouble"})
	answered := time.Since(began)
	require.NoError(t, err, "the halt is answered though restores hang")
	require.Equal(t, ledger.Halted, st.State)
	t.Logf("halt answered after %s", answered.Round(time.Millisecond))

	// The others come back; the two stay active, saying why.
	var left []ledger.Record
	require.Eventually(t, func() bool {
		f, err := a.Client.Faults(ctx)
		if err != nil {
			return false
		}
		left = f
		return len(f) == 2 && eng.count(efFail) >= 2 && eng.count(efHang) >= 1
	}, time.Minute, 100*time.Millisecond, "two faults still being restored, the failing one retried")
	byID := map[string]ledger.Record{}
	for _, r := range left {
		byID[r.Member.ID] = r
	}
	require.Contains(t, byID, failing.ID)
	require.Contains(t, byID, hanging.ID)
	require.Contains(t, byID[failing.ID].Error, "injected: engine failure", "the record says why it is not back")
	for _, c := range fleet {
		if c.ID == failing.ID || c.ID == hanging.ID {
			require.True(t, agState(ctx, t, cli, c.ID).Paused, "%s stays paused while its engine fails", c.Name)
			continue
		}
		st := agState(ctx, t, cli, c.ID)
		require.True(t, st.Running && !st.Paused, "%s is back: %+v", c.Name, st)
	}

	eng.heal()
	require.Eventually(t, func() bool {
		f, err := a.Client.Faults(ctx)
		if err != nil || len(f) != 0 {
			return false
		}
		for _, c := range fleet {
			if st := agState(ctx, t, cli, c.ID); !st.Running || st.Paused {
				return false
			}
		}
		return true
	}, 2*time.Minute, 200*time.Millisecond, "restored once the engine answers again")
	hist, err := a.Client.History(ctx, 0, "", 0)
	require.NoError(t, err)
	for _, r := range hist {
		if r.Member.ID == failing.ID && !r.Injected.IsZero() {
			require.Equal(t, ledger.Restored, r.Result, "%s: %s", r.ID, r.Reason)
			require.Contains(t, strings.Join(stepsOf(r), "\n"), "restore attempt 1 failed")
		}
	}
}

func stepsOf(r ledger.Record) []string {
	var out []string
	for _, s := range r.Steps {
		out = append(out, s.What)
	}
	return out
}
