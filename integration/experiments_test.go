//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/report"
)

// TestInjectUnderEveryGateButTheWindow runs `tumult inject` against the
// real binary and Docker: outside the policy's window it injects; with the
// fleet at max_disrupted it refuses with that reason; when halted it
// refuses; every refusal is recorded with its actor.
func TestInjectUnderEveryGateButTheWindow(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := gdCtx(t, 3*time.Minute)
	run := harness.Unique("ij")
	fleet := csFleet(ctx, t, cli, run, 2)
	a := harness.StartAgent(ctx, t, harness.AgentOptions{
		Policies: map[string]string{"inject.hcl": csPolicy("ij-pause", run, `"pause" { duration = "60s" }`, "")},
	})

	res := a.CLI(ctx, t, a.Token, "inject", "-policy", "ij-pause", "-reason", "game day")
	require.Equal(t, 0, res.Code, "stdout %s stderr %s", res.Stdout, res.Stderr)
	require.Regexp(t, `^injected pause into `+run+`-[12] \(policy ij-pause, record \S+\); restore due `, res.Stdout)
	faults, err := a.Client.Faults(ctx)
	require.NoError(t, err)
	require.Len(t, faults, 1)
	require.Equal(t, "oncall", faults[0].Actor)
	require.Equal(t, "game day", faults[0].ActorReason)
	require.Equal(t, ledger.Injected, faults[0].Phase)
	require.True(t, csPaused(ctx, t, cli, faults[0].Member.ID), "the member is really paused")
	st, err := a.Client.Status(ctx)
	require.NoError(t, err)
	require.False(t, st.Policies[0].WindowOpen, "the window is closed: only inject could do it")

	cases := []struct {
		name   string
		before func()
		args   []string
		code   int
		want   string
	}{
		{name: "at max_disrupted", args: []string{"-policy", "ij-pause", "-reason", "one more"}, code: 1,
			want: "tumult inject: conflict: refused: max_disrupted: 1 of 2 members disrupted, limit 1 = 1 (HTTP 409)"},
		{name: "unknown policy", args: []string{"-policy", "nope", "-reason", "x"}, code: 1, want: `unknown policy "nope" (HTTP 404)`},
		{name: "halted", before: func() {
			h := a.CLI(ctx, t, a.Token, "halt", "-reason", "incident 7")
			require.Equal(t, 0, h.Code, h.Stderr)
		}, args: []string{"-policy", "ij-pause", "-member", fleet[0].Name, "-reason", "game day"}, code: 1,
			want: "tumult inject: conflict: refused: halted by oncall: incident 7 (HTTP 409)"},
		{name: "no token", args: []string{"-policy", "ij-pause", "-reason", "x"}, code: 2, want: "requires a token"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before()
			}
			token := a.Token
			if tc.name == "no token" {
				token = ""
			}
			res := a.CLI(ctx, t, token, append([]string{"inject"}, tc.args...)...)
			require.Equal(t, tc.code, res.Code, "stdout %s stderr %s", res.Stdout, res.Stderr)
			require.Contains(t, res.Stderr, tc.want)
			require.Empty(t, res.Stdout)
		})
	}

	// The halt restored the one fault; the refusals changed nothing.
	faults, err = a.Client.Faults(ctx)
	require.NoError(t, err)
	require.Empty(t, faults)
	for _, c := range fleet {
		require.False(t, csPaused(ctx, t, cli, c.ID), c.Name)
	}
	hist, err := a.Client.History(ctx, time.Hour, "ij-pause", 0)
	require.NoError(t, err)
	var refusals []string
	for _, r := range hist {
		if r.Result == ledger.Skipped {
			require.Equal(t, "oncall", r.Actor)
			refusals = append(refusals, r.Reason)
		}
	}
	slices.Sort(refusals)
	require.Equal(t, []string{
		"halted by oncall: incident 7",
		"max_disrupted: 1 of 2 members disrupted, limit 1 = 1",
	}, refusals, "each refusal is in the history with its actor")
}

// TestReportOfARealRun fills a ledger with a real run — experiments that
// pass, one whose steady state does not come back, a halt, a refusal —
// and checks that `tumult report` says what the history holds, and that
// its HTML page opens in Chromium without errors.
func TestReportOfARealRun(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := gdCtx(t, 5*time.Minute)
	run := harness.Unique("rp")
	token := harness.RandomToken()

	// The steady state is a gauge the test sets, scraped by a real
	// Prometheus.
	reg := prometheus.NewRegistry()
	steady := prometheus.NewGauge(prometheus.GaugeOpts{Name: "rp_steady_error_ratio"})
	reg.MustRegister(steady)
	metrics := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(metrics.Close)
	prom := harness.StartPrometheus(t, harness.PrometheusOptions{ScrapeTargets: []string{strings.TrimPrefix(metrics.URL, "http://")}})
	fleet := csFleet(ctx, t, cli, run, 2)
	a := harness.StartInProc(ctx, t, harness.InProcOptions{
		Token: token,
		ConfigHCL: fmt.Sprintf(`
docker "local" {}
prometheus "main" {
  address = %q
}
`, prom.URL()),
		Policies: map[string]string{"report": csPolicy("rp-pause", run, `"pause" { duration = "2s" }`, `  steady_state {
    query          = "rp_steady_error_ratio"
    max            = 0.5
    recover_within = "4s"
  }
`)},
	})
	rpWaitSeries(ctx, t, prom.URL(), "rp_steady_error_ratio", 0)

	finished := func(id string) ledger.Record {
		t.Helper()
		var got ledger.Record
		require.Eventually(t, func() bool {
			hist, err := a.Client.History(ctx, time.Hour, "", 0)
			if err != nil {
				return false
			}
			for _, r := range hist {
				if r.ID == id {
					got = r
					return true
				}
			}
			return false
		}, 60*time.Second, 100*time.Millisecond, "record %s never finished", id)
		return got
	}
	for i := range 3 {
		rec, err := a.Client.Inject(ctx, api.InjectRequest{Policy: "rp-pause", Member: fleet[i%2].Name, Reason: fmt.Sprint("pass ", i)})
		require.NoError(t, err)
		got := finished(rec.ID)
		require.Equal(t, ledger.Passed, got.Result, got.Reason)
	}
	// The hypothesis breaks after the injection and stays broken.
	rec, err := a.Client.Inject(ctx, api.InjectRequest{Policy: "rp-pause", Member: fleet[0].Name, Reason: "break it"})
	require.NoError(t, err)
	steady.Set(1)
	failed := finished(rec.ID)
	require.Equal(t, ledger.Failed, failed.Result, failed.Reason)
	steady.Set(0)
	_, err = a.Client.Halt(ctx, api.HaltRequest{Reason: "report test halt"})
	require.NoError(t, err)
	_, err = a.Client.Inject(ctx, api.InjectRequest{Policy: "rp-pause", Reason: "while halted"})
	require.ErrorIs(t, err, api.ErrConflict)
	_, err = a.Client.Resume(ctx, api.ResumeRequest{Reason: "all clear"})
	require.NoError(t, err)

	env := map[string]string{"TUMULT_ADDR": a.URL(), "TUMULT_TOKEN": token}
	res := harness.RunTumult(ctx, t, env, "report", "-since", "1h", "-json")
	require.Equal(t, 0, res.Code, res.Stderr)
	var rep report.Report
	require.NoError(t, json.Unmarshal([]byte(res.Stdout), &rep))

	// What the history holds, counted here on its own.
	hist, err := a.Client.History(ctx, time.Hour, "", 0)
	require.NoError(t, err)
	byResult := map[ledger.Result]int{}
	var toHealthy, toSteady []float64
	for _, r := range hist {
		byResult[r.Result]++
		if r.Result == ledger.Skipped {
			continue
		}
		require.False(t, r.HealthyAt.IsZero(), "record %s has its time to healthy", r.ID)
		toHealthy = append(toHealthy, r.HealthyAt.Sub(r.Injected).Seconds())
		if !r.SteadyAt.IsZero() {
			toSteady = append(toSteady, r.SteadyAt.Sub(r.Injected).Seconds())
		}
	}
	require.Equal(t, map[ledger.Result]int{ledger.Passed: 3, ledger.Failed: 1, ledger.Skipped: 1}, byResult)
	slices.Sort(toHealthy)
	slices.Sort(toSteady)
	require.Len(t, toSteady, 3, "the failed experiment never reached steady state")

	require.Equal(t, report.Counts{Run: 4, Passed: 3, Failed: 1, Skipped: 1, Manual: 4}, rep.Totals)
	require.Len(t, rep.Policies, 1)
	p := rep.Policies[0]
	require.Equal(t, "rp-pause", p.Name)
	require.Equal(t, []string{"pause"}, p.Kinds)
	require.Len(t, p.Failures, 1)
	require.Equal(t, failed.ID, p.Failures[0].ID)
	require.Contains(t, p.Failures[0].Reason, "not recovered within 4s: steady state 1 not in [-inf, 0.5]")
	near := func(want, got float64, what string) {
		t.Helper()
		require.InDelta(t, want, got, 1e-6, what)
	}
	require.Equal(t, 4, p.ToHealthy.N)
	near(toHealthy[1], p.ToHealthy.P50, "p50 to healthy is the 2nd of 4")
	near(toHealthy[3], p.ToHealthy.P95, "p95 to healthy is the 4th of 4")
	near(toHealthy[3], p.ToHealthy.Max, "max to healthy")
	require.Equal(t, 3, p.ToSteady.N)
	near(toSteady[1], p.ToSteady.P50, "p50 to steady")
	near(toSteady[2], p.ToSteady.Max, "max to steady")
	require.GreaterOrEqual(t, p.ToHealthy.P50, 2.0, "a 2s pause recovers after 2s at the earliest")
	require.Len(t, rep.Recovery, 1)
	require.Equal(t, report.KindRecovery{Kind: "pause", ToHealthy: p.ToHealthy, ToSteady: p.ToSteady, NotRecovered: 1}, rep.Recovery[0])
	require.Len(t, rep.Halts, 1)
	h := rep.Halts[0]
	require.Equal(t, "tests", h.Actor)
	require.Equal(t, "api", h.Source)
	require.Equal(t, "report test halt", h.Reason)
	require.False(t, h.Ongoing)
	require.Greater(t, h.Seconds, 0.0)
	require.Equal(t, []report.Reason{{Reason: "halted by tests", Count: 1, Example: "halted by tests: report test halt"}}, rep.SkipReasons)
	var sum report.Bucket
	for _, b := range rep.Timeline.Buckets {
		sum.Passed, sum.Failed, sum.Skipped, sum.Halts = sum.Passed+b.Passed, sum.Failed+b.Failed, sum.Skipped+b.Skipped, sum.Halts+b.Halts
	}
	require.Equal(t, report.Bucket{Passed: 3, Failed: 1, Skipped: 1, Halts: 1}, sum)

	res = harness.RunTumult(ctx, t, env, "report", "-since", "1h")
	require.Equal(t, 0, res.Code, res.Stderr)
	t.Logf("tumult report:\n%s", res.Stdout)
	require.Regexp(t, `(?m)^rp-pause +pause +4 +3 +1 +0 +0 +1 `, res.Stdout)

	page := filepath.Join(harness.ScreenshotDir(t), "report.html")
	res = harness.RunTumult(ctx, t, env, "report", "-since", "1h", "-html", page)
	require.Equal(t, 0, res.Code, res.Stderr)
	b := harness.StartBrowser(t, harness.BrowserOptions{Width: 1200, Height: 900})
	b.Do(30*time.Second, "open the report", chromedp.Navigate((&url.URL{Scheme: "file", Path: page}).String()))
	require.Contains(t, b.Text(5*time.Second, "h1"), "tumult resilience report")
	require.Equal(t, 2, harness.Eval[int](b, 5*time.Second, `document.querySelectorAll("svg").length`), "both plots")
	require.Equal(t, 4, harness.Eval[int](b, 5*time.Second, `document.querySelectorAll("svg circle").length`), "one dot per measured recovery")
	require.Contains(t, b.Text(5*time.Second, "body"), "report test halt")
	b.Screenshot("report")
	require.Empty(t, b.Errors(), "the report opens without errors of any kind")
	info, err := os.Stat(page)
	require.NoError(t, err)
	require.Less(t, info.Size(), int64(200_000), "one small self-contained file")
}

// rpWaitSeries waits until Prometheus has a sample of the query with the
// value want.
func rpWaitSeries(ctx context.Context, t *testing.T, promURL, query string, want float64) {
	t.Helper()
	require.Eventually(t, func() bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, promURL+"/api/v1/query?query="+url.QueryEscape(query), nil)
		if err != nil {
			return false
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer func() { _ = resp.Body.Close() }()
		var body struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) != nil || len(body.Data.Result) == 0 {
			return false
		}
		s, _ := body.Data.Result[0].Value[1].(string)
		var v float64
		_, err = fmt.Sscan(s, &v)
		return err == nil && math.Abs(v-want) < 1e-9
	}, 30*time.Second, 200*time.Millisecond, "Prometheus never had %s = %g", query, want)
}
