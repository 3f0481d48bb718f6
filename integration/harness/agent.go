package harness

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/inferensys/tumult/api"
)

// The real daemon for tests: the tumult binary built from this module,
// run as a subprocess with a generated config, policies and tokens in a
// temporary directory, its API on a free loopback port.

const (
	// agentReadyTimeout bounds the wait for /v1/health after a start.
	agentReadyTimeout = 30 * time.Second
	// agentCleanupStop bounds the SIGTERM at test end before SIGKILL.
	agentCleanupStop = 30 * time.Second
)

var tumultBinary struct {
	once sync.Once
	path string
	err  error
}

// TumultBinary builds ./cmd/tumult once per test process and returns the
// binary's path. The binary lives in a per-user, per-clone directory under the
// system temp dir and is replaced by each test process, so repeated runs
// leave one copy behind, not one per run. A failed build fails the test.
func TumultBinary(t testing.TB) string {
	t.Helper()
	tumultBinary.once.Do(func() {
		tumultBinary.path, tumultBinary.err = buildTumult()
	})
	if tumultBinary.err != nil {
		t.Fatalf("build tumult: %v", tumultBinary.err)
	}
	return tumultBinary.path
}

func buildTumult() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	// Keyed by the clone too: test runs of other clones (worktrees) on the
	// same machine must not replace this one's binary with theirs.
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("tumult-itest-%d-%x", os.Getuid(), sum[:4]))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("make binary dir: %w", err)
	}
	// Build beside the final name, then rename: a process of another test
	// run still executing the old binary keeps its inode.
	tmp := filepath.Join(dir, fmt.Sprintf("tumult.%d.tmp", os.Getpid()))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmp, "./cmd/tumult")
	cmd.Dir = root
	// Static, as releases are: the agent builds its helper image (FROM
	// scratch) from its own binary.
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("go build ./cmd/tumult: %w\n%s", err, out)
	}
	bin := filepath.Join(dir, "tumult")
	if err := os.Rename(tmp, bin); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("install test binary: %w", err)
	}
	return bin, nil
}

// AgentOptions say how StartAgent configures the daemon.
type AgentOptions struct {
	// Policies are written into policy_dir: file name → HCL text.
	Policies map[string]string
	// Tokens are the API tokens by name (the actor in records). Default:
	// one random token named "oncall".
	Tokens map[string]string
	// TokenName picks the token the Client sends; default "oncall" when
	// present, else the first name in sorted order.
	TokenName string
	// Seed is the config's seed (0: random).
	Seed int64
	// LogLevel of the agent (default "debug", so a failing test's log says
	// what the scheduler did).
	LogLevel string
	// OptInLabel and Protect are the safety block; defaults
	// "tumult.enable" and {"role": "infra"}.
	OptInLabel string
	Protect    map[string]string
	// ExtraConfig is HCL appended to the generated agent config.
	ExtraConfig string
}

// Agent is one tumult daemon run by a test.
type Agent struct {
	tb testing.TB

	// Dir holds everything below; it is the test's temp dir.
	Dir        string
	DataDir    string
	PolicyDir  string
	ConfigFile string
	TokensFile string
	LogFile    string
	// Addr is host:port of the API on 127.0.0.1.
	Addr string
	// Tokens by name, and the one the Client sends.
	Tokens    map[string]string
	TokenName string
	Token     string
	// Client is a typed client of the API with Token.
	Client *api.Client

	proc *process
}

// StartAgent writes the config, policies and tokens into a temp dir and
// starts `tumult agent -config FILE` on a free 127.0.0.1 port, waiting
// until /v1/health answers. The agent is stopped (SIGTERM, then SIGKILL)
// when the test ends, and its log printed when the test failed.
func StartAgent(ctx context.Context, t testing.TB, opts AgentOptions) *Agent {
	t.Helper()
	bin := TumultBinary(t)
	a := &Agent{tb: t, Dir: t.TempDir()}
	a.DataDir = filepath.Join(a.Dir, "data")
	a.PolicyDir = filepath.Join(a.Dir, "policies")
	a.ConfigFile = filepath.Join(a.Dir, "tumult.hcl")
	a.TokensFile = filepath.Join(a.Dir, "tokens")
	a.LogFile = filepath.Join(a.Dir, "agent.log")
	a.proc = &process{
		tb: t, name: "tumult agent", bin: bin, dir: a.Dir, env: cliEnv(nil), logPath: a.LogFile,
		atEnd: func() {
			if a.Running() {
				if _, err := a.Stop(agentCleanupStop); err != nil {
					t.Logf("stop tumult agent at test end: %v", err)
				}
			}
			if t.Failed() {
				a.DumpLog()
			}
		},
	}
	if err := os.MkdirAll(a.PolicyDir, 0o755); err != nil {
		t.Fatalf("make policy_dir: %v", err)
	}
	for name, text := range opts.Policies {
		a.WritePolicy(name, text)
	}

	a.Tokens = maps.Clone(opts.Tokens)
	if len(a.Tokens) == 0 {
		a.Tokens = map[string]string{"oncall": RandomToken()}
	}
	a.TokenName = opts.TokenName
	if a.TokenName == "" {
		if _, ok := a.Tokens["oncall"]; ok {
			a.TokenName = "oncall"
		} else {
			a.TokenName = slices.Sorted(maps.Keys(a.Tokens))[0]
		}
	}
	a.Token = a.Tokens[a.TokenName]
	var tokens strings.Builder
	for _, name := range slices.Sorted(maps.Keys(a.Tokens)) {
		fmt.Fprintf(&tokens, "%s:%s\n", name, a.Tokens[name])
	}
	if err := os.WriteFile(a.TokensFile, []byte(tokens.String()), 0o600); err != nil {
		t.Fatalf("write tokens file: %v", err)
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		a.Addr, a.Client = freeLoopbackAddr(t), nil
		a.writeConfig(opts)
		if lastErr = a.start(ctx); lastErr == nil {
			return a
		}
		t.Logf("tumult agent on %s: %v; retrying on another port", a.Addr, lastErr)
	}
	a.DumpLog()
	t.Fatalf("start tumult agent: %v", lastErr)
	return nil
}

// RandomToken returns a token long enough for a tokens file.
func RandomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (a *Agent) writeConfig(opts AgentOptions) {
	level := opts.LogLevel
	if level == "" {
		level = "debug"
	}
	optIn := opts.OptInLabel
	if optIn == "" {
		optIn = "tumult.enable"
	}
	protect := opts.Protect
	if protect == nil {
		protect = map[string]string{"role": "infra"}
	}
	cfg := fmt.Sprintf(`data_dir   = %q
policy_dir = %q
log_level  = %q
seed       = %d

http {
  address     = %q
  tokens_file = %q
}

# No host: the driver reads DOCKER_HOST like the docker CLI.
docker "local" {}

safety {
  opt_in_label = %q
  protect      = %s
}
%s
`, a.DataDir, a.PolicyDir, level, opts.Seed, a.Addr, a.TokensFile, optIn, HCLMap(protect), opts.ExtraConfig)
	if err := os.WriteFile(a.ConfigFile, []byte(cfg), 0o644); err != nil {
		a.tb.Fatalf("write agent config: %v", err)
	}
}

// HCLMap renders a string map as an HCL object, keys sorted.
func HCLMap(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%q = %q", k, m[k]))
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// WritePolicy writes (or replaces) a file in policy_dir. The write is
// atomic (temp file and rename) so that the agent's watcher never reads
// half a file.
func (a *Agent) WritePolicy(name, text string) {
	a.tb.Helper()
	tmp := filepath.Join(a.PolicyDir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		a.tb.Fatalf("write policy %s: %v", name, err)
	}
	if err := os.Rename(tmp, filepath.Join(a.PolicyDir, name)); err != nil {
		a.tb.Fatalf("write policy %s: %v", name, err)
	}
}

// URL is the API's base URL, http://127.0.0.1:port.
func (a *Agent) URL() string { return "http://" + a.Addr }

func (a *Agent) start(ctx context.Context) error {
	exited, err := a.proc.start(a.Addr, []string{"agent", "-config", a.ConfigFile})
	if err != nil {
		return err
	}
	if a.Client == nil {
		c, err := api.NewClient(api.ClientOptions{Address: a.URL(), Token: a.Token})
		if err != nil {
			return err
		}
		a.Client = c
	}
	began := time.Now()
	if err := a.waitHealthy(ctx, exited); err != nil {
		a.Kill()
		return err
	}
	a.tb.Logf("tumult agent (pid %d) healthy on %s after %s", a.PID(), a.Addr, time.Since(began).Round(time.Millisecond))
	return nil
}

func (a *Agent) waitHealthy(ctx context.Context, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, agentReadyTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		hctx, hcancel := context.WithTimeout(ctx, time.Second)
		err := a.Client.Health(hctx)
		hcancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("tumult agent exited before it was healthy: %v", a.proc.exitErr())
		case <-ctx.Done():
			return fmt.Errorf("%s/v1/health not ok within %s: %v", a.URL(), agentReadyTimeout, err)
		case <-tick.C:
		}
	}
}

// Running reports whether the agent was started and has not been stopped
// or killed since. An agent that exited by itself still counts: ask its
// API (Client.Health) to know whether it is alive.
func (a *Agent) Running() bool { return a.proc.running() }

// Alive reports whether the agent process is up: started and not exited,
// by itself or otherwise.
func (a *Agent) Alive() bool { return a.proc.alive() }

// PID is the agent's process ID, 0 when it is not running.
func (a *Agent) PID() int { return a.proc.pid() }

// Stop sends SIGTERM and waits up to timeout for the agent to exit. It
// returns how long the exit took, and an error when the agent exited
// with a failure or did not exit in time (it is then killed).
func (a *Agent) Stop(timeout time.Duration) (time.Duration, error) { return a.proc.stop(timeout) }

// Kill sends SIGKILL, as a crash would, and waits until the process is
// gone.
func (a *Agent) Kill() { a.proc.kill() }

// Restart starts a stopped or killed agent again on the same config, data
// dir and port, and waits for /v1/health.
func (a *Agent) Restart(ctx context.Context) {
	a.tb.Helper()
	if err := a.start(ctx); err != nil {
		a.DumpLog()
		a.tb.Fatalf("restart tumult agent on %s: %v", a.Addr, err)
	}
}

// Log returns the agent's log so far.
func (a *Agent) Log() string {
	b, _ := os.ReadFile(a.LogFile)
	return string(b)
}

// DumpLog prints the tail of the agent's log into the test output.
func (a *Agent) DumpLog() {
	if tail, err := logTail(a.LogFile, 120); err == nil {
		a.tb.Logf("last lines of the tumult agent's log (%s):\n%s", a.LogFile, tail)
	}
}

// CLIResult is what one run of the tumult CLI gave.
type CLIResult struct {
	Stdout, Stderr string
	Code           int
}

// CLI runs `tumult args...` against this agent with TUMULT_ADDR set and
// TUMULT_TOKEN set to token ("" sends none).
func (a *Agent) CLI(ctx context.Context, t testing.TB, token string, args ...string) CLIResult {
	t.Helper()
	return RunTumult(ctx, t, map[string]string{"TUMULT_ADDR": a.URL(), "TUMULT_TOKEN": token}, args...)
}

// RunTumult runs the tumult binary with args and env added to this
// process's environment (TUMULT_* variables of the environment are
// dropped first), bounded by ctx and a minute.
func RunTumult(ctx context.Context, t testing.TB, env map[string]string, args ...string) CLIResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, TumultBinary(t), args...)
	cmd.Env = cliEnv(env)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := CLIResult{Stdout: out.String(), Stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		res.Code = exit.ExitCode()
	default:
		t.Fatalf("run tumult %s: %v\nstderr: %s", strings.Join(args, " "), err, res.Stderr)
	}
	return res
}

// cliEnv is this process's environment without TUMULT_* variables, plus
// extra.
func cliEnv(extra map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TUMULT_") {
			env = append(env, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		env = append(env, k+"="+extra[k])
	}
	return env
}

// freeLoopbackAddr returns 127.0.0.1:port for a port that was free a
// moment ago.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return addr
}

// ClosedAddr returns an http:// URL on 127.0.0.1 where nothing listens.
func ClosedAddr(t testing.TB) string { return "http://" + freeLoopbackAddr(t) }
