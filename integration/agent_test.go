//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/bolt"
)

// These tests run the real tumult binary (`tumult agent -config FILE`)
// against the real Docker engine, and drive it through its HTTP API and
// the real CLI. Each test labels its containers with its own run label,
// so that its policies select only its own fleet.

// agPolicy is one policy block for a test's policy files. Its window is
// always open.
type agPolicy struct {
	Name   string
	Labels map[string]string
	// Fault is the fault block after the keyword, e.g.
	// `"pause" { duration = "3s" }`.
	Fault        string
	Mean, Min    string
	MaxDisrupted string // an HCL value: 2 or "1%"; default 1
	MinHealthy   int
	MaxPerDay    int
}

func (p agPolicy) hcl() string {
	var b strings.Builder
	fmt.Fprintf(&b, "policy %q {\n", p.Name)
	fmt.Fprintf(&b, "  target \"docker\" {\n    labels = %s\n  }\n", harness.HCLMap(p.Labels))
	fmt.Fprintf(&b, "  fault %s\n", p.Fault)
	b.WriteString("  window {\n    cron     = \"@daily\"\n    duration = \"24h\"\n  }\n")
	fmt.Fprintf(&b, "  every {\n    mean = %q\n", p.Mean)
	if p.Min != "" {
		fmt.Fprintf(&b, "    min  = %q\n", p.Min)
	}
	b.WriteString("  }\n  limits {\n")
	if p.MaxDisrupted != "" {
		fmt.Fprintf(&b, "    max_disrupted = %s\n", p.MaxDisrupted)
	}
	fmt.Fprintf(&b, "    min_healthy   = %d\n", p.MinHealthy)
	if p.MaxPerDay > 0 {
		fmt.Fprintf(&b, "    max_per_day   = %d\n", p.MaxPerDay)
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

func agPolicies(ps ...agPolicy) string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, p.hcl())
	}
	return strings.Join(parts, "\n")
}

func agCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// agRecords returns the finished records of the last hour and the active
// ones, or the first error.
func agRecords(ctx context.Context, c *api.Client) (history, active []ledger.Record, err error) {
	if history, err = c.History(ctx, time.Hour, "", 0); err != nil {
		return nil, nil, err
	}
	if active, err = c.Faults(ctx); err != nil {
		return nil, nil, err
	}
	return history, active, nil
}

// agPoll calls fn every interval for the whole of d and returns the first
// error it gives. It is how a test asserts that something never happens
// over a span of real time.
func agPoll(d, interval time.Duration, fn func() error) error {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := fn(); err != nil {
			return err
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		<-tick.C
	}
}

// agInspect is the part of a container's inspection a test compares.
type agInspect struct {
	Running, Paused bool
	StartedAt       string
	Pid             int
	Restarts        int
}

func agState(ctx context.Context, t *testing.T, cli *client.Client, id string) agInspect {
	t.Helper()
	info, err := cli.ContainerInspect(ctx, id)
	require.NoError(t, err)
	return agInspect{Running: info.State.Running, Paused: info.State.Paused, StartedAt: info.State.StartedAt, Pid: info.State.Pid, Restarts: info.RestartCount}
}

// agDockerEvents returns the actions Docker recorded for a container
// between since and until (kill, die, pause, start, ...).
func agDockerEvents(ctx context.Context, t *testing.T, cli *client.Client, id string, since, until time.Time) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	msgs, errs := cli.Events(ctx, events.ListOptions{
		Since:   strconv.FormatInt(since.Unix(), 10),
		Until:   strconv.FormatInt(until.Unix()+1, 10),
		Filters: filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)), filters.Arg("container", id)),
	})
	var actions []string
	for {
		select {
		case m := <-msgs:
			// The query is to the second; keep what happened from since on.
			if m.TimeNano >= since.UnixNano() {
				actions = append(actions, string(m.Action))
			}
		case err := <-errs:
			if !errors.Is(err, io.EOF) {
				require.NoError(t, err, "read docker events of %s", id)
			}
			return actions
		}
	}
}

// agOpenLedger opens the ledger of a stopped agent, read and write, as
// the next start would.
func agOpenLedger(t *testing.T, a *harness.Agent) *bolt.Store {
	t.Helper()
	require.False(t, a.Running(), "open the ledger only when the agent is stopped")
	store, err := bolt.Open(filepath.Join(a.DataDir, "ledger.db"), bolt.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	return store
}

func agIDs(rs []ledger.Record) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

// agMetric finds a sample of the metric in Prometheus text exposition
// whose labels contain every given `name="value"` pair.
func agMetric(text, name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) || len(line) == len(name) || (line[len(name)] != '{' && line[len(name)] != ' ') {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err == nil {
			return v, true
		}
	}
	return 0, false
}

func agGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return agDo(t, req)
}

func agDo(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func agMetrics(t *testing.T, a *harness.Agent) string {
	t.Helper()
	code, body := agGet(t, a.URL()+"/metrics", "")
	require.Equal(t, http.StatusOK, code, body)
	return body
}

// agOneLine asserts that a CLI's stderr is exactly one line.
func agOneLine(t *testing.T, stderr string) {
	t.Helper()
	require.True(t, strings.HasSuffix(stderr, "\n") && strings.Count(stderr, "\n") == 1, "want one line on stderr, got %q", stderr)
}

func TestAgentFaultsInjectedAndRestored(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := agCtx(t, 4*time.Minute)
	run := harness.Unique("ag-faults")
	app := map[string]string{runLabel: run, "app": run}
	with := func(extra map[string]string) map[string]string {
		m := maps.Clone(app)
		maps.Copy(m, extra)
		return m
	}
	opted := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-web", N: 4, Labels: with(map[string]string{"tumult.enable": "true"})})
	notOpted := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-noopt", N: 1, Labels: app})[0]
	protected := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-infra", N: 1,
		Labels: with(map[string]string{"tumult.enable": "true", "role": "infra"})})[0]
	spectators := []harness.Container{notOpted, protected}
	before := map[string]agInspect{}
	for _, c := range spectators {
		before[c.ID] = agState(ctx, t, cli, c.ID)
		require.True(t, before[c.ID].Running)
	}
	began := time.Now()

	a := harness.StartAgent(ctx, t, harness.AgentOptions{Policies: map[string]string{"faults.hcl": agPolicies(
		agPolicy{Name: "ag-pause", Labels: app, Fault: `"pause" { duration = "3s" }`, Mean: "2s", Min: "1s", MaxDisrupted: "2", MinHealthy: 2},
		agPolicy{Name: "ag-kill", Labels: app, Fault: `"kill" {
    signal        = "SIGKILL"
    restore_after = "3s"
  }`, Mean: "2s", Min: "1s", MaxDisrupted: "2", MinHealthy: 2},
	)}})

	// Both kinds of fault were injected, restored and verified.
	var history []ledger.Record
	require.Eventually(t, func() bool {
		h, _, err := agRecords(ctx, a.Client)
		if err != nil {
			return false
		}
		history = h
		passed := map[string]int{}
		for _, r := range h {
			if r.Result == ledger.Passed && !r.Injected.IsZero() {
				passed[r.Policy]++
			}
		}
		return passed["ag-pause"] >= 1 && passed["ag-kill"] >= 1
	}, 45*time.Second, 250*time.Millisecond, "a pause and a kill fault should have passed within 45s")
	for _, r := range history {
		if r.Injected.IsZero() {
			continue
		}
		require.Contains(t, []ledger.Result{ledger.Passed, ledger.Restored}, r.Result, "record %s: %s %s", r.ID, r.Result, r.Reason)
		require.NotEmpty(t, r.Outcome.How, "record %s has no outcome", r.ID)
	}

	// SIGTERM restores whatever is still under way.
	took, err := a.Stop(30 * time.Second)
	require.NoError(t, err)
	t.Logf("agent stopped %s after SIGTERM", took.Round(time.Millisecond))
	for _, c := range append(opted, spectators...) {
		st := agState(ctx, t, cli, c.ID)
		require.True(t, st.Running && !st.Paused, "%s should run unpaused after the agent stopped: %+v", c.Name, st)
	}

	// The ledger: nothing left active, and no record names a spectator.
	store := agOpenLedger(t, a)
	active, err := store.Active(ctx)
	require.NoError(t, err)
	require.Empty(t, active, "no fault may stay active after a clean stop")
	all, err := store.History(ctx, ledger.HistoryQuery{})
	require.NoError(t, err)
	injected := 0
	for _, r := range all {
		for _, c := range spectators {
			require.NotEqual(t, c.ID, r.Member.ID, "record %s names %s", r.ID, c.Name)
			require.NotEqual(t, c.Name, strings.TrimPrefix(r.Member.Name, "/"), "record %s names %s", r.ID, c.Name)
		}
		if !r.Injected.IsZero() {
			injected++
			require.Contains(t, []ledger.Result{ledger.Passed, ledger.Restored}, r.Result, "record %s: %s %s", r.ID, r.Result, r.Reason)
		}
	}
	require.GreaterOrEqual(t, injected, 2)
	t.Logf("%d records, %d faults injected", len(all), injected)

	// Docker itself says the spectators were never touched.
	for _, c := range spectators {
		st := agState(ctx, t, cli, c.ID)
		require.Equal(t, before[c.ID], st, "%s changed", c.Name)
		require.Empty(t, agDockerEvents(ctx, t, cli, c.ID, began, time.Now()), "docker events of %s", c.Name)
	}
}

func TestAgentPauseStopsNewFaultsAndResumeStartsThem(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := agCtx(t, 4*time.Minute)
	run := harness.Unique("ag-pause")
	labels := map[string]string{runLabel: run, "tumult.enable": "true"}
	harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 3, Labels: labels})
	a := harness.StartAgent(ctx, t, harness.AgentOptions{Policies: map[string]string{"p.hcl": agPolicies(
		agPolicy{Name: "pr-pause", Labels: map[string]string{runLabel: run}, Fault: `"pause" { duration = "1s" }`, Mean: "1s", Min: "200ms", MinHealthy: 1},
	)}})

	require.Eventually(t, func() bool {
		h, f, err := agRecords(ctx, a.Client)
		return err == nil && slices.ContainsFunc(append(h, f...), func(r ledger.Record) bool { return !r.Injected.IsZero() })
	}, 30*time.Second, 200*time.Millisecond, "a first fault should be injected")

	res := a.CLI(ctx, t, a.Token, "pause", "-reason", "x")
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	paused := time.Now()
	st, err := a.Client.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Paused, st.State)
	require.Equal(t, "oncall", st.Actor)
	require.Equal(t, "x", st.Reason)

	// For 6s (about six arrivals) nothing new is injected: a record
	// injected after the pause returned must have been decided before it,
	// in flight when the pause landed, and injected within a moment.
	var skipped []ledger.Record
	err = agPoll(6*time.Second, 200*time.Millisecond, func() error {
		h, f, err := agRecords(ctx, a.Client)
		if err != nil {
			return err
		}
		skipped, err = agSkippedSince(append(h, f...), paused)
		return err
	})
	require.NoError(t, err)
	require.NotEmpty(t, skipped, "decisions while paused should be recorded as skipped")
	for _, r := range skipped {
		require.Equal(t, "paused by oncall: x", r.Reason, "record %s", r.ID)
	}
	t.Logf("%d decisions skipped while paused", len(skipped))

	res = a.CLI(ctx, t, a.Token, "resume", "-reason", "done")
	require.Equal(t, 0, res.Code, "stderr: %s", res.Stderr)
	resumed := time.Now()
	require.Eventually(t, func() bool {
		h, f, err := agRecords(ctx, a.Client)
		return err == nil && slices.ContainsFunc(append(h, f...), func(r ledger.Record) bool { return r.Injected.After(resumed) })
	}, 20*time.Second, 200*time.Millisecond, "faults should be injected again after resume")
}

func TestAgentKill9WithActiveFaultsThenRestart(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := agCtx(t, 5*time.Minute)
	run := harness.Unique("ag-crash")
	pLabels := map[string]string{runLabel: run, "app": "p", "tumult.enable": "true"}
	sLabels := map[string]string{runLabel: run, "app": "s", "tumult.enable": "true"}
	pFleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-p", N: 2, Labels: pLabels})
	sFleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-s", N: 2, Labels: sLabels})
	// max_per_day = 1: each policy injects once, so that after the restart
	// nothing new muddies what the restart restored.
	a := harness.StartAgent(ctx, t, harness.AgentOptions{Policies: map[string]string{"crash.hcl": agPolicies(
		agPolicy{Name: "kc-pause", Labels: pLabels, Fault: `"pause" { duration = "60s" }`, Mean: "1s", MinHealthy: 1, MaxPerDay: 1},
		agPolicy{Name: "kc-stop", Labels: sLabels, Fault: `"stop" {
    timeout       = "1s"
    restore_after = "60s"
  }`, Mean: "1s", MinHealthy: 1, MaxPerDay: 1},
	)}})

	byID := map[string]harness.Container{}
	for _, c := range append(slices.Clone(pFleet), sFleet...) {
		byID[c.ID] = c
	}
	var active []ledger.Record
	require.Eventually(t, func() bool {
		f, err := a.Client.Faults(ctx)
		if err != nil {
			return false
		}
		active = f
		injected := map[string]bool{}
		for _, r := range f {
			if r.Phase == ledger.Injected {
				injected[r.Policy] = true
			}
		}
		return injected["kc-pause"] && injected["kc-stop"]
	}, 30*time.Second, 200*time.Millisecond, "a pause and a stop fault should be active")
	require.Len(t, active, 2)
	history, err := a.Client.History(ctx, 0, "", 0)
	require.NoError(t, err)
	ids := append(agIDs(active), agIDs(history)...)

	// Docker agrees: one member paused, one stopped.
	held := map[string]ledger.Record{}
	for _, r := range active {
		c, ok := byID[r.Member.ID]
		require.True(t, ok, "record %s names %s, not a member of this test", r.ID, r.Member.Short())
		held[c.ID] = r
		want := func(s agInspect) bool { return s.Paused }
		if r.Policy == "kc-stop" {
			want = func(s agInspect) bool { return !s.Running }
		}
		require.Eventually(t, func() bool { return want(agState(ctx, t, cli, c.ID)) }, 10*time.Second, 100*time.Millisecond,
			"%s should be held by %s", c.Name, r.Policy)
	}

	a.Kill()
	// The crash left both faults in place: nothing restored them.
	for id, r := range held {
		st := agState(ctx, t, cli, id)
		if r.Policy == "kc-pause" {
			require.True(t, st.Paused, "%s should still be paused after kill -9", byID[id].Name)
		} else {
			require.False(t, st.Running, "%s should still be stopped after kill -9", byID[id].Name)
		}
	}

	a.Restart(ctx)
	require.Eventually(t, func() bool {
		for id := range byID {
			if st := agState(ctx, t, cli, id); !st.Running || st.Paused {
				return false
			}
		}
		f, err := a.Client.Faults(ctx)
		return err == nil && len(f) == 0
	}, 60*time.Second, 200*time.Millisecond, "every member should run unpaused and no fault stay active after the restart")

	after, err := a.Client.History(ctx, 0, "", 0)
	require.NoError(t, err)
	finished := map[string]ledger.Record{}
	for _, r := range after {
		finished[r.ID] = r
	}
	for _, id := range ids {
		require.Contains(t, finished, id, "record %s from before the kill is lost", id)
	}
	for _, r := range active {
		got := finished[r.ID]
		require.Equal(t, ledger.Finished, got.Phase)
		require.Equal(t, ledger.Restored, got.Result, "record %s: %s", r.ID, got.Reason)
		require.Contains(t, got.Reason, "recovered at start", "record %s", r.ID)
	}
	require.Contains(t, a.Log(), "restored faults left by an earlier run")
}

func TestAgentAPIRefusesMissingAndWrongTokens(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := agCtx(t, 3*time.Minute)
	run := harness.Unique("ag-tokens")
	labels := map[string]string{runLabel: run, "tumult.enable": "true"}
	harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 2, Labels: labels})
	a := harness.StartAgent(ctx, t, harness.AgentOptions{
		Tokens: map[string]string{"oncall": harness.RandomToken(), "robot": harness.RandomToken()},
		Policies: map[string]string{"t.hcl": agPolicies(
			agPolicy{Name: "tk-pause", Labels: labels, Fault: `"pause" { duration = "1s" }`, Mean: "1s", MinHealthy: 1},
		)},
	})
	wrong := harness.RandomToken()

	tests := []struct {
		name, method, path, auth string
		body                     string
		want                     int
	}{
		{name: "status without token", method: "GET", path: "/v1/status", want: http.StatusUnauthorized},
		{name: "status with wrong token", method: "GET", path: "/v1/status", auth: "Bearer " + wrong, want: http.StatusForbidden},
		{name: "status with basic auth", method: "GET", path: "/v1/status", auth: "Basic b25jYWxsOng=", want: http.StatusUnauthorized},
		{name: "history without token", method: "GET", path: "/v1/history", want: http.StatusUnauthorized},
		{name: "pause without token", method: "POST", path: "/v1/pause", body: `{"reason":"r"}`, want: http.StatusUnauthorized},
		{name: "pause with wrong token", method: "POST", path: "/v1/pause", body: `{"reason":"r"}`, auth: "Bearer " + wrong, want: http.StatusForbidden},
		{name: "halt with wrong token", method: "POST", path: "/v1/halt", body: `{"reason":"r"}`, auth: "Bearer " + wrong, want: http.StatusForbidden},
		{name: "reload without token", method: "POST", path: "/v1/reload", want: http.StatusUnauthorized},
		{name: "status with token", method: "GET", path: "/v1/status", auth: "Bearer " + a.Tokens["robot"], want: http.StatusOK},
		{name: "health needs no token", method: "GET", path: "/v1/health", want: http.StatusOK},
		{name: "metrics need no token", method: "GET", path: "/metrics", want: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, a.URL()+tt.path, strings.NewReader(tt.body))
			require.NoError(t, err)
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			code, body := agDo(t, req)
			require.Equal(t, tt.want, code, body)
			if code >= 400 {
				var e struct {
					Error string `json:"error"`
				}
				require.NoError(t, json.Unmarshal([]byte(body), &e), "error answers are JSON: %s", body)
				require.NotEmpty(t, e.Error)
			}
		})
	}

	// The CLI: one line and exit 2 for a missing or refused token.
	for _, tc := range []struct {
		name, token string
		args        []string
	}{
		{"status without token", "", []string{"status"}},
		{"status with wrong token", wrong, []string{"status"}},
		{"pause with wrong token", wrong, []string{"pause", "-reason", "r"}},
		{"halt without token", "", []string{"halt", "-reason", "r"}},
	} {
		t.Run("cli "+tc.name, func(t *testing.T) {
			res := a.CLI(ctx, t, tc.token, tc.args...)
			require.Equal(t, 2, res.Code, "stdout %q stderr %q", res.Stdout, res.Stderr)
			agOneLine(t, res.Stderr)
			require.Contains(t, res.Stderr, "token")
			require.Empty(t, res.Stdout)
		})
	}

	// Nothing refused changed the state; a good token is the actor.
	st, err := a.Client.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Armed, st.State)
	res := a.CLI(ctx, t, a.Tokens["robot"], "pause", "-reason", "audit")
	require.Equal(t, 0, res.Code, res.Stderr)
	st, err = a.Client.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Paused, st.State)
	require.Equal(t, "robot", st.Actor)
	res = a.CLI(ctx, t, a.Tokens["oncall"], "resume", "-reason", "audit done")
	require.Equal(t, 0, res.Code, res.Stderr)

	// The metrics, without a token.
	require.Eventually(t, func() bool {
		v, ok := agMetric(agMetrics(t, a), "tumult_faults_injected_total", `policy="tk-pause"`, `kind="pause"`, `driver="docker"`)
		return ok && v >= 1
	}, 30*time.Second, 250*time.Millisecond, "tumult_faults_injected_total should count the injections")
	text := agMetrics(t, a)
	v, ok := agMetric(text, "tumult_policies_loaded")
	require.True(t, ok, "tumult_policies_loaded missing")
	require.Equal(t, 1.0, v)
	v, ok = agMetric(text, "tumult_config_last_reload_successful")
	require.True(t, ok, "tumult_config_last_reload_successful missing")
	require.Equal(t, 1.0, v)
}

func TestAgentCLIOutputAndExitCodes(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := agCtx(t, 3*time.Minute)
	run := harness.Unique("ag-cli")
	labels := map[string]string{runLabel: run, "tumult.enable": "true"}
	fleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 2, Labels: labels})
	a := harness.StartAgent(ctx, t, harness.AgentOptions{Policies: map[string]string{"cli.hcl": agPolicies(
		agPolicy{Name: "cl-pause", Labels: labels, Fault: `"pause" { duration = "60s" }`, Mean: "1s", MinHealthy: 1},
		agPolicy{Name: "cl-idle", Labels: map[string]string{runLabel: run + "-nobody"}, Fault: `"signal" { signal = "SIGHUP" }`, Mean: "24h", MinHealthy: 1},
	)}})

	res := a.CLI(ctx, t, a.Token, "status")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Contains(t, res.Stdout, "POLICY")
	require.Contains(t, res.Stdout, "cl-pause")
	require.Contains(t, res.Stdout, "cl-idle")
	require.Regexp(t, `(?m)^State:\s+armed`, res.Stdout)

	res = a.CLI(ctx, t, a.Token, "status", "-json")
	require.Equal(t, 0, res.Code, res.Stderr)
	var st api.Status
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &st), res.Stdout)
	var names []string
	for _, p := range st.Policies {
		names = append(names, p.Name)
		require.True(t, p.WindowOpen, "policy %s", p.Name)
	}
	require.ElementsMatch(t, []string{"cl-pause", "cl-idle"}, names)

	// Wait for a pause fault that holds a member.
	held := agWaitPaused(ctx, t, cli, a)

	res = a.CLI(ctx, t, a.Token, "faults")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Contains(t, res.Stdout, held.ID)
	require.Contains(t, res.Stdout, "cl-pause")
	res = a.CLI(ctx, t, a.Token, "faults", "-json")
	require.Equal(t, 0, res.Code, res.Stderr)
	var faults []ledger.Record
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &faults), res.Stdout)
	require.Equal(t, []string{held.ID}, agIDs(faults))

	// halt restores at once: when it returns, the member is unpaused.
	res = a.CLI(ctx, t, a.Token, "halt", "-reason", "h")
	require.Equal(t, 0, res.Code, res.Stderr)
	halted := time.Now()
	for _, c := range fleet {
		s := agState(ctx, t, cli, c.ID)
		require.True(t, s.Running && !s.Paused, "%s right after halt: %+v", c.Name, s)
	}
	f, err := a.Client.Faults(ctx)
	require.NoError(t, err)
	require.Empty(t, f, "no fault stays active after a halt")
	h, err := a.Client.History(ctx, 0, "cl-pause", 0)
	require.NoError(t, err)
	i := slices.IndexFunc(h, func(r ledger.Record) bool { return r.ID == held.ID })
	require.GreaterOrEqual(t, i, 0, "the halted fault is in the history")
	require.Equal(t, ledger.Restored, h[i].Result)

	require.Eventually(t, func() bool {
		h, err := a.Client.History(ctx, time.Hour, "cl-pause", 0)
		return err == nil && slices.ContainsFunc(h, func(r ledger.Record) bool {
			return r.Decided.After(halted) && r.Result == ledger.Skipped && r.Reason == "halted by oncall: h"
		})
	}, 20*time.Second, 200*time.Millisecond, "decisions after the halt should be skipped as halted by oncall")

	res = a.CLI(ctx, t, a.Token, "status")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Regexp(t, `(?m)^State:\s+HALTED by oncall`, res.Stdout)
	res = a.CLI(ctx, t, a.Token, "history", "-json")
	require.Equal(t, 0, res.Code, res.Stderr)
	var hist []ledger.Record
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &hist))
	require.Contains(t, agIDs(hist), held.ID)
	res = a.CLI(ctx, t, a.Token, "history", "-policy", "cl-pause")
	require.Equal(t, 0, res.Code, res.Stderr)
	require.Contains(t, res.Stdout, held.ID)
	res = a.CLI(ctx, t, a.Token, "resume", "-reason", "over")
	require.Equal(t, 0, res.Code, res.Stderr)
	st, err = a.Client.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Armed, st.State)

	// Bad usage and an unreachable daemon.
	res = a.CLI(ctx, t, a.Token, "pause")
	require.Equal(t, 2, res.Code, "pause without -reason: %s", res.Stderr)
	res = harness.RunTumult(ctx, t, map[string]string{"TUMULT_ADDR": harness.ClosedAddr(t), "TUMULT_TOKEN": a.Token}, "status")
	require.Equal(t, 2, res.Code, "stdout %q stderr %q", res.Stdout, res.Stderr)
	agOneLine(t, res.Stderr)
	require.Contains(t, res.Stderr, "cannot reach")
	require.Empty(t, res.Stdout)
}

func TestAgentReloadKeepsLastGoodPolicies(t *testing.T) {
	ctx := agCtx(t, 2*time.Minute)
	run := harness.Unique("ag-reload")
	nobody := map[string]string{runLabel: run}
	a := harness.StartAgent(ctx, t, harness.AgentOptions{Policies: map[string]string{"good.hcl": agPolicies(
		agPolicy{Name: "rl-a", Labels: nobody, Fault: `"pause" { duration = "1s" }`, Mean: "24h", MinHealthy: 1},
	)}})
	policyNames := func() []string {
		st, err := a.Client.Status(ctx)
		require.NoError(t, err)
		var names []string
		for _, p := range st.Policies {
			names = append(names, p.Name)
		}
		return names
	}
	reloadOK := func() float64 {
		v, ok := agMetric(agMetrics(t, a), "tumult_config_last_reload_successful")
		require.True(t, ok)
		return v
	}
	require.Equal(t, []string{"rl-a"}, policyNames())
	require.Equal(t, 1.0, reloadOK())

	// Line 5 holds the bad duration.
	broken := `policy "rl-b" {
  target "docker" {
    labels = ` + harness.HCLMap(nobody) + `
  }
  fault "pause" { duration = "banana" }
  window {
    cron     = "@daily"
    duration = "24h"
  }
  every { mean = "24h" }
}
`
	a.WritePolicy("broken.hcl", broken)
	require.Eventually(t, func() bool { return reloadOK() == 0 }, 15*time.Second, 100*time.Millisecond,
		"the file watcher should reload and fail")
	require.Equal(t, []string{"rl-a"}, policyNames(), "the last good set stays loaded")
	v, ok := agMetric(agMetrics(t, a), "tumult_policies_loaded")
	require.True(t, ok)
	require.Equal(t, 1.0, v)

	res, err := a.Client.Reload(ctx)
	require.NoError(t, err)
	require.False(t, res.OK)
	require.Equal(t, 1, res.Policies)
	require.NotEmpty(t, res.Errors)
	require.True(t, slices.ContainsFunc(res.Errors, func(e string) bool { return strings.Contains(e, "broken.hcl:5:") }),
		"errors should name broken.hcl:5: %q", res.Errors)
	require.Contains(t, a.Log(), "broken.hcl:5")

	a.WritePolicy("broken.hcl", strings.Replace(broken, `"banana"`, `"1s"`, 1))
	require.Eventually(t, func() bool { return reloadOK() == 1 }, 15*time.Second, 100*time.Millisecond,
		"the fixed file should load")
	require.ElementsMatch(t, []string{"rl-a", "rl-b"}, policyNames())
	res, err = a.Client.Reload(ctx)
	require.NoError(t, err)
	require.True(t, res.OK, "errors: %q", res.Errors)
	require.Equal(t, 2, res.Policies)
	v, ok = agMetric(agMetrics(t, a), "tumult_policies_loaded")
	require.True(t, ok)
	require.Equal(t, 2.0, v)
}

func TestAgentSIGTERMRestoresActivePause(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := agCtx(t, 3*time.Minute)
	run := harness.Unique("ag-term")
	labels := map[string]string{runLabel: run, "tumult.enable": "true"}
	harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 2, Labels: labels})
	a := harness.StartAgent(ctx, t, harness.AgentOptions{Policies: map[string]string{"term.hcl": agPolicies(
		agPolicy{Name: "tm-pause", Labels: labels, Fault: `"pause" { duration = "60s" }`, Mean: "1s", MinHealthy: 1},
	)}})

	held := agWaitPaused(ctx, t, cli, a)

	took, err := a.Stop(20 * time.Second)
	require.NoError(t, err, "the agent should exit cleanly within 20s of SIGTERM")
	t.Logf("agent exited %s after SIGTERM", took.Round(time.Millisecond))
	s := agState(ctx, t, cli, held.Member.ID)
	require.True(t, s.Running && !s.Paused, "%s after the agent stopped: %+v", held.Member.Short(), s)

	store := agOpenLedger(t, a)
	active, err := store.Active(ctx)
	require.NoError(t, err)
	require.Empty(t, active)
	h, err := store.History(ctx, ledger.HistoryQuery{Policy: "tm-pause"})
	require.NoError(t, err)
	i := slices.IndexFunc(h, func(r ledger.Record) bool { return r.ID == held.ID })
	require.GreaterOrEqual(t, i, 0, "the fault's record is in the history")
	require.Equal(t, ledger.Restored, h[i].Result)
	require.Contains(t, h[i].Reason, "agent stopping")
}

// agSkippedSince checks that no record was injected after a pause that
// returned at paused — a decision already under way may finish within a
// second — and returns the records skipped since.
func agSkippedSince(recs []ledger.Record, paused time.Time) ([]ledger.Record, error) {
	var skipped []ledger.Record
	for _, r := range recs {
		if r.Injected.After(paused) && (!r.Decided.Before(paused) || r.Injected.Sub(paused) > time.Second) {
			return nil, fmt.Errorf("record %s decided %s was injected at %s, after the pause returned at %s",
				r.ID, r.Decided.Format(time.RFC3339Nano), r.Injected.Format(time.RFC3339Nano), paused.Format(time.RFC3339Nano))
		}
		if r.Result == ledger.Skipped && !r.Decided.Before(paused) {
			skipped = append(skipped, r)
		}
	}
	return skipped, nil
}

// agWaitPaused waits for the agent's first fault to be injected and its
// member paused in Docker, and returns its record.
func agWaitPaused(ctx context.Context, t *testing.T, cli *client.Client, a *harness.Agent) ledger.Record {
	t.Helper()
	var held ledger.Record
	require.Eventually(t, func() bool {
		f, err := a.Client.Faults(ctx)
		if err != nil || len(f) == 0 || f[0].Phase != ledger.Injected {
			return false
		}
		held = f[0]
		return true
	}, 30*time.Second, 200*time.Millisecond, "a pause fault should be active")
	harness.WaitFor(ctx, t, cli, held.Member.ID, 10*time.Second, "be paused", func(i container.InspectResponse) bool { return i.State.Paused })
	return held
}
