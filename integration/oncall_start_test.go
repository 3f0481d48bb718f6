//go:build integration

package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/integration/harness"
)

// TestOnCallSeesAtStart: the real daemon with a mistyped Docker socket
// next to the real engine. The endpoint is checked at start, shown in
// status and logged at ERROR once (not on every decision); a halt made
// before a restart is reported at WARN at the next start with who, why
// and how to resume; a failed reload shows in status.
func TestOnCallSeesAtStart(t *testing.T) {
	harness.RequireDocker(t)
	ctx := testCtx(t, 3*time.Minute)
	run := harness.Unique("oncall")
	target := func(endpoint string) string {
		return `policy "` + endpoint + `-kill" {
  dry_run = true
  target "docker" {
    endpoint = "` + endpoint + `"
    labels   = { "` + runLabel + `" = "` + run + `" }
  }
  fault "kill" {}
  window {
    cron     = "@daily"
    duration = "24h"
  }
  every {
    mean = "2s"
  }
}
`
	}
	a := harness.StartAgent(ctx, t, harness.AgentOptions{
		Policies:    map[string]string{"local.hcl": target("local"), "typo.hcl": target("typo")},
		ExtraConfig: `docker "typo" { host = "unix:///var/run/dockr-` + run + `.sock" }`,
		LogLevel:    "info",
	})

	// The API answers before the start check ends: until then an
	// endpoint is "unchecked".
	var st api.Status
	byName := map[string]api.EndpointStatus{}
	require.Eventually(t, func() bool {
		var err error
		if st, err = a.Client.Status(ctx); err != nil {
			return false
		}
		for _, e := range st.Endpoints {
			byName[e.Name] = e
		}
		return byName["docker/local"].State != api.EndpointUnchecked && byName["docker/typo"].State != api.EndpointUnchecked
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, api.EndpointUp, byName["docker/local"].State)
	require.Equal(t, []string{"local-kill"}, byName["docker/local"].Policies)
	typo := byName["docker/typo"]
	require.Equal(t, api.EndpointDown, typo.State)
	require.Contains(t, typo.Error, `docker endpoint "typo": ping engine`)
	require.Contains(t, typo.Error, "dockr-"+run+".sock")
	require.NotNil(t, st.LastReload)
	require.True(t, st.LastReload.OK)
	require.Equal(t, "start", st.LastReload.Trigger)

	// Several decisions later, the endpoint's ERROR is still the only one.
	require.Eventually(t, func() bool {
		return strings.Count(a.Log(), `skipped: fault_id=`) >= 4
	}, time.Minute, 200*time.Millisecond)
	require.Equal(t, 1, strings.Count(a.Log(), `[ERROR] tumult.endpoints: docker endpoint "typo" unreachable`), a.Log())
	metrics := a.CLI(ctx, t, a.Token, "status")
	require.Equal(t, 0, metrics.Code, metrics.Stderr)
	require.Regexp(t, `(?m)^docker/typo +DOWN +`, metrics.Stdout)

	// A broken file: status says the reload failed and why.
	a.WritePolicy("typo.hcl", strings.Replace(target("typo"), `mean = "2s"`, `mean = "2x"`, 1))
	res := a.CLI(ctx, t, a.Token, "reload")
	require.Equal(t, 1, res.Code, res.Stdout+res.Stderr)
	require.Contains(t, res.Stdout, "not reloaded: 1 error; the last good set of 2 policies keeps running")
	st, err := a.Client.Status(ctx)
	require.NoError(t, err)
	require.False(t, st.LastReload.OK)
	require.Len(t, st.LastReload.Errors, 1)
	require.Contains(t, st.LastReload.Errors[0], `typo.hcl:13:12: Invalid duration: mean: "2x" is not a duration`)

	// A halt carries over a restart, and the start says so.
	halt := a.CLI(ctx, t, a.Token, "halt", "-reason", "carry me over")
	require.Equal(t, 0, halt.Code, halt.Stderr)
	_, err = a.Stop(30 * time.Second)
	require.NoError(t, err)
	a.WritePolicy("typo.hcl", target("typo"))
	before := len(a.Log())
	a.Restart(ctx)
	require.Eventually(t, func() bool { return strings.Contains(a.Log()[before:], "tumult agent running") }, 30*time.Second, 100*time.Millisecond)
	started := a.Log()[before:]
	require.Regexp(t, `\[WARN\]  tumult\.control: halted, carried over from an earlier run: no new faults until resumed: policy="\(all\)" actor=oncall source=api reason="carry me over" since=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ resume_with="tumult resume -reason \\"…\\""`, started)
	require.NotContains(t, started, "m=+", "no monotonic clock readings in the log")
	require.NotContains(t, started, "0001-01-01", "no zero times in the log")
	// It comes before the agent says it is running.
	require.Less(t, strings.Index(started, "carried over"), strings.Index(started, "tumult agent running"))
}
