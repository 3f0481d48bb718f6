package harness

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// serverLogTail is how many lines of a server's log a failed test shows.
const serverLogTail = 60

// errKilled marks a stop that had to end the process with SIGKILL.
var errKilled = errors.New("killed it")

// process is one server a test runs as a subprocess: the tumult agent,
// Prometheus, Alertmanager or Consul. Its output is appended to a log
// file, after a banner line per start; a goroutine reaps it; it stops with
// SIGTERM, and SIGKILL after a timeout; it can be started again on the
// same log. Its owner picks the arguments, waits for readiness and says
// in atEnd what happens when the test ends.
type process struct {
	tb      testing.TB
	name    string // in messages and banners, e.g. "consul"
	bin     string
	dir     string   // working directory
	env     []string // nil: this process's environment
	logPath string
	// atEnd is registered with the test's cleanup at the first start,
	// however often the process is started.
	atEnd func()

	mu      sync.Mutex
	cmd     *exec.Cmd // nil when never started, stopped or killed
	exited  chan struct{}
	waitErr error
	cleanup bool
}

// start runs bin with args; addr is for the log's banner. The channel it
// returns is closed once the process has exited; exitErr then says how.
func (p *process) start(addr string, args []string) (<-chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return nil, fmt.Errorf("%s is already running", p.name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", p.name, err)
	}
	fmt.Fprintf(logf, "--- %s starting on %s at %s\n", p.name, addr, time.Now().Format(time.RFC3339Nano))
	// Not CommandContext: the test decides how the process ends (SIGTERM,
	// SIGKILL), and a cancelled context must not kill it behind its back.
	cmd := exec.Command(p.bin, args...)
	cmd.Dir = p.dir
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("run %s: %w", p.bin, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited = cmd, exited
	go func() {
		err := cmd.Wait()
		_ = logf.Close()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		close(exited)
	}()
	if !p.cleanup {
		p.cleanup = true
		p.tb.Cleanup(p.atEnd)
	}
	return exited, nil
}

// exitErr is how the last started process exited (nil for status 0);
// read it after the channel from start is closed.
func (p *process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waitErr
}

// running reports whether the process was started and has not been
// stopped or killed since. A process that exited by itself still counts
// as running until stop or kill is called.
func (p *process) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// alive reports whether the process was started and has not exited.
func (p *process) alive() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// pid is the process ID, 0 when it is not running.
func (p *process) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// stop sends SIGTERM and waits up to timeout for the process to exit. It
// returns how long the exit took, and an error when the process was not
// running, exited with a failure or did not exit in time (it is then
// killed, and the error wraps errKilled).
func (p *process) stop(timeout time.Duration) (time.Duration, error) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return 0, fmt.Errorf("%s is not running", p.name)
	}
	began := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, fmt.Errorf("SIGTERM %s: %w", p.name, err)
	}
	select {
	case <-exited:
	case <-time.After(timeout):
		p.kill()
		return time.Since(began), fmt.Errorf("%s did not exit within %s of SIGTERM; %w", p.name, timeout, errKilled)
	}
	took := time.Since(began)
	p.mu.Lock()
	err := p.waitErr
	p.cmd = nil
	p.mu.Unlock()
	if err != nil {
		return took, fmt.Errorf("%s exited after SIGTERM: %w", p.name, err)
	}
	return took, nil
}

// kill sends SIGKILL, as a crash would, and waits until the process is
// gone.
func (p *process) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
}

// end stops a server whose exit status does not matter to the test (Consul
// dies of the SIGTERM itself, which Wait reports as an error): stop, and a
// line in the test log only when it had to be killed. It is a no-op when
// the process is not running.
func (p *process) end(timeout time.Duration) {
	if _, err := p.stop(timeout); errors.Is(err, errKilled) {
		p.tb.Logf("%v", err)
	}
	// A SIGTERM that failed because the process had exited by itself
	// leaves it on record; forget it so that it can be started again.
	p.kill()
}

// dumpLog prints the tail of a server's log into the test output.
func (p *process) dumpLog() {
	tail, err := logTail(p.logPath, serverLogTail)
	if err != nil {
		return
	}
	p.tb.Logf("last lines of %s's log:\n%s", p.name, tail)
}

// logTail returns the last n lines of the file at path. Lines are read up
// to 1 MiB each; a longer one ends the reading there.
func logTail(path string, n int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n"), nil
}
