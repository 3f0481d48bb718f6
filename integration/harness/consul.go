package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"
)

// ConsulBinaryEnv names the variable that points at a consul binary; when
// unset the harness asks scripts/consul.sh, which builds and caches one.
const ConsulBinaryEnv = "TUMULT_CONSUL"

const (
	consulReadyTimeout = 60 * time.Second
	consulStopTimeout  = 15 * time.Second
	// consulBuildTimeout bounds scripts/consul.sh, which builds Consul
	// (3.5 to 5 minutes on a 2-core machine) when its cache is empty.
	consulBuildTimeout = 15 * time.Minute
)

// Consul is a real `consul agent -dev` on free loopback ports, with its own
// temporary data dir; it stops when the test ends.
//
// Dev mode keeps the KV store, sessions and catalog in memory: Start after
// Stop brings back an empty Consul on the same ports, as a new cluster.
// The agent accepts session TTLs from 1s (session_ttl_min), so that
// election tests need not wait for Consul's default 10s minimum.
type Consul struct {
	tb     testing.TB
	dir    string
	ports  consulPorts
	client *api.Client
	proc   *process
}

type consulPorts struct {
	http, serfLAN, serfWAN, server int
}

var (
	consulBinOnce sync.Once
	consulBinPath string
	consulBinErr  error
)

// ConsulBinary returns the path of a consul binary: $TUMULT_CONSUL, else
// what scripts/consul.sh prints (building it on first use). The result is
// shared by every test of the process.
func ConsulBinary() (string, error) {
	consulBinOnce.Do(func() { consulBinPath, consulBinErr = findConsul() })
	return consulBinPath, consulBinErr
}

func findConsul() (string, error) {
	if p := os.Getenv(ConsulBinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", ConsulBinaryEnv, p, err)
		}
		return p, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), consulBuildTimeout)
	defer cancel()
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", fmt.Errorf("locate the module root: %w", err)
	}
	script := filepath.Join(root, "scripts", "consul.sh")
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, script)
	cmd.Stderr = &stderr
	// On timeout, stop the go build under the script too, not only the
	// script: its own process group is killed as a whole.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", script, err, strings.TrimSpace(stderr.String()))
	}
	path := strings.TrimSpace(string(out))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%s printed %q: %w", script, path, err)
	}
	return path, nil
}

// StartConsul starts `consul agent -dev` and waits until it has a Raft
// leader. Without a consul binary (none given, and scripts/consul.sh
// cannot build one) the test is skipped, or fails under CI=true.
func StartConsul(t testing.TB) *Consul {
	t.Helper()
	began := time.Now()
	bin, err := ConsulBinary()
	if err != nil {
		Missing(t, "Consul", err)
		return nil
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Logf("consul binary %s ready after %s (built by scripts/consul.sh)", bin, d.Round(time.Second))
	}
	c := &Consul{tb: t, dir: t.TempDir()}
	c.proc = &process{
		tb: t, name: "consul", bin: bin, dir: c.dir, logPath: filepath.Join(c.dir, "consul.log"),
		atEnd: func() {
			c.Stop()
			if t.Failed() {
				c.proc.dumpLog()
			}
		},
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		c.ports = consulPorts{http: consulFreePort(t), serfLAN: consulFreePort(t), serfWAN: consulFreePort(t), server: consulFreePort(t)}
		if lastErr = c.start(); lastErr == nil {
			cfg := api.DefaultConfig()
			cfg.Address = c.Addr()
			cfg.Token = ""
			c.client, err = api.NewClient(cfg)
			require.NoError(t, err)
			return c
		}
		t.Logf("consul on %s: %v; retrying on other ports", c.Addr(), lastErr)
	}
	c.proc.dumpLog()
	t.Fatalf("start consul: %v", lastErr)
	return nil
}

// Addr is the HTTP API address, "127.0.0.1:port".
func (c *Consul) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.ports.http)) }

// Client returns a consul/api client for the agent (no ACL token).
func (c *Consul) Client() *api.Client { return c.client }

// Stop stops the agent (SIGTERM, SIGKILL after 15s); safe to call more
// than once.
func (c *Consul) Stop() { c.proc.end(consulStopTimeout) }

// Start starts a stopped agent again on the same ports and data dir (with
// an empty state: see Consul).
func (c *Consul) Start() {
	c.tb.Helper()
	if err := c.start(); err != nil {
		c.proc.dumpLog()
		c.tb.Fatalf("start consul again on %s: %v", c.Addr(), err)
	}
}

func (c *Consul) args() []string {
	return []string{
		"agent", "-dev",
		"-node=tumult-test",
		"-bind=127.0.0.1",
		"-client=127.0.0.1",
		"-advertise=127.0.0.1",
		"-data-dir=" + filepath.Join(c.dir, "data"),
		"-http-port=" + strconv.Itoa(c.ports.http),
		"-dns-port=-1",
		"-grpc-port=-1",
		"-grpc-tls-port=-1",
		"-serf-lan-port=" + strconv.Itoa(c.ports.serfLAN),
		"-serf-wan-port=" + strconv.Itoa(c.ports.serfWAN),
		"-server-port=" + strconv.Itoa(c.ports.server),
		"-log-level=info",
		"-hcl", `session_ttl_min = "1s"`,
		"-hcl", `ui_config { enabled = false }`,
	}
}

func (c *Consul) start() error {
	exited, err := c.proc.start(c.Addr(), c.args())
	if err != nil {
		return err
	}
	began := time.Now()
	if err := c.waitLeader(exited); err != nil {
		c.Stop()
		return err
	}
	c.tb.Logf("consul ready on %s after %s", c.Addr(), time.Since(began).Round(time.Millisecond))
	return nil
}

// waitLeader polls until the agent has a leader and its own node is in
// the catalog: before that it answers KV requests with errors, and session
// requests with "Missing node registration".
func (c *Consul) waitLeader(exited <-chan struct{}) error {
	cfg := api.DefaultConfig()
	cfg.Address = c.Addr()
	cfg.Token = ""
	cfg.WaitTime = time.Second
	client, err := api.NewClient(cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(consulReadyTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		leader, err := client.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx))
		if err == nil && leader != "" {
			var nodes []*api.Node
			nodes, _, err = client.Catalog().Nodes((&api.QueryOptions{}).WithContext(ctx))
			if err == nil && len(nodes) > 0 {
				cancel()
				return nil
			}
		}
		cancel()
		if time.Now().After(deadline) {
			return fmt.Errorf("no leader within %s (last: %q, %v)", consulReadyTimeout, leader, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("consul exited before it had a leader: %v", c.proc.exitErr())
		case <-tick.C:
		}
	}
}

// consulFreePort returns a port free a moment ago for both TCP and UDP on
// 127.0.0.1 (Serf uses both).
func consulFreePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = l.Close()
		if err == nil {
			_ = u.Close()
			return port
		}
	}
	t.Fatal("no port free for both TCP and UDP on 127.0.0.1 after 20 tries")
	return 0
}
