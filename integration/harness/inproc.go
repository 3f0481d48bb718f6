package harness

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/agent"
	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/policies"
)

// The daemon in-process: agent.New and agent.Run in the test's own
// process, with its own metrics registry, a temporary data_dir and
// policy_dir, and its API on a loopback listener. Tests that need to see
// inside (timings, metrics) or to start many daemons cheaply use this;
// tests of the binary itself use StartAgent.

const (
	// inprocStartTimeout bounds the wait for Run to serve after a start
	// (earlier faults are recovered before that).
	inprocStartTimeout = 60 * time.Second
	// inprocStopTimeout bounds the restore of running faults at stop.
	inprocStopTimeout = 30 * time.Second
)

// InProcOptions say what StartInProc starts.
type InProcOptions struct {
	// Config is the agent config. When nil, ConfigHCL is parsed (a
	// tumult.hcl text); when that is empty too, the default config with a
	// docker "local" block is used. Either way data_dir and policy_dir
	// are replaced by temporary directories and http.address by the
	// listener's address.
	Config    *config.Config
	ConfigHCL string
	// Policies are policy files: file name (".hcl" is added when
	// missing) to HCL text, written to policy_dir before the start.
	Policies map[string]string
	// Token, when set, protects the API: a tokens file "tests:<Token>"
	// is written and Client sends it. Tokens are at least 16 characters.
	Token string
	// Listener serves the API; a new one on 127.0.0.1:0 when nil. Pass
	// one from LoopbackListener when something (an Alertmanager webhook)
	// must know the address before the agent starts.
	Listener net.Listener
	// LogLevel of the agent's log (default "debug"); the log goes to a
	// file whose tail is printed when the test fails.
	LogLevel string
	// StopTimeout bounds the restore of running faults at Stop (default
	// 30s).
	StopTimeout time.Duration
}

// InProc is a tumult agent running inside the test process.
type InProc struct {
	// Agent is the running daemon.
	Agent *agent.Agent
	// Client talks to its API (with the token, when there is one).
	Client *api.Client
	// Registry holds its metrics.
	Registry *prometheus.Registry
	// Config is the config it runs with.
	Config *config.Config
	// Dir holds data_dir, policy_dir, the tokens file and the log.
	Dir string

	tb          testing.TB
	logPath     string
	logFile     *os.File
	cancel      context.CancelFunc
	done        chan struct{}
	runErr      error
	stopTimeout time.Duration
	stop        sync.Once
	stopErr     error
}

// LoopbackListener listens on a free port of 127.0.0.1 for an agent's
// API; it is closed when the test ends (the agent closes it earlier).
func LoopbackListener(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err, "listen on 127.0.0.1")
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// InProcConfig parses an agent config text (tumult.hcl) and fails the test
// on any error, showing the diagnostics with their line numbers.
func InProcConfig(t testing.TB, text string) *config.Config {
	t.Helper()
	cfg, srcs, ds := config.ParseConfig([]byte(text), "tumult.hcl")
	if ds.HasErrors() || cfg == nil {
		var b strings.Builder
		policies.WriteDiagnostics(&b, ds, srcs)
		t.Fatalf("agent config:\n%s\n%s", numbered(text), b.String())
	}
	return cfg
}

// StartInProc builds and starts an agent in-process and waits until it
// serves its API with earlier faults recovered. It stops when the test
// ends; Stop stops it earlier. Policy errors fail the test with their
// file:line:column.
func StartInProc(ctx context.Context, t testing.TB, opts InProcOptions) *InProc {
	t.Helper()
	cfg := opts.Config
	switch {
	case cfg != nil:
		c := *cfg
		cfg = &c
	case opts.ConfigHCL != "":
		cfg = InProcConfig(t, opts.ConfigHCL)
	default:
		cfg = config.DefaultConfig()
		cfg.Docker = []config.DockerEndpoint{{Name: "local", Host: "unix:///var/run/docker.sock"}}
	}
	dir := t.TempDir()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.PolicyDir = filepath.Join(dir, "policies")
	require.NoError(t, os.MkdirAll(cfg.PolicyDir, 0o755))
	names := make([]string, 0, len(opts.Policies))
	for name := range opts.Policies {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		file := filepath.Base(name)
		if !strings.HasSuffix(file, ".hcl") {
			file += ".hcl"
		}
		require.NoError(t, os.WriteFile(filepath.Join(cfg.PolicyDir, file), []byte(opts.Policies[name]), 0o644))
	}
	// Check the policies here, so that a mistake in a test's HCL fails
	// with the text and its line numbers rather than a bare Run error.
	if _, ds := policies.LoadPolicies([]string{cfg.PolicyDir}, policies.LoadOptions{Config: cfg, Now: time.Now()}); ds.HasErrors() {
		var b strings.Builder
		for _, name := range names {
			fmt.Fprintf(&b, "--- %s\n%s\n", name, numbered(opts.Policies[name]))
		}
		for _, d := range ds {
			fmt.Fprintf(&b, "%s: %s\n", policies.Location(d), policies.Message(d))
		}
		t.Fatalf("policies have errors:\n%s", b.String())
	}
	if opts.Token != "" {
		path := filepath.Join(dir, "tokens")
		require.NoError(t, os.WriteFile(path, []byte("tests:"+opts.Token+"\n"), 0o600))
		cfg.HTTP.TokensFile = path
	}
	l := opts.Listener
	if l == nil {
		l = LoopbackListener(t)
	}
	cfg.HTTP.Address = l.Addr().String()
	if opts.LogLevel == "" {
		opts.LogLevel = "debug"
	}
	if opts.StopTimeout <= 0 {
		opts.StopTimeout = inprocStopTimeout
	}

	p := &InProc{Config: cfg, Dir: dir, tb: t, stopTimeout: opts.StopTimeout, Registry: prometheus.NewRegistry(), done: make(chan struct{})}
	p.logPath = filepath.Join(dir, "tumult.log")
	f, err := os.Create(p.logPath)
	require.NoError(t, err)
	p.logFile = f
	logger := hclog.New(&hclog.LoggerOptions{
		Name: "tumult", Level: hclog.LevelFromString(opts.LogLevel), Output: f,
		TimeFormat: "15:04:05.000", Mutex: &sync.Mutex{},
	})
	a, err := agent.New(agent.Options{
		Config: cfg, Logger: logger, Registry: p.Registry, Listener: l, StopTimeout: opts.StopTimeout,
	})
	if err != nil {
		_ = f.Close()
		t.Fatalf("agent.New: %v", err)
	}
	p.Agent = a
	p.Client, err = api.NewClient(api.ClientOptions{Address: "http://" + l.Addr().String(), Token: opts.Token})
	require.NoError(t, err)

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	started := make(chan struct{})
	go func() {
		defer close(p.done)
		p.runErr = a.Run(runCtx, started)
	}()
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stop in-process agent: %v", err)
		}
		if t.Failed() {
			p.DumpLog()
		}
	})
	select {
	case <-started:
	case <-p.done:
		p.DumpLog()
		t.Fatalf("agent stopped before it served: %v", p.runErr)
	case <-time.After(inprocStartTimeout):
		p.DumpLog()
		t.Fatalf("agent did not serve within %s", inprocStartTimeout)
	}
	return p
}

// Addr is the API's host:port.
func (p *InProc) Addr() string { return p.Agent.Addr() }

// URL is the API's base URL, http://127.0.0.1:port.
func (p *InProc) URL() string { return "http://" + p.Agent.Addr() }

// Stop cancels Run and waits until it returns: no new faults, running
// faults restored (bounded by StopTimeout), ledger closed. It is safe to
// call more than once and returns Run's error.
func (p *InProc) Stop() error {
	p.stop.Do(func() {
		p.cancel()
		limit := p.stopTimeout + 15*time.Second
		select {
		case <-p.done:
			p.stopErr = p.runErr
		case <-time.After(limit):
			p.stopErr = fmt.Errorf("agent Run did not return within %s of its cancellation", limit)
		}
		_ = p.logFile.Sync()
	})
	return p.stopErr
}

// Stopped reports whether Run has returned.
func (p *InProc) Stopped() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Metric returns the value of the counter or gauge name with exactly the
// given labels, and whether it exists. Histograms report their count.
func (p *InProc) Metric(name string, labels map[string]string) (float64, bool) {
	mfs, err := p.Registry.Gather()
	if err != nil {
		return 0, false
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue(), true
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue(), true
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount()), true
			}
		}
	}
	return 0, false
}

// DumpLog prints the tail of the agent's log into the test output.
func (p *InProc) DumpLog() {
	if tail, err := logTail(p.logPath, 120); err == nil {
		p.tb.Logf("last lines of the in-process agent's log (%s):\n%s", p.logPath, tail)
	}
}

// numbered prefixes each line with its number, for error messages.
func numbered(text string) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	for i, l := range lines {
		lines[i] = fmt.Sprintf("%3d  %s", i+1, l)
	}
	return strings.Join(lines, "\n")
}
