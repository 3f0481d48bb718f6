package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// PrometheusOptions configure a Prometheus server for a test.
type PrometheusOptions struct {
	// ScrapeTargets are host:port pairs on 127.0.0.1 serving /metrics.
	ScrapeTargets []string
	// ScrapeInterval defaults to 1s.
	ScrapeInterval time.Duration
	// RuleFiles maps a file name to its YAML content (rule groups).
	RuleFiles map[string]string
	// EvalInterval of rule groups, default 1s.
	EvalInterval time.Duration
}

// Prometheus is a real Prometheus server on a free loopback port with its
// own temporary storage; it stops when the test ends.
type Prometheus struct {
	proc *obsProcess
}

// StartPrometheus starts Prometheus (the `prometheus` binary on PATH) and
// waits until it is ready. Without the binary the test is skipped, or fails
// under CI=true.
func StartPrometheus(t testing.TB, opts PrometheusOptions) *Prometheus {
	t.Helper()
	bin := LookPath(t, "Prometheus", "prometheus")
	if opts.ScrapeInterval <= 0 {
		opts.ScrapeInterval = time.Second
	}
	if opts.EvalInterval <= 0 {
		opts.EvalInterval = time.Second
	}
	dir := t.TempDir()
	var ruleFiles []string
	names := make([]string, 0, len(opts.RuleFiles))
	for name := range opts.RuleFiles {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(dir, "rules", filepath.Base(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(opts.RuleFiles[name]), 0o644))
		ruleFiles = append(ruleFiles, path)
	}
	targets := opts.ScrapeTargets
	if targets == nil {
		targets = []string{}
	}
	// JSON is YAML, and encoding/json quotes every value correctly.
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval":     promDuration(opts.ScrapeInterval),
			"scrape_timeout":      promDuration(opts.ScrapeInterval),
			"evaluation_interval": promDuration(opts.EvalInterval),
		},
		"rule_files": ruleFiles,
		"scrape_configs": []any{map[string]any{
			"job_name":       "tumult-test",
			"static_configs": []any{map[string]any{"targets": targets}},
		}},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	require.NoError(t, err)
	cfgPath := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(cfgPath, b, 0o644))

	p := &Prometheus{proc: newObsProcess(t, "prometheus", bin, dir, func(addr string) []string {
		return []string{
			"--config.file=" + cfgPath,
			"--storage.tsdb.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--web.enable-lifecycle",
			"--log.level=info",
		}
	})}
	p.proc.startFresh()
	return p
}

// URL is the server's base URL, e.g. http://127.0.0.1:41234.
func (p *Prometheus) URL() string { return "http://" + p.proc.addr }

// Stop stops the server; it is safe to call more than once.
func (p *Prometheus) Stop() { p.proc.stop() }

// Start starts a stopped server again on the same port and storage.
func (p *Prometheus) Start() { p.proc.startAgain() }

// promDuration renders whole seconds and milliseconds the way Prometheus
// configuration reads them.
func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}

// obsProcess runs one Prometheus or Alertmanager process for a test: a
// free loopback port, output to a log file that is printed when the test
// fails, readiness through /-/ready, stop at test end.
type obsProcess struct {
	proc *process
	args func(addr string) []string
	addr string
}

const (
	obsReadyTimeout = 60 * time.Second
	obsStopTimeout  = 15 * time.Second
)

// newObsProcess runs bin with args(addr) in dir, its log in dir/name.log.
func newObsProcess(t testing.TB, name, bin, dir string, args func(addr string) []string) *obsProcess {
	p := &obsProcess{args: args}
	p.proc = &process{
		tb: t, name: name, bin: bin, dir: dir, logPath: filepath.Join(dir, name+".log"),
		atEnd: func() {
			p.stop()
			if t.Failed() {
				p.proc.dumpLog()
			}
		},
	}
	return p
}

// startFresh picks a free port and starts; a port taken by someone else
// between picking and binding gets another try with a new port.
func (p *obsProcess) startFresh() {
	t := p.proc.tb
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		p.addr = freeLoopbackAddr(t)
		if lastErr = p.start(); lastErr == nil {
			return
		}
		t.Logf("%s on %s: %v; retrying on another port", p.proc.name, p.addr, lastErr)
	}
	p.proc.dumpLog()
	t.Fatalf("start %s: %v", p.proc.name, lastErr)
}

// startAgain starts a stopped process on the port it had.
func (p *obsProcess) startAgain() {
	p.proc.tb.Helper()
	if err := p.start(); err != nil {
		p.proc.dumpLog()
		p.proc.tb.Fatalf("start %s again on %s: %v", p.proc.name, p.addr, err)
	}
}

func (p *obsProcess) start() error {
	exited, err := p.proc.start(p.addr, p.args(p.addr))
	if err != nil {
		return err
	}
	began := time.Now()
	if err := p.waitReady(exited); err != nil {
		p.stop()
		return err
	}
	p.proc.tb.Logf("%s ready on %s after %s", p.proc.name, p.addr, time.Since(began).Round(time.Millisecond))
	return nil
}

func (p *obsProcess) waitReady(exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	url := "http://" + p.addr + "/-/ready"
	deadline := time.Now().Add(obsReadyTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s (last: %v)", url, obsReadyTimeout, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited before it was ready: %v", p.proc.name, p.proc.exitErr())
		case <-tick.C:
		}
	}
}

// stop ends the process with SIGTERM, and SIGKILL after obsStopTimeout.
func (p *obsProcess) stop() { p.proc.end(obsStopTimeout) }

// LookPath finds the first of names on PATH; a missing component is
// reported through Missing (skip, or fail under CI=true).
func LookPath(t testing.TB, what string, names ...string) string {
	t.Helper()
	var errs []error
	for _, n := range names {
		path, err := exec.LookPath(n)
		if err == nil {
			return path
		}
		errs = append(errs, err)
	}
	Missing(t, what, fmt.Errorf("%w (install: apt-get install -y --no-install-recommends prometheus prometheus-alertmanager)", errors.Join(errs...)))
	return ""
}
