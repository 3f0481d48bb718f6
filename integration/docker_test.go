//go:build integration

package integration

import (
	"context"
	"net/http"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
	"github.com/inferensys/tumult/targets/docker"
)

// runLabel marks every container of one test, so that a selector sees
// only that test's fleet.
const runLabel = "tumult.test.run"

func newDockerTarget(t *testing.T, opts docker.Options) *docker.Target {
	t.Helper()
	if opts.Name == "" {
		opts.Name = "local"
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	tg, err := docker.New(opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tg.Close() })
	return tg
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func byName(f targets.Fleet) map[string]targets.Member {
	out := map[string]targets.Member{}
	for _, m := range f.Members {
		out[m.Name] = m
	}
	return out
}

func inspect(ctx context.Context, t *testing.T, cli *client.Client, id string) container.InspectResponse {
	t.Helper()
	info, err := cli.ContainerInspect(ctx, id)
	require.NoError(t, err)
	return info
}

func TestDockerSelection(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := testCtx(t, 3*time.Minute)
	run := harness.Unique("sel")
	web := map[string]string{runLabel: run, "app": "web", "tumult.enable": "true"}

	opted := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-web", N: 3, Labels: web, Healthcheck: true, PublishPorts: true})
	notOpted := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-noopt", N: 1,
		Labels: map[string]string{runLabel: run, "app": "web", "tumult.enable": "false"}})
	protected := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-infra", N: 1,
		Labels: map[string]string{runLabel: run, "app": "web", "tumult.enable": "true", "role": "infra"}})
	harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-api", N: 1,
		Labels: map[string]string{runLabel: run, "app": "api", "tumult.enable": "true"}})
	self := opted[2]

	tg := newDockerTarget(t, docker.Options{Protect: map[string]string{"role": "infra"}, SelfID: self.ID[:12]})
	for _, c := range opted {
		harness.WaitFor(ctx, t, cli, c.ID, 30*time.Second, "become healthy", harness.Healthy)
	}

	fleet, err := tg.List(ctx, policies.Selector{Driver: policies.DriverDocker, Labels: map[string]string{runLabel: run, "app": "web"}})
	require.NoError(t, err)
	require.Equal(t, 4, fleet.Size, "every container with the labels is in the fleet, excluded or not, except tumult")
	require.Equal(t, 1, fleet.Self, "tumult's own container is counted apart")
	got := byName(fleet)
	require.Len(t, got, 4)
	require.NotContains(t, got, self.Name)
	require.Equal(t, "", got[opted[0].Name].Excluded)
	require.Equal(t, "", got[opted[1].Name].Excluded)
	require.Equal(t, "not opted in", got[notOpted[0].Name].Excluded)
	require.Equal(t, "protected", got[protected[0].Name].Excluded)
	for _, m := range fleet.Members {
		require.Equal(t, policies.DriverDocker, m.Driver)
		require.Equal(t, "local", m.Endpoint)
		require.True(t, m.Healthy, "%s: %s", m.Name, m.Status)
	}
	require.Equal(t, "running (healthy)", got[opted[0].Name].Status)
	require.Equal(t, "running", got[notOpted[0].Name].Status, "no health check: the state word alone")

	// The name regexp narrows the fleet further.
	fleet, err = tg.List(ctx, policies.Selector{Driver: policies.DriverDocker, Labels: map[string]string{runLabel: run},
		Name: regexp.MustCompile(`^` + regexp.QuoteMeta(run) + `-web-[12]$`)})
	require.NoError(t, err)
	require.Equal(t, 2, fleet.Size)
	require.ElementsMatch(t, []string{opted[0].Name, opted[1].Name}, []string{fleet.Members[0].Name, fleet.Members[1].Name})

	// Health follows the container's health check.
	resp, err := http.Post(opted[0].URL()+"/control?healthy=false", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Eventually(t, func() bool {
		f, err := tg.List(ctx, policies.Selector{Labels: map[string]string{runLabel: run, "app": "web"}})
		if err != nil {
			return false
		}
		m := byName(f)[opted[0].Name]
		return !m.Healthy && m.Status == "running (unhealthy)" && f.Healthy() == 3
	}, 30*time.Second, 200*time.Millisecond)
	st, err := tg.State(ctx, got[opted[0].Name])
	require.NoError(t, err)
	require.True(t, st.Running)
	require.False(t, st.Healthy)

	// Excluded members are refused, and the refusal does not trust the
	// listing: a member presented as eligible is inspected again.
	kill := policies.FaultSpec{Kind: policies.FaultKill}
	got[self.Name] = targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: self.ID, Name: self.Name, Excluded: "tumult itself"}
	for _, name := range []string{self.Name, notOpted[0].Name, protected[0].Name} {
		m := got[name]
		err := tg.Inject(ctx, m, kill)
		require.ErrorIs(t, err, targets.ErrRefused, name)
		m.Excluded = ""
		err = tg.Inject(ctx, m, kill)
		require.ErrorIs(t, err, targets.ErrRefused, "%s with its exclusion cleared", name)
		require.True(t, harness.Running(inspect(ctx, t, cli, m.ID)), "%s must be untouched", name)
	}
}

func TestDockerFaultsAndRestore(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := testCtx(t, 5*time.Minute)
	run := harness.Unique("faults")
	down := func(info container.InspectResponse) bool { return !info.State.Running }
	tests := []struct {
		name  string
		fault policies.FaultSpec
		// check looks at the container after Inject.
		check func(t *testing.T, id string, before container.InspectResponse)
		how   targets.How
	}{
		{"kill", policies.FaultSpec{Kind: policies.FaultKill, RestoreAfter: time.Minute},
			func(t *testing.T, id string, _ container.InspectResponse) {
				after := inspect(ctx, t, cli, id)
				require.False(t, after.State.Running, "SIGKILL through the engine is synchronous")
				require.Equal(t, 137, after.State.ExitCode)
			}, targets.Restored},
		{"kill-sigterm", policies.FaultSpec{Kind: policies.FaultKill, Signal: "SIGTERM"},
			func(t *testing.T, id string, _ container.InspectResponse) {
				after := inspect(ctx, t, cli, id)
				require.False(t, after.State.Running, "Inject waits for the container to go down")
				require.Equal(t, 0, after.State.ExitCode, "fleet exits cleanly on SIGTERM")
			}, targets.Restored},
		{"stop", policies.FaultSpec{Kind: policies.FaultStop, Timeout: 5 * time.Second},
			func(t *testing.T, id string, _ container.InspectResponse) {
				after := inspect(ctx, t, cli, id)
				require.False(t, after.State.Running)
				require.Equal(t, 0, after.State.ExitCode, "stopped by SIGTERM well within the timeout")
			}, targets.Restored},
		{"pause", policies.FaultSpec{Kind: policies.FaultPause, Duration: 30 * time.Second},
			func(t *testing.T, id string, _ container.InspectResponse) {
				require.True(t, inspect(ctx, t, cli, id).State.Paused)
			}, targets.Restored},
		{"restart", policies.FaultSpec{Kind: policies.FaultRestart, Timeout: 5 * time.Second},
			func(t *testing.T, id string, before container.InspectResponse) {
				after := inspect(ctx, t, cli, id)
				require.True(t, harness.Running(after))
				require.NotEqual(t, before.State.StartedAt, after.State.StartedAt)
			}, targets.Recovered},
		{"signal-sighup", policies.FaultSpec{Kind: policies.FaultSignal, Signal: "SIGHUP"},
			func(t *testing.T, id string, before container.InspectResponse) {
				after := inspect(ctx, t, cli, id)
				require.True(t, harness.Running(after), "fleet shrugs off SIGHUP")
				require.Equal(t, before.State.StartedAt, after.State.StartedAt)
			}, targets.Unaffected},
		{"signal-sigterm", policies.FaultSpec{Kind: policies.FaultSignal, Signal: "SIGTERM"},
			func(t *testing.T, id string, _ container.InspectResponse) {
				// A signal fault does not wait; the process ends soon after.
				harness.WaitFor(ctx, t, cli, id, 10*time.Second, "exit after SIGTERM", down)
			}, targets.Restored},
	}
	fleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: len(tests),
		Labels: map[string]string{runLabel: run, "tumult.enable": "true"}})
	tg := newDockerTarget(t, docker.Options{})
	listed, err := tg.List(ctx, policies.Selector{Labels: map[string]string{runLabel: run}})
	require.NoError(t, err)
	members := byName(listed)
	require.Len(t, members, len(tests))

	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fleet[i]
			m := members[c.Name]
			require.True(t, m.Healthy, m.Status)
			before := harness.WaitFor(ctx, t, cli, c.ID, 10*time.Second, "run", harness.Running)

			require.NoError(t, tg.Inject(ctx, m, tt.fault))
			tt.check(t, c.ID, before)
			if tt.how == targets.Restored {
				st, err := tg.State(ctx, m)
				require.NoError(t, err)
				require.True(t, st.Exists)
				require.False(t, st.Healthy, "a member held down by its fault is not healthy: %+v", st)
			}

			out, err := tg.Restore(ctx, m, tt.fault)
			require.NoError(t, err)
			require.Equal(t, tt.how, out.How)
			after := inspect(ctx, t, cli, c.ID)
			require.True(t, harness.Running(after), "back up after restore: %s", after.State.Status)

			// Restore is idempotent: same answer, nothing more done.
			out, err = tg.Restore(ctx, m, tt.fault)
			require.NoError(t, err)
			require.Equal(t, tt.how, out.How, "second restore")
			again := inspect(ctx, t, cli, c.ID)
			require.Equal(t, after.State.StartedAt, again.State.StartedAt, "the second restore must not restart it")

			st, err := tg.State(ctx, m)
			require.NoError(t, err)
			require.True(t, st.Running && !st.Paused && st.Healthy, "%+v", st)
		})
	}
}

func TestDockerRestoreAfterRemoval(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := testCtx(t, 2*time.Minute)
	run := harness.Unique("gone")
	fleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 1,
		Labels: map[string]string{runLabel: run, "tumult.enable": "true"}})
	tg := newDockerTarget(t, docker.Options{})
	listed, err := tg.List(ctx, policies.Selector{Labels: map[string]string{runLabel: run}})
	require.NoError(t, err)
	require.Len(t, listed.Members, 1)
	m := listed.Members[0]
	pause := policies.FaultSpec{Kind: policies.FaultPause, Duration: time.Minute}

	require.NoError(t, tg.Inject(ctx, m, pause))
	harness.RemoveContainer(t, cli, fleet[0].ID)

	for range 2 {
		out, err := tg.Restore(ctx, m, pause)
		require.NoError(t, err, "a removed member must not block a halt")
		require.Equal(t, targets.Gone, out.How)
	}
	st, err := tg.State(ctx, m)
	require.NoError(t, err)
	require.False(t, st.Exists)

	err = tg.Inject(ctx, m, pause)
	require.ErrorIs(t, err, targets.ErrGone)
	require.ErrorContains(t, err, `docker endpoint "local": inspect container `+m.Name)
}

// A crash (the main process killed from the host, which we may do as root
// on the Docker host) lets the restart policy bring the container back;
// Restore must see that it came back by itself.
func TestDockerRestartPolicyRecovers(t *testing.T) {
	cli := harness.RequireDocker(t)
	for _, policy := range []string{"always", "on-failure"} {
		t.Run(policy, func(t *testing.T) {
			ctx := testCtx(t, 2*time.Minute)
			run := harness.Unique("crash")
			fleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 1, RestartPolicy: policy,
				Labels: map[string]string{runLabel: run, "tumult.enable": "true"}})
			id := fleet[0].ID
			before := harness.WaitFor(ctx, t, cli, id, 10*time.Second, "run", harness.Running)
			require.NotZero(t, before.State.Pid)

			require.NoError(t, syscall.Kill(before.State.Pid, syscall.SIGKILL))
			after := harness.WaitFor(ctx, t, cli, id, 30*time.Second, "be restarted by its policy", func(info container.InspectResponse) bool {
				return harness.Running(info) && info.RestartCount > before.RestartCount && info.State.StartedAt != before.State.StartedAt
			})

			// A fresh target has no memory of a fault: inspect alone decides.
			tg := newDockerTarget(t, docker.Options{})
			m := targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: id, Name: fleet[0].Name}
			out, err := tg.Restore(ctx, m, policies.FaultSpec{Kind: policies.FaultKill})
			require.NoError(t, err)
			require.Equal(t, targets.Recovered, out.How)
			require.Equal(t, after.State.StartedAt, inspect(ctx, t, cli, id).State.StartedAt, "Restore must leave it alone")
		})
	}
}

// A member killed by tumult and started by someone else (an orchestrator,
// a person) before restore_after came back by itself as far as tumult is
// concerned. A kill through the API marks the container as stopped by
// hand, so its restart policy does not act: Restore must start it.
func TestDockerKillThenStartedByOthers(t *testing.T) {
	cli := harness.RequireDocker(t)
	ctx := testCtx(t, 2*time.Minute)
	run := harness.Unique("others")
	fleet := harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run, N: 2, RestartPolicy: "always",
		Labels: map[string]string{runLabel: run, "tumult.enable": "true"}})
	tg := newDockerTarget(t, docker.Options{})
	listed, err := tg.List(ctx, policies.Selector{Labels: map[string]string{runLabel: run}})
	require.NoError(t, err)
	members := byName(listed)
	kill := policies.FaultSpec{Kind: policies.FaultKill, RestoreAfter: time.Minute}

	// Started by someone else: Recovered, and Restore does nothing.
	m := members[fleet[0].Name]
	require.NoError(t, tg.Inject(ctx, m, kill))
	require.NoError(t, cli.ContainerStart(ctx, m.ID, container.StartOptions{}))
	started := harness.WaitFor(ctx, t, cli, m.ID, 10*time.Second, "run", harness.Running)
	out, err := tg.Restore(ctx, m, kill)
	require.NoError(t, err)
	require.Equal(t, targets.Recovered, out.How)
	require.Equal(t, started.State.StartedAt, inspect(ctx, t, cli, m.ID).State.StartedAt)

	// Left alone: a kill through the API marks the container as stopped
	// by hand, so its restart policy does not bring it back; tumult does.
	m = members[fleet[1].Name]
	require.NoError(t, tg.Inject(ctx, m, kill))
	out, err = tg.Restore(ctx, m, kill)
	require.NoError(t, err)
	if out.How == targets.Recovered {
		t.Log("this engine's restart policy restarted a container killed through the API")
	} else {
		require.Equal(t, targets.Restored, out.How)
	}
	harness.WaitFor(ctx, t, cli, m.ID, 10*time.Second, "run", harness.Running)
}

func TestDockerUnreachableEndpoint(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	tg := newDockerTarget(t, docker.Options{Name: "gone", Host: "tcp://127.0.0.1:1", CallTimeout: 5 * time.Second})
	m := targets.Member{Driver: policies.DriverDocker, Endpoint: "gone", ID: "0123456789abcdef", Name: "web-1"}

	_, err := tg.List(ctx, policies.Selector{Labels: map[string]string{"app": "web"}})
	require.ErrorIs(t, err, targets.ErrUnreachable)
	require.ErrorContains(t, err, `docker endpoint "gone": list containers`)
	require.ErrorIs(t, tg.Inject(ctx, m, policies.FaultSpec{Kind: policies.FaultPause}), targets.ErrUnreachable)
	_, err = tg.Restore(ctx, m, policies.FaultSpec{Kind: policies.FaultPause})
	require.ErrorIs(t, err, targets.ErrUnreachable)
	_, err = tg.State(ctx, m)
	require.ErrorIs(t, err, targets.ErrUnreachable)
	require.NotErrorIs(t, err, targets.ErrGone)
}
