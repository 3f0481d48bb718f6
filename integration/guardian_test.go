//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/api/server"
	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
)

// These tests run the tumult agent in-process (harness.StartInProc)
// against the real Docker engine, a real Alertmanager and a real
// Prometheus, and check the guardian end to end: a trip wire trips, the
// state turns halted with the wire as its source, and every member the
// scheduler had paused or stopped is running again. Each test labels its
// containers with its own run label (runLabel), so that its policies
// select only its own fleet.

// gdPolicy is a policy block for these tests: its window is always open,
// and it may disrupt the whole fleet at once (max_disrupted "100%",
// min_healthy 0), so that faults pile up quickly.
type gdPolicy struct {
	Name   string
	Labels map[string]string
	// Fault is what follows the fault keyword, e.g.
	// `"pause" { duration = "60s" }`.
	Fault string
	// Mean of the gaps between faults; default "1s", the shortest that
	// validate accepts.
	Mean string
	// Extra blocks inside the policy, e.g. a steady_state block.
	Extra string
}

func (p gdPolicy) hcl() string {
	mean := p.Mean
	if mean == "" {
		mean = "1s"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "policy %q {\n", p.Name)
	fmt.Fprintf(&b, "  target \"docker\" {\n    labels = %s\n  }\n", gdHCLMap(p.Labels))
	fmt.Fprintf(&b, "  fault %s\n", p.Fault)
	b.WriteString("  window {\n    cron     = \"@daily\"\n    duration = \"24h\"\n  }\n")
	fmt.Fprintf(&b, "  every {\n    mean = %q\n    min  = \"0s\"\n  }\n", mean)
	b.WriteString("  limits {\n    max_disrupted = \"100%\"\n    min_healthy   = 0\n  }\n")
	if p.Extra != "" {
		b.WriteString(p.Extra)
		if !strings.HasSuffix(p.Extra, "\n") {
			b.WriteString("\n")
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// gdPolicies is one policy file holding ps.
func gdPolicies(ps ...gdPolicy) map[string]string {
	var parts []string
	for _, p := range ps {
		parts = append(parts, p.hcl())
	}
	return map[string]string{"policies.hcl": strings.Join(parts, "\n")}
}

// gdHCLMap renders a map as an HCL object with sorted keys.
func gdHCLMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%q = %q", k, m[k])
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// gdList renders strings as an HCL list of strings.
func gdList(ss ...string) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// gdWait polls cond every 50ms on the test's goroutine until it holds,
// and fails the test after within, saying what it waited for and what it
// saw last. (require.Eventually formats its message before the first
// try, so it cannot show the last state.)
func gdWait(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last seen: %s", what, within, last)
		}
		<-tick.C
	}
}

func gdCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// gdStates lists the containers carrying every label: name → Docker
// state ("running", "paused", "exited", …).
func gdStates(ctx context.Context, cli *client.Client, labels map[string]string) (map[string]string, error) {
	args := filters.NewArgs()
	for k, v := range labels {
		args.Add("label", k+"="+v)
	}
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make(map[string]string, len(cs))
	for _, c := range cs {
		name := c.ID
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		out[name] = string(c.State)
	}
	return out, nil
}

func gdCount(states map[string]string, state string) int {
	n := 0
	for _, s := range states {
		if s == state {
			n++
		}
	}
	return n
}

// gdWaitStates waits until ok holds for the fleet's states.
func gdWaitStates(ctx context.Context, t *testing.T, cli *client.Client, labels map[string]string, within time.Duration, what string, ok func(map[string]string) bool) {
	t.Helper()
	gdWait(t, within, what, func() (bool, string) {
		s, err := gdStates(ctx, cli, labels)
		if err != nil {
			return false, err.Error()
		}
		return ok(s), fmt.Sprint(s)
	})
}

// gdAllRunning is a gdWaitStates condition: want members, every one
// running (not paused, not exited).
func gdAllRunning(want int) func(map[string]string) bool {
	return func(s map[string]string) bool { return len(s) == want && gdCount(s, "running") == want }
}

// gdWaitState waits until the agent's global state is want and returns
// the status that showed it.
func gdWaitState(ctx context.Context, t *testing.T, c *api.Client, want ledger.State, within time.Duration) api.Status {
	t.Helper()
	var st api.Status
	gdWait(t, within, "state "+string(want), func() (bool, string) {
		var err error
		if st, err = c.Status(ctx); err != nil {
			return false, err.Error()
		}
		return st.State == want, fmt.Sprintf("%s by %s (%s): %s", st.State, st.Actor, st.Source, st.Reason)
	})
	return st
}

// gdSource returns the status of the trip wire reading source name.
func gdSource(st api.Status, name string) (api.SourceStatus, bool) {
	for _, s := range st.Sources {
		if s.Name == name {
			return s, true
		}
	}
	return api.SourceStatus{}, false
}

// gdInjected returns the history's records of faults really injected,
// and the active ones.
func gdInjected(ctx context.Context, c *api.Client) (finished, active []ledger.Record, err error) {
	hist, err := c.History(ctx, 0, "", 0)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range hist {
		if !r.Injected.IsZero() {
			finished = append(finished, r)
		}
	}
	active, err = c.Faults(ctx)
	return finished, active, err
}

// gdRequireAllRestored waits until no fault is active and checks that
// every injected fault — want of them — finished as restored by the halt.
func gdRequireAllRestored(ctx context.Context, t *testing.T, c *api.Client, want int) {
	t.Helper()
	var finished, active []ledger.Record
	gdWait(t, 20*time.Second, "every fault finished after the halt", func() (bool, string) {
		var err error
		if finished, active, err = gdInjected(ctx, c); err != nil {
			return false, err.Error()
		}
		return len(active) == 0 && len(finished) >= want, fmt.Sprintf("%d active, %d finished", len(active), len(finished))
	})
	require.Len(t, finished, want, "every injected fault has one finished record")
	for _, r := range finished {
		require.Equal(t, ledger.Finished, r.Phase, "record %s of %s", r.ID, r.Member.Short())
		require.Equal(t, ledger.Restored, r.Result, "record %s of %s: %s", r.ID, r.Member.Short(), r.Reason)
		require.Contains(t, r.Reason, "halted by guardian", "record %s of %s", r.ID, r.Member.Short())
	}
}

// gdSetErrorRate sets the simulated error rate of fleet containers through
// their control endpoint.
func gdSetErrorRate(t *testing.T, rate float64, cs ...harness.Container) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	for _, c := range cs {
		resp, err := hc.PostForm(c.URL()+"/control", url.Values{"error_rate": {fmt.Sprint(rate)}})
		require.NoError(t, err, "set error_rate of %s", c.Name)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "set error_rate of %s", c.Name)
	}
}

func gdMetric(t *testing.T, p *harness.InProc, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := p.Metric(name, labels)
	require.True(t, ok, "metric %s%v exists", name, labels)
	return v
}

// gdStartPausedAndStopped starts pause members and stop members, opted
// in under one run label and told apart by the label gd.kind, and an
// agent (opts.ConfigHCL must hold a docker "local" block) whose policies
// pause and stop them with long holds. It waits until the scheduler has
// disrupted every member, as Docker shows it.
func gdStartPausedAndStopped(ctx context.Context, t *testing.T, cli *client.Client, run string, pauses, stops int, opts harness.InProcOptions) *harness.InProc {
	t.Helper()
	fleet := map[string]string{runLabel: run}
	pauseLabels := map[string]string{runLabel: run, "gd.kind": "pause"}
	stopLabels := map[string]string{runLabel: run, "gd.kind": "stop"}
	opt := func(l map[string]string) map[string]string {
		out := map[string]string{"tumult.enable": "true"}
		for k, v := range l {
			out[k] = v
		}
		return out
	}
	harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-p", N: pauses, Labels: opt(pauseLabels)})
	ps := []gdPolicy{{Name: "gd-pause", Labels: pauseLabels, Fault: `"pause" { duration = "60s" }`}}
	if stops > 0 {
		harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-s", N: stops, Labels: opt(stopLabels)})
		ps = append(ps, gdPolicy{Name: "gd-stop", Labels: stopLabels, Fault: `"stop" {
    timeout       = "1s"
    restore_after = "60s"
  }`})
	}
	opts.Policies = gdPolicies(ps...)
	a := harness.StartInProc(ctx, t, opts)
	gdWaitStates(ctx, t, cli, fleet, 60*time.Second, "every member paused or stopped by the scheduler", func(s map[string]string) bool {
		return len(s) == pauses+stops && gdCount(s, "paused") == pauses && gdCount(s, "exited") == stops
	})
	st, err := a.Client.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Armed, st.State)
	require.Len(t, st.Faults, pauses+stops, "one active fault per member")
	return a
}

// TestGuardianAlertPollHaltsAndRestoresFleet: an alert posted to
// Alertmanager, read by the guardian's poll, halts tumult, and every
// member the scheduler paused or stopped runs again.
func TestGuardianAlertPollHaltsAndRestoresFleet(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := gdCtx(t, 3*time.Minute)
	am := harness.StartAlertmanager(t, harness.AlertmanagerOptions{})
	run := harness.Unique("gd-poll")
	cfg := fmt.Sprintf(`
docker "local" {}
alertmanager "main" {
  address       = %q
  poll_interval = "300ms"
}
guardian {
  stale_after = "10s"
  halt_on {
    alert {
      matchers = %s
    }
  }
}
`, am.URL(), gdList(`severity="page"`, fmt.Sprintf("gd_run=%q", run)))
	a := gdStartPausedAndStopped(ctx, t, cli, run, 3, 2, harness.InProcOptions{ConfigHCL: cfg})

	// An alert that matches only part of the wire does not trip it.
	am.PostAlert(map[string]string{"alertname": "GdWarning", "severity": "warning", "gd_run": run}, time.Now(), time.Time{})
	posted := time.Now()
	gdWait(t, 10*time.Second, "the guardian keeps polling", func() (bool, string) {
		st, err := a.Client.Status(ctx)
		s, _ := gdSource(st, "alertmanager/main")
		return err == nil && s.LastRead.After(posted.Add(time.Second)), fmt.Sprintf("%+v, error %v", s, err)
	})
	st, err := a.Client.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Armed, st.State, "a non-matching alert must not halt: %s", st.Reason)

	am.PostAlert(map[string]string{"alertname": "GdPage", "severity": "page", "gd_run": run}, time.Now(), time.Time{})
	posted = time.Now()
	st = gdWaitState(ctx, t, a.Client, ledger.Halted, 10*time.Second)
	require.Equal(t, "alertmanager/main", st.Source)
	require.Equal(t, "guardian", st.Actor)
	require.Contains(t, st.Reason, "GdPage")
	require.NotContains(t, st.Reason, "(webhook)", "no webhook is configured; the poll found it")
	t.Logf("halted %s after the alert was posted: %s", st.Since.Sub(posted).Round(time.Millisecond), st.Reason)
	require.Less(t, st.Since.Sub(posted), 300*time.Millisecond+2*time.Second, "the poll (every 300ms) halts promptly")

	gdWaitStates(ctx, t, cli, map[string]string{runLabel: run}, 20*time.Second, "every member running again", gdAllRunning(5))
	gdRequireAllRestored(ctx, t, a.Client, 5)
	require.Equal(t, 1.0, gdMetric(t, a, "tumult_halts_total", map[string]string{"source": "alertmanager/main"}))
	require.Equal(t, 1.0, gdMetric(t, a, "tumult_halt_restore_seconds", nil), "one halt's restore observed")

	// Halted means no new faults, while the alert still fires.
	st, err = a.Client.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Halted, st.State)
	require.Empty(t, st.Faults)
}

// TestGuardianAlertWebhookHaltsAndRestoresFleet: the same through
// Alertmanager's webhook to /v1/alertmanager. The guardian polls only
// once a minute, so only the webhook can explain a halt within seconds;
// the halt's reason says "(webhook)" too.
func TestGuardianAlertWebhookHaltsAndRestoresFleet(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := gdCtx(t, 3*time.Minute)
	run := harness.Unique("gd-hook")
	token := harness.Unique("gd-webhook-token")
	l := harness.LoopbackListener(t)
	amCfg := harness.WebhookConfig("http://"+l.Addr().String()+"/v1/alertmanager?alertmanager=main", "['...']", token)
	am := harness.StartAlertmanager(t, harness.AlertmanagerOptions{Config: amCfg})
	cfg := fmt.Sprintf(`
docker "local" {}
alertmanager "main" {
  address       = %q
  poll_interval = "1m"
}
guardian {
  stale_after = "5m"
  halt_on {
    alert {
      matchers = %s
    }
  }
}
`, am.URL(), gdList(`severity=~"page|critical"`, fmt.Sprintf("gd_run=%q", run)))
	a := gdStartPausedAndStopped(ctx, t, cli, run, 3, 0, harness.InProcOptions{ConfigHCL: cfg, Token: token, Listener: l})

	// The one poll at start has happened; the next is a minute away.
	var firstRead time.Time
	gdWait(t, 10*time.Second, "the first poll of Alertmanager", func() (bool, string) {
		st, err := a.Client.Status(ctx)
		s, _ := gdSource(st, "alertmanager/main")
		firstRead = s.LastRead
		return err == nil && s.Up, fmt.Sprintf("%+v, error %v", s, err)
	})

	am.PostAlert(map[string]string{"alertname": "GdCritical", "severity": "critical", "gd_run": run}, time.Now(), time.Time{})
	posted := time.Now()
	st := gdWaitState(ctx, t, a.Client, ledger.Halted, 20*time.Second)
	require.Equal(t, "alertmanager/main", st.Source)
	require.Contains(t, st.Reason, "GdCritical")
	require.Contains(t, st.Reason, "(webhook)")
	t.Logf("halted %s after the alert was posted: %s", st.Since.Sub(posted).Round(time.Millisecond), st.Reason)
	require.Less(t, st.Since.Sub(posted), 10*time.Second)
	require.True(t, st.Since.Before(firstRead.Add(time.Minute)), "halted before the next poll was due")

	gdWaitStates(ctx, t, cli, map[string]string{runLabel: run}, 20*time.Second, "every member running again", gdAllRunning(3))
	gdRequireAllRestored(ctx, t, a.Client, 3)
	s, ok := gdSource(st, "alertmanager/main")
	require.True(t, ok)
	require.Equal(t, firstRead, s.LastRead, "no poll happened in between")

	// A delivery naming an Alertmanager the config lacks is not dropped
	// (Alertmanager would not retry it): it counts for every Alertmanager,
	// and the answer warns.
	body := `{"version":"4","status":"firing","receiver":"tumult","alerts":[{"status":"firing","labels":{"alertname":"X"}}]}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+l.Addr().String()+"/v1/alertmanager?alertmanager=nope", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	msg, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", msg)
	require.Contains(t, string(msg), `?alertmanager=\"nope\": the agent config has no such alertmanager (it has \"main\"); the alerts count for every alertmanager`)
}

// The SLO test records Sloth-style series from the fleet's counters. The
// slo block accepts burn windows of 1m and more, and a real 1m/2m pair
// would take minutes to cross; so the rules NAME their series with
// windows the policy language accepts (ratio_rate1m, ratio_rate2m) but
// compute them over 10s and 20s rates. The guardian reads exactly what
// it reads in production, slo:sli_error:ratio_rate$window with $window
// replaced by 1m and 2m; only the rules behind the names are quicker.
const gdSLORules = `groups:
  - name: gd-slo
    interval: 1s
    rules:
      - record: slo:sli_error:ratio_rate1m
        expr: 'sum(rate(fleet_http_requests_total{app="APP",code=~"5.."}[10s])) / sum(rate(fleet_http_requests_total{app="APP"}[10s]))'
        labels:
          sloth_id: SLOID
      - record: slo:sli_error:ratio_rate2m
        expr: 'sum(rate(fleet_http_requests_total{app="APP",code=~"5.."}[20s])) / sum(rate(fleet_http_requests_total{app="APP"}[20s]))'
        labels:
          sloth_id: SLOID
`

// TestGuardianSLOBurnAndSteadyState: Prometheus scrapes a service fleet
// through its 127.0.0.1 ports. While the service's error ratio is above
// the steady state's max, no fault starts; once it is back in bounds,
// faults start on the (separate) chaos fleet; when the error rate is
// raised so that both burn windows cross the factor, the guardian halts
// with the SLO as the source and the chaos fleet runs again.
func TestGuardianSLOBurnAndSteadyState(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := gdCtx(t, 4*time.Minute)
	run := harness.Unique("gd-slo")
	app := run + "-svc"
	sloID := run
	svc := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: app, N: 2, PublishPorts: true, Labels: map[string]string{runLabel: app}})
	chaos := map[string]string{runLabel: run}
	harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 3, Labels: map[string]string{runLabel: run, "tumult.enable": "true"}})

	// Out of bounds from the start: 5% errors against a steady state of at
	// most 2%. The burn rate is 5 (budget 1%), under the factor of 10.
	gdSetErrorRate(t, 0.05, svc...)
	var targets []string
	for _, c := range svc {
		targets = append(targets, fmt.Sprintf("127.0.0.1:%d", c.HostPort))
	}
	rules := strings.NewReplacer("APP", app, "SLOID", sloID).Replace(gdSLORules)
	prom := harness.StartPrometheus(t, harness.PrometheusOptions{ScrapeTargets: targets, RuleFiles: map[string]string{"slo.yml": rules}})
	steady := fmt.Sprintf(`sum(rate(fleet_http_requests_total{app=%q,code="500"}[10s])) / sum(rate(fleet_http_requests_total{app=%q}[10s]))`, app, app)
	pq, err := alerting.NewPrometheus(alerting.PrometheusOptions{Name: "main", Address: prom.URL()})
	require.NoError(t, err)
	query := func(q string) (float64, error) {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return pq.Query(qctx, q, time.Time{})
	}
	ratio2m := fmt.Sprintf("slo:sli_error:ratio_rate2m{sloth_id=%q}", sloID)
	gdWait(t, 60*time.Second, "Prometheus sees the 5% error ratio in the steady-state query and the recorded 2m series", func() (bool, string) {
		v, err := query(steady)
		if err != nil {
			return false, "steady state: " + err.Error()
		}
		v2, err := query(ratio2m)
		if err != nil {
			return false, "2m: " + err.Error()
		}
		return v > 0.03 && v < 0.08 && v2 > 0.03 && v2 < 0.08, fmt.Sprintf("steady %g, 2m %g", v, v2)
	})

	cfg := fmt.Sprintf(`
docker "local" {}
prometheus "main" {
  address = %q
}
guardian {
  stale_after = "30s"
  halt_on {
    slo "gd-avail" {
      error_ratio = %q
      objective   = 0.99
      burn {
        long   = "2m"
        short  = "1m"
        factor = 10
      }
    }
  }
}
`, prom.URL(), fmt.Sprintf("slo:sli_error:ratio_rate$window{sloth_id=%q}", sloID))
	policy := gdPolicy{Name: "gd-steady", Labels: chaos, Fault: `"pause" { duration = "2m" }`, Extra: fmt.Sprintf(`  steady_state {
    query          = %q
    max            = 0.02
    recover_within = "30s"
  }`, steady)}
	a := harness.StartInProc(ctx, t, harness.InProcOptions{ConfigHCL: cfg, Policies: gdPolicies(policy)})

	// Out of bounds: decisions are made and skipped, nothing injected.
	gdWait(t, 30*time.Second, "three decisions skipped for the steady state", func() (bool, string) {
		hist, err := a.Client.History(ctx, 0, "gd-steady", 0)
		if err != nil {
			return false, err.Error()
		}
		n := 0
		for _, r := range hist {
			if r.Result == ledger.Skipped && strings.HasPrefix(r.Reason, "steady state out of bounds") {
				n++
			}
		}
		return n >= 3, fmt.Sprint(gdReasons(hist))
	})
	finished, active, err := gdInjected(ctx, a.Client)
	require.NoError(t, err)
	require.Empty(t, finished, "no fault while the steady state is out of bounds")
	require.Empty(t, active, "no fault while the steady state is out of bounds")
	states, err := gdStates(ctx, cli, chaos)
	require.NoError(t, err)
	require.Equal(t, 3, gdCount(states, "running"), "the chaos fleet is untouched: %v", states)
	st, err := a.Client.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Armed, st.State, "a burn rate of 5 is under the factor: %s", st.Reason)
	src, ok := gdSource(st, "slo/gd-avail")
	require.True(t, ok, "status shows the SLO source: %+v", st.Sources)
	require.True(t, src.Up, "SLO source up: %+v", src)
	require.False(t, src.Tripped, "SLO source not tripped: %+v", src)

	// Back in bounds: faults start.
	gdSetErrorRate(t, 0, svc...)
	gdWaitStates(ctx, t, cli, chaos, 60*time.Second, "faults start once the steady state is in bounds", func(s map[string]string) bool {
		return gdCount(s, "paused") >= 2
	})
	st, err = a.Client.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Armed, st.State)

	// 50% errors: a burn rate of 50 on both windows, over the factor of 10.
	gdSetErrorRate(t, 0.5, svc...)
	raised := time.Now()
	st = gdWaitState(ctx, t, a.Client, ledger.Halted, 60*time.Second)
	require.Equal(t, "slo/gd-avail", st.Source)
	require.Equal(t, "guardian", st.Actor)
	require.Contains(t, st.Reason, "burning error budget too fast")
	t.Logf("halted %s after the error rate was raised: %s", st.Since.Sub(raised).Round(time.Millisecond), st.Reason)
	gdWaitStates(ctx, t, cli, chaos, 20*time.Second, "every chaos member running again", gdAllRunning(3))
	finished, active, err = gdInjected(ctx, a.Client)
	require.NoError(t, err)
	require.Empty(t, active)
	require.NotEmpty(t, finished)
	for _, r := range finished {
		require.Equal(t, ledger.Restored, r.Result, "record %s: %s", r.ID, r.Reason)
	}
	require.Equal(t, 1.0, gdMetric(t, a, "tumult_halts_total", map[string]string{"source": "slo/gd-avail"}))
}

func gdReasons(rs []ledger.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r.Result)+": "+r.Reason)
	}
	return out
}

// TestGuardianFailClosedOnStaleAlertmanager: with Alertmanager stopped the
// guardian cannot know whether something fires, so it halts once the
// source has gone unread for stale_after, and restores the fleet. When
// Alertmanager is back, resume = "auto" arms tumult again after clear_for
// (and faults start again); resume = "manual" stays halted until a
// person resumes.
func TestGuardianFailClosedOnStaleAlertmanager(t *testing.T) {
	const (
		poll       = 500 * time.Millisecond
		staleAfter = 3 * time.Second
		clearFor   = 3 * time.Second
	)
	for _, mode := range []string{"auto", "manual"} {
		t.Run(mode, func(t *testing.T) {
			cli := harness.RequireDocker(t)
			ctx := gdCtx(t, 3*time.Minute)
			am := harness.StartAlertmanager(t, harness.AlertmanagerOptions{})
			run := harness.Unique("gd-stale-" + mode)
			cfg := fmt.Sprintf(`
docker "local" {}
alertmanager "main" {
  address       = %q
  poll_interval = "500ms"
}
guardian {
  stale_after = "3s"
  resume      = %q
  clear_for   = "3s"
  halt_on {
    alert {
      matchers = %s
    }
  }
}
`, am.URL(), mode, gdList(`severity="page"`))
			a := gdStartPausedAndStopped(ctx, t, cli, run, 2, 0, harness.InProcOptions{ConfigHCL: cfg})

			stopping := time.Now()
			am.Stop()
			stopped := time.Now()
			st := gdWaitState(ctx, t, a.Client, ledger.Halted, staleAfter+10*time.Second)
			require.Equal(t, "alertmanager/main", st.Source)
			require.Contains(t, st.Reason, "unreadable")
			took := st.Since.Sub(stopped)
			t.Logf("halted %s after Alertmanager stopped: %s", took.Round(time.Millisecond), st.Reason)
			// The last good read was at most one poll before the stop.
			require.GreaterOrEqual(t, st.Since.Sub(stopping), staleAfter-poll-200*time.Millisecond, "not before stale_after")
			require.LessOrEqual(t, took, staleAfter+1500*time.Millisecond, "within stale_after (plus a poll)")
			gdWaitStates(ctx, t, cli, map[string]string{runLabel: run}, 20*time.Second, "every member running again", gdAllRunning(2))
			gdRequireAllRestored(ctx, t, a.Client, 2)
			halt := st

			am.Start()
			started := time.Now()
			if mode == "manual" {
				gdWait(t, 15*time.Second, "Alertmanager read again", func() (bool, string) {
					st, err := a.Client.Status(ctx)
					s, _ := gdSource(st, "alertmanager/main")
					return err == nil && s.Up && !s.Tripped, fmt.Sprintf("%+v, error %v", s, err)
				})
				require.Never(t, func() bool {
					st, err := a.Client.Status(ctx)
					return err == nil && st.State != ledger.Halted
				}, clearFor+2*time.Second, 100*time.Millisecond, "resume = manual stays halted")
				_, err := a.Client.Resume(ctx, api.ResumeRequest{Reason: "checked: Alertmanager is back"})
				require.NoError(t, err)
				st = gdWaitState(ctx, t, a.Client, ledger.Armed, 5*time.Second)
				require.Equal(t, server.AnonymousActor, st.Actor)
				return
			}
			st = gdWaitState(ctx, t, a.Client, ledger.Armed, clearFor+15*time.Second)
			require.Equal(t, "guardian", st.Actor)
			require.Contains(t, st.Reason, "clear")
			t.Logf("resumed %s after Alertmanager was back: %s", st.Since.Sub(started).Round(time.Millisecond), st.Reason)
			require.GreaterOrEqual(t, st.Since.Sub(started), clearFor-poll, "not before clear_for")
			require.GreaterOrEqual(t, st.Since.Sub(halt.Since), clearFor)
			// Armed again means faults again.
			gdWaitStates(ctx, t, cli, map[string]string{runLabel: run}, 30*time.Second, "faults start again after the resume", func(s map[string]string) bool {
				return gdCount(s, "paused") >= 1
			})
		})
	}
}

// TestGuardianIgnoresSilencedAlertsAndOwnAnnouncements: a matching alert
// that is silenced does not trip the wire, and neither do tumult's own
// ChaosExperimentActive announcements, posted to the same Alertmanager,
// although the wire (severity="info") matches their labels. An alert that
// is neither then halts: the wire was live all along.
func TestGuardianIgnoresSilencedAlertsAndOwnAnnouncements(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := gdCtx(t, 3*time.Minute)
	am := harness.StartAlertmanager(t, harness.AlertmanagerOptions{})
	run := harness.Unique("gd-quiet")
	cfg := fmt.Sprintf(`
docker "local" {}
alertmanager "main" {
  address       = %q
  poll_interval = "300ms"
}
guardian {
  stale_after = "10s"
  announce    = "main"
  halt_on {
    alert {
      matchers = %s
    }
  }
}
`, am.URL(), gdList(`severity="info"`))
	a := gdStartPausedAndStopped(ctx, t, cli, run, 2, 0, harness.InProcOptions{ConfigHCL: cfg})

	// The announcements arrive, one per paused member.
	var chaos []harness.ListedAlert
	gdWait(t, 15*time.Second, "two ChaosExperimentActive alerts in Alertmanager", func() (bool, string) {
		all, err := gdAllAlerts(ctx, am)
		chaos = gdListed(all, guardian.AlertChaosActive)
		return err == nil && len(chaos) == 2, fmt.Sprintf("%+v, error %v", chaos, err)
	})
	var members []string
	for _, al := range chaos {
		require.Equal(t, "info", al.Labels["severity"])
		require.Equal(t, "gd-pause", al.Labels["policy"])
		require.Equal(t, "pause", al.Labels["fault"])
		require.Equal(t, "docker/local", al.Labels["target"])
		require.Equal(t, "active", al.Status.State, "announcements are not silenced: they would trip if counted")
		members = append(members, al.Labels["member"])
	}
	slices.Sort(members)
	require.Equal(t, []string{run + "-p-1", run + "-p-2"}, members)

	// A matching alert, silenced.
	silence := am.Silence(`alertname="GdSilenced"`)
	am.PostAlert(map[string]string{"alertname": "GdSilenced", "severity": "info", "gd_run": run}, time.Now(), time.Time{})
	gdWait(t, 10*time.Second, "the alert held silenced by "+silence, func() (bool, string) {
		all, err := gdAllAlerts(ctx, am)
		got := gdListed(all, "GdSilenced")
		return err == nil && len(got) == 1 && got[0].Status.State == "suppressed" && slices.Contains(got[0].Status.SilencedBy, silence),
			fmt.Sprintf("%+v, error %v", got, err)
	})
	mark := time.Now()
	// Ten polls' worth: neither the silenced alert nor the announcements
	// trip the wire.
	require.Never(t, func() bool {
		st, err := a.Client.Status(ctx)
		return err != nil || st.State != ledger.Armed
	}, 3*time.Second, 100*time.Millisecond, "nothing halts tumult")
	st, err := a.Client.Status(ctx)
	require.NoError(t, err)
	src, ok := gdSource(st, "alertmanager/main")
	require.True(t, ok)
	require.True(t, src.Up, "%+v", src)
	require.False(t, src.Tripped, "%+v", src)
	require.True(t, src.LastRead.After(mark.Add(2*time.Second)), "the guardian kept polling: last read %s", src.LastRead)
	require.Len(t, gdListed(am.AllAlerts(), guardian.AlertChaosActive), 2, "the announcements are still there")
	require.Len(t, st.Faults, 2, "the faults still run")

	// The same wire, an alert neither silenced nor tumult's own: halt.
	am.PostAlert(map[string]string{"alertname": "GdControl", "severity": "info", "gd_run": run}, time.Now(), time.Time{})
	st = gdWaitState(ctx, t, a.Client, ledger.Halted, 10*time.Second)
	require.Contains(t, st.Reason, "GdControl")
	gdWaitStates(ctx, t, cli, map[string]string{runLabel: run}, 20*time.Second, "every member running again", gdAllRunning(2))
	// The announcements follow: chaos resolved, TumultHalted raised.
	gdWait(t, 15*time.Second, "ChaosExperimentActive resolved and TumultHalted raised", func() (bool, string) {
		all, err := gdAllAlerts(ctx, am)
		chaos, halted := gdListed(all, guardian.AlertChaosActive), gdListed(all, guardian.AlertHalted)
		return err == nil && len(chaos) == 0 && len(halted) == 1, fmt.Sprintf("%d chaos, %d halted, error %v", len(chaos), len(halted), err)
	})
}

// gdListed returns the listed alerts named alertname.
func gdListed(all []harness.ListedAlert, alertname string) []harness.ListedAlert {
	var out []harness.ListedAlert
	for _, al := range all {
		if al.Labels["alertname"] == alertname {
			out = append(out, al)
		}
	}
	return out
}

// gdAllAlerts is harness.AllAlerts without failing the test, for use
// inside a wait's condition.
func gdAllAlerts(ctx context.Context, am *harness.Alertmanager) ([]harness.ListedAlert, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, am.URL()+"/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true", nil)
	if err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("list alerts: %s", resp.Status)
	}
	var out []harness.ListedAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decode alerts: %w", err)
	}
	return out, nil
}
