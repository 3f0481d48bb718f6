//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/inferensys/tumult/integration/harness"
)

const (
	// agIdlePolicies is how many policies the idle agent holds.
	agIdlePolicies = 100
	// agIdleSettle lets start-up work (loading, first arrivals) finish
	// before measuring.
	agIdleSettle = 2 * time.Second
	// agIdleWindow is one measurement window; -benchtime 3x measures
	// three of them back to back.
	agIdleWindow = 4 * time.Second
	// agClockTicks is sysconf(_SC_CLK_TCK), the unit of utime and stime
	// in /proc/<pid>/stat: 100 on every Linux architecture Go supports.
	agClockTicks = 100
)

// BenchmarkAgentIdle measures the real agent, a subprocess, idling with
// 100 policies loaded: windows open, arrivals a day apart on average, and
// selectors that match no container, so that what is measured is the
// scheduler's waiting, the file watcher, the expiry loop and the runtime.
// It reports the agent's CPU use in percent of one core (utime+stime
// from /proc over wall time) and its resident memory at the end.
//
//	go test -tags integration -run '^$' -bench AgentIdle -benchtime 3x ./integration/
func BenchmarkAgentIdle(b *testing.B) {
	ctx := context.Background()
	run := harness.Unique("ag-idle")
	ps := make([]agPolicy, agIdlePolicies)
	for i := range ps {
		ps[i] = agPolicy{
			Name: fmt.Sprintf("idle-%03d", i), Labels: map[string]string{runLabel: run, "app": strconv.Itoa(i)},
			Fault: `"pause" { duration = "30s" }`, Mean: "24h", Min: "1h", MinHealthy: 1,
		}
	}
	a := harness.StartAgent(ctx, b, harness.AgentOptions{LogLevel: "info", Policies: map[string]string{"idle.hcl": agPolicies(ps...)}})
	st, err := a.Client.Status(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if len(st.Policies) != agIdlePolicies {
		b.Fatalf("%d policies loaded, want %d", len(st.Policies), agIdlePolicies)
	}
	pid := a.PID()
	<-time.After(agIdleSettle) // a fixed span before measuring, not a wait for a condition

	ticks0, err := agCPUTicks(pid)
	if err != nil {
		b.Fatal(err)
	}
	began := time.Now()
	for b.Loop() {
		<-time.After(agIdleWindow)
	}
	wall := time.Since(began)
	ticks1, err := agCPUTicks(pid)
	if err != nil {
		b.Fatal(err)
	}
	rss, hwm, err := agMemory(pid)
	if err != nil {
		b.Fatal(err)
	}
	if !a.Alive() {
		b.Fatal("the agent exited while idle")
	}
	cpu := float64(ticks1-ticks0) / agClockTicks / wall.Seconds() * 100
	b.ReportMetric(cpu, "cpu%")
	b.ReportMetric(rss, "rss-MiB")
	b.ReportMetric(hwm, "peak-rss-MiB")
	b.Logf("tumult agent idle with %d policies for %s: CPU %.3f%% of one core (%d ticks of 10ms; resolution %.3f%%), RSS %.1f MiB (peak %.1f MiB)",
		agIdlePolicies, wall.Round(time.Millisecond), cpu, ticks1-ticks0, 100/agClockTicks/wall.Seconds(), rss, hwm)
}

// agCPUTicks is utime+stime of a process, in clock ticks.
func agCPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time of %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces: fields are counted
	// after its closing parenthesis, where field 3 (state) is first.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("read cpu time of %d: unexpected /proc stat %q", pid, s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("read cpu time of %d: short /proc stat %q", pid, s)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("read cpu time of %d: utime %q stime %q", pid, f[11], f[12])
	}
	return utime + stime, nil
}

// agMemory is a process's resident set now and at its peak, in MiB.
func agMemory(pid int) (rss, peak float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read memory of %d: %w", pid, err)
	}
	kib := func(key string) (float64, error) {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, key+":"); ok {
				f := strings.Fields(v)
				if len(f) != 2 || f[1] != "kB" {
					return 0, fmt.Errorf("read memory of %d: %q", pid, line)
				}
				n, err := strconv.ParseFloat(f[0], 64)
				return n / 1024, err
			}
		}
		return 0, fmt.Errorf("read memory of %d: no %s in /proc status", pid, key)
	}
	if rss, err = kib("VmRSS"); err != nil {
		return 0, 0, err
	}
	peak, err = kib("VmHWM")
	return rss, peak, err
}
