package nomad_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
	"github.com/inferensys/tumult/targets/nomad"
	"github.com/inferensys/tumult/targets/nomad/nomadfake"
)

var optIn = map[string]string{"tumult.enable": "true"}

// testCtx bounds every call, so that a driver that waits for the wrong
// thing fails the test instead of hanging it.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newTarget(t *testing.T, f *nomadfake.Fake, mod func(*nomad.Options)) *nomad.Target {
	t.Helper()
	opts := nomad.Options{Name: "prod", Address: f.URL(), PollInterval: time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	tg, err := nomad.New(opts)
	require.NoError(t, err)
	return tg
}

// webJob is the usual fixture: job "web" with groups api (3) and worker
// (2), tasks server and sidecar.
func webJob(t *testing.T, meta map[string]string) *nomadfake.Fake {
	t.Helper()
	f := nomadfake.New(t)
	f.AddJob("default", "web", meta, map[string]int{"api": 3, "worker": 2}, []string{"server", "sidecar"})
	return f
}

func member(t *testing.T, fleet targets.Fleet, name string) targets.Member {
	t.Helper()
	for _, m := range fleet.Members {
		if m.Name == name {
			return m
		}
	}
	require.Failf(t, "no such member", "%s in %v", name, fleet.Members)
	return targets.Member{}
}

func list(t *testing.T, tg *nomad.Target, sel policies.Selector) targets.Fleet {
	t.Helper()
	fleet, err := tg.List(testCtx(t), sel)
	require.NoError(t, err)
	return fleet
}

func TestList(t *testing.T) {
	type want struct {
		excluded string
		healthy  bool
	}
	ok := want{healthy: true}
	cases := []struct {
		name     string
		jobMeta  map[string]string
		setup    func(f *nomadfake.Fake)
		opts     func(f *nomadfake.Fake, o *nomad.Options)
		sel      policies.Selector
		wantSize int
		wantSelf int
		want     map[string]want // by member name
	}{
		{
			name:     "whole job: every group, size from counts",
			jobMeta:  optIn,
			sel:      policies.Selector{Job: "web"},
			wantSize: 5,
			want: map[string]want{
				"web.api[0]": ok, "web.api[1]": ok, "web.api[2]": ok,
				"web.worker[0]": ok, "web.worker[1]": ok,
			},
		},
		{
			name:     "one group",
			jobMeta:  optIn,
			sel:      policies.Selector{Job: "web", Group: "worker"},
			wantSize: 2,
			want:     map[string]want{"web.worker[0]": ok, "web.worker[1]": ok},
		},
		{
			name:     "job without opt-in meta",
			jobMeta:  map[string]string{"tumult.enable": "yes"},
			sel:      policies.Selector{Job: "web", Group: "worker"},
			wantSize: 2,
			want: map[string]want{
				"web.worker[0]": {excluded: nomad.ExcludedNotOptedIn, healthy: true},
				"web.worker[1]": {excluded: nomad.ExcludedNotOptedIn, healthy: true},
			},
		},
		{
			name:  "group meta opts one group in",
			setup: func(f *nomadfake.Fake) { f.SetGroupMeta("default", "web", "worker", optIn) },
			sel:   policies.Selector{Job: "web"}, wantSize: 5,
			want: map[string]want{
				"web.api[0]":    {excluded: nomad.ExcludedNotOptedIn, healthy: true},
				"web.api[1]":    {excluded: nomad.ExcludedNotOptedIn, healthy: true},
				"web.api[2]":    {excluded: nomad.ExcludedNotOptedIn, healthy: true},
				"web.worker[0]": ok, "web.worker[1]": ok,
			},
		},
		{
			name:    "group meta opts out of a job-wide opt-in",
			jobMeta: optIn,
			setup: func(f *nomadfake.Fake) {
				f.SetGroupMeta("default", "web", "worker", map[string]string{"tumult.enable": "false"})
			},
			sel: policies.Selector{Job: "web", Group: "worker"}, wantSize: 2,
			want: map[string]want{
				"web.worker[0]": {excluded: nomad.ExcludedNotOptedIn, healthy: true},
				"web.worker[1]": {excluded: nomad.ExcludedNotOptedIn, healthy: true},
			},
		},
		{
			name:     "custom opt-in key",
			jobMeta:  map[string]string{"chaos": "true"},
			opts:     func(_ *nomadfake.Fake, o *nomad.Options) { o.OptInMeta = "chaos" },
			sel:      policies.Selector{Job: "web", Group: "worker"},
			wantSize: 2,
			want:     map[string]want{"web.worker[0]": ok, "web.worker[1]": ok},
		},
		{
			name:    "protected by job meta",
			jobMeta: map[string]string{"tumult.enable": "true", "role": "infra"},
			opts: func(_ *nomadfake.Fake, o *nomad.Options) {
				o.Protect = map[string]string{"role": "infra", "tier": "db"}
			},
			sel: policies.Selector{Job: "web", Group: "worker"}, wantSize: 2,
			want: map[string]want{
				"web.worker[0]": {excluded: nomad.ExcludedProtected, healthy: true},
				"web.worker[1]": {excluded: nomad.ExcludedProtected, healthy: true},
			},
		},
		{
			name:    "protected by group meta only",
			jobMeta: map[string]string{"tumult.enable": "true", "role": "web"},
			setup: func(f *nomadfake.Fake) {
				f.SetGroupMeta("default", "web", "worker", map[string]string{"tier": "db"})
			},
			opts: func(_ *nomadfake.Fake, o *nomad.Options) {
				o.Protect = map[string]string{"role": "infra", "tier": "db"}
			},
			sel: policies.Selector{Job: "web"}, wantSize: 5,
			want: map[string]want{
				"web.api[0]": ok, "web.api[1]": ok, "web.api[2]": ok,
				"web.worker[0]": {excluded: nomad.ExcludedProtected, healthy: true},
				"web.worker[1]": {excluded: nomad.ExcludedProtected, healthy: true},
			},
		},
		{
			name:    "tumult's own allocation",
			jobMeta: optIn,
			opts: func(f *nomadfake.Fake, o *nomad.Options) {
				o.SelfAllocID = f.Allocs("default", "web", "worker", "")[1]
			},
			// tumult is no capacity of the group: out of the fleet and of
			// its size, so min_healthy and percentages count without it.
			sel: policies.Selector{Job: "web", Group: "worker"}, wantSize: 1, wantSelf: 1,
			want: map[string]want{
				"web.worker[0]": ok,
			},
		},
		{
			name:    "deployment health decides between running allocations",
			jobMeta: optIn,
			setup: func(f *nomadfake.Fake) {
				ids := f.Allocs("default", "web", "api", "")
				f.SetAllocHealthy(ids[0], true)
				f.SetAllocHealthy(ids[1], false)
			},
			sel: policies.Selector{Job: "web", Group: "api"}, wantSize: 3,
			want: map[string]want{"web.api[0]": ok, "web.api[1]": {}, "web.api[2]": ok},
		},
		{
			name:    "terminal allocations are no members, pending ones are unhealthy",
			jobMeta: optIn,
			setup: func(f *nomadfake.Fake) {
				ids := f.Allocs("default", "web", "api", "")
				f.SetClientStatus(ids[0], api.AllocClientStatusComplete)
				f.SetClientStatus(ids[1], api.AllocClientStatusFailed)
				f.SetClientStatus(ids[2], api.AllocClientStatusPending)
			},
			sel: policies.Selector{Job: "web", Group: "api"}, wantSize: 3,
			want: map[string]want{"web.api[2]": {}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := webJob(t, tc.jobMeta)
			if tc.setup != nil {
				tc.setup(f)
			}
			tg := newTarget(t, f, func(o *nomad.Options) {
				if tc.opts != nil {
					tc.opts(f, o)
				}
			})
			fleet := list(t, tg, tc.sel)
			require.Equal(t, tc.wantSize, fleet.Size)
			require.Equal(t, tc.wantSelf, fleet.Self)
			got := map[string]want{}
			for _, m := range fleet.Members {
				got[m.Name] = want{excluded: m.Excluded, healthy: m.Healthy}
				require.Equal(t, policies.DriverNomad, m.Driver)
				require.Equal(t, "prod", m.Endpoint)
				require.Equal(t, "default", m.Namespace)
				require.Equal(t, "web", m.Job)
				require.NotEmpty(t, m.ID)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestListNamespaceTaskAndSelfFromEnv(t *testing.T) {
	f := nomadfake.New(t)
	f.AddJob("batch", "web", optIn, map[string]int{"api": 2}, []string{"server"})
	f.AddJob("default", "web", nil, map[string]int{"api": 1}, []string{"server"})
	self := f.Allocs("batch", "web", "api", "")[0]
	t.Setenv("NOMAD_ALLOC_ID", self)
	tg := newTarget(t, f, nil)

	fleet := list(t, tg, policies.Selector{Namespace: "batch", Job: "web", Task: "server"})
	require.Equal(t, 1, fleet.Size, "a group of 2 that holds tumult has 1 member of capacity")
	require.Equal(t, 1, fleet.Self)
	require.Len(t, fleet.Members, 1)
	m := fleet.Members[0]
	require.NotEqual(t, self, m.ID)
	require.Equal(t, "batch", m.Namespace)
	require.Equal(t, "server", m.Task)
	require.Empty(t, m.Excluded)

	fleet = list(t, tg, policies.Selector{Job: "web"})
	require.Equal(t, 1, fleet.Size, "no namespace means the default one")
	require.Equal(t, nomad.ExcludedNotOptedIn, fleet.Members[0].Excluded)
}

func TestListErrors(t *testing.T) {
	f := webJob(t, optIn)
	tg := newTarget(t, f, nil)
	cases := []struct {
		name  string
		sel   policies.Selector
		class error
		msg   string
	}{
		{"no job", policies.Selector{}, targets.ErrRefused, "names no job"},
		{"unknown job", policies.Selector{Job: "nope"}, targets.ErrGone, "job not found"},
		{"unknown group", policies.Selector{Job: "web", Group: "nope"}, targets.ErrGone, `no task group "nope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tg.List(testCtx(t), tc.sel)
			require.ErrorIs(t, err, tc.class)
			require.ErrorContains(t, err, tc.msg)
			require.ErrorContains(t, err, `nomad endpoint "prod": list allocations of job default/`)
		})
	}
}

func TestStopIsReplaced(t *testing.T) {
	for _, kind := range []policies.FaultKind{policies.FaultKill, policies.FaultStop} {
		t.Run(string(kind), func(t *testing.T) {
			f := webJob(t, optIn)
			f.SetStartAfter(8) // outlasts the first look Restore takes
			tg := newTarget(t, f, nil)
			ctx := testCtx(t)
			sel := policies.Selector{Job: "web", Group: "api"}
			m := member(t, list(t, tg, sel), "web.api[1]")
			fault := policies.FaultSpec{Kind: kind, Signal: "SIGKILL", RestoreAfter: time.Minute}

			require.NoError(t, tg.Inject(ctx, m, fault))
			require.Equal(t, []nomadfake.Event{{Kind: "stop", AllocID: m.ID}}, f.Events())

			// Right after the stop the replacement is placed but not running.
			fleet := list(t, tg, sel)
			require.Equal(t, 3, fleet.Size)
			require.Len(t, fleet.Members, 3)
			require.Equal(t, 2, fleet.Healthy())
			require.False(t, slices.ContainsFunc(fleet.Members, func(x targets.Member) bool { return x.ID == m.ID }),
				"a stopped allocation is no member")

			old, _ := f.Alloc(m.ID)
			pending, _ := f.Alloc(old.NextAllocation)
			require.Equal(t, api.AllocClientStatusPending, pending.ClientStatus)
			seen := len(f.Requests())
			out, err := tg.Restore(ctx, m, fault)
			require.Greater(t, len(f.Requests())-seen, 3, "restore had to look more than once")
			require.NoError(t, err)
			require.Equal(t, targets.Outcome{How: targets.Replaced, Replacement: old.NextAllocation}, out)
			repl, _ := f.Alloc(out.Replacement)
			require.Equal(t, api.AllocClientStatusRunning, repl.ClientStatus)
			require.Equal(t, 3, list(t, tg, sel).Healthy())

			again, err := tg.Restore(ctx, m, fault)
			require.NoError(t, err)
			require.Equal(t, out, again, "restore is idempotent")
			require.Equal(t, 1, f.Count("stop"), "restore stops nothing")

			st, err := tg.State(ctx, m)
			require.NoError(t, err)
			require.True(t, st.Exists)
			require.False(t, st.Running)
			require.Contains(t, st.Status, "desired stop")
			st, err = tg.State(ctx, targets.Member{ID: out.Replacement, Namespace: "default"})
			require.NoError(t, err)
			require.True(t, st.Running)
			require.True(t, st.Healthy)
			require.False(t, st.StartedAt.IsZero())
		})
	}
}

func TestRestoreStop(t *testing.T) {
	stop := policies.FaultSpec{Kind: policies.FaultStop}
	cases := []struct {
		name   string
		inject bool
		after  func(f *nomadfake.Fake, m targets.Member)
		want   func(f *nomadfake.Fake, m targets.Member) targets.Outcome
	}{
		{
			name: "never stopped",
			want: func(*nomadfake.Fake, targets.Member) targets.Outcome { return targets.Outcome{How: targets.Unaffected} },
		},
		{
			name:   "job purged",
			inject: true,
			after:  func(f *nomadfake.Fake, _ targets.Member) { f.RemoveJob("default", "web") },
			want:   func(*nomadfake.Fake, targets.Member) targets.Outcome { return targets.Outcome{How: targets.Gone} },
		},
		{
			name:   "stopped allocation garbage-collected: replacement found by name",
			inject: true,
			after: func(f *nomadfake.Fake, m targets.Member) {
				f.Settle()
				f.GC(m.ID)
			},
			want: func(f *nomadfake.Fake, m targets.Member) targets.Outcome {
				running := f.Allocs("default", "web", "api", api.AllocClientStatusRunning)
				for _, id := range running {
					if a, _ := f.Alloc(id); a.Name == m.Name {
						return targets.Outcome{How: targets.Replaced, Replacement: id}
					}
				}
				return targets.Outcome{}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := webJob(t, optIn)
			tg := newTarget(t, f, nil)
			ctx := testCtx(t)
			m := member(t, list(t, tg, policies.Selector{Job: "web", Group: "api"}), "web.api[0]")
			if tc.inject {
				require.NoError(t, tg.Inject(ctx, m, stop))
			}
			if tc.after != nil {
				tc.after(f, m)
			}
			want := tc.want(f, m)
			for range 2 {
				out, err := tg.Restore(ctx, m, stop)
				require.NoError(t, err)
				require.Equal(t, want, out)
			}
		})
	}
}

func TestRestoreFollowsRescheduleChain(t *testing.T) {
	f := webJob(t, optIn)
	f.SetStartAfter(0)
	tg := newTarget(t, f, nil)
	ctx := testCtx(t)
	stop := policies.FaultSpec{Kind: policies.FaultStop}
	m := member(t, list(t, tg, policies.Selector{Job: "web", Group: "api"}), "web.api[2]")
	require.NoError(t, tg.Inject(ctx, m, stop))
	first, _ := f.Alloc(m.ID)

	// The first replacement is stopped as well (a node drain, say); Nomad
	// places a second one, linked from the first.
	m2 := targets.Member{ID: first.NextAllocation, Name: m.Name, Namespace: "default", Job: "web", Group: "api"}
	require.NoError(t, tg.Inject(ctx, m2, stop))
	second, _ := f.Alloc(first.NextAllocation)
	require.NotEmpty(t, second.NextAllocation)

	out, err := tg.Restore(ctx, m, stop)
	require.NoError(t, err)
	require.Equal(t, targets.Outcome{How: targets.Replaced, Replacement: second.NextAllocation}, out)
}

func TestRestartKeepsID(t *testing.T) {
	for _, task := range []string{"", "server"} {
		t.Run("task="+task, func(t *testing.T) {
			f := webJob(t, optIn)
			f.SetStartAfter(3)
			tg := newTarget(t, f, nil)
			ctx := testCtx(t)
			sel := policies.Selector{Job: "web", Group: "api", Task: task}
			before := list(t, tg, sel)
			m := member(t, before, "web.api[0]")
			restart := policies.FaultSpec{Kind: policies.FaultRestart, Timeout: 10 * time.Second}

			require.NoError(t, tg.Inject(ctx, m, restart))
			require.Equal(t, []nomadfake.Event{{Kind: "restart", AllocID: m.ID, Task: task}}, f.Events())
			a, _ := f.Alloc(m.ID)
			require.Equal(t, uint64(1), a.TaskStates["server"].Restarts)
			wantSidecar := uint64(0)
			if task == "" {
				wantSidecar = 1
			}
			require.Equal(t, wantSidecar, a.TaskStates["sidecar"].Restarts)

			st, err := tg.State(ctx, m)
			require.NoError(t, err)
			require.False(t, st.Running, "restarting")

			for range 2 {
				out, err := tg.Restore(ctx, m, restart)
				require.NoError(t, err)
				require.Equal(t, targets.Outcome{How: targets.Recovered}, out)
			}
			after := list(t, tg, sel)
			ids := func(fl targets.Fleet) []string {
				var out []string
				for _, x := range fl.Members {
					out = append(out, x.ID)
				}
				return out
			}
			require.Equal(t, ids(before), ids(after), "restart keeps allocation IDs")
			require.Equal(t, 3, after.Healthy())
			require.Zero(t, f.Count("stop"))
		})
	}
}

func TestSignalTask(t *testing.T) {
	f := webJob(t, optIn)
	tg := newTarget(t, f, nil)
	ctx := testCtx(t)
	m := member(t, list(t, tg, policies.Selector{Job: "web", Group: "worker", Task: "sidecar"}), "web.worker[1]")
	sig := policies.FaultSpec{Kind: policies.FaultSignal, Signal: "SIGHUP"}

	require.NoError(t, tg.Inject(ctx, m, sig))
	require.Equal(t, []nomadfake.Event{{Kind: "signal", AllocID: m.ID, Task: "sidecar", Signal: "SIGHUP"}}, f.Events())
	for range 2 {
		out, err := tg.Restore(ctx, m, sig)
		require.NoError(t, err)
		require.Equal(t, targets.Outcome{How: targets.Unaffected}, out)
	}
	require.Zero(t, f.Count("stop")+f.Count("restart"))
}

func TestSignalThatTookTheTaskDown(t *testing.T) {
	f := webJob(t, optIn)
	tg := newTarget(t, f, nil)
	ctx := testCtx(t)
	m := member(t, list(t, tg, policies.Selector{Job: "web", Group: "api"}), "web.api[0]")
	sig := policies.FaultSpec{Kind: policies.FaultSignal, Signal: "SIGTERM"}
	require.NoError(t, tg.Inject(ctx, m, sig))
	f.SetClientStatus(m.ID, api.AllocClientStatusPending) // the task exited and restarts

	seen := len(f.Requests())
	done := make(chan targets.Outcome, 1)
	go func() {
		out, err := tg.Restore(ctx, m, sig)
		if err != nil {
			out = targets.Outcome{How: targets.How("error: " + err.Error())}
		}
		done <- out
	}()
	require.Eventually(t, func() bool { return len(f.Requests()) > seen+2 }, 5*time.Second, time.Millisecond)
	select {
	case out := <-done:
		require.Failf(t, "restore returned while the task was down", "%+v", out)
	default:
	}
	f.Settle()
	select {
	case out := <-done:
		require.Equal(t, targets.Outcome{How: targets.Recovered}, out)
	case <-ctx.Done():
		require.Fail(t, "restore did not see the task back")
	}
}

func TestInjectRefuses(t *testing.T) {
	stop := policies.FaultSpec{Kind: policies.FaultStop}
	cases := []struct {
		name  string
		fault policies.FaultSpec
		task  string
		after func(f *nomadfake.Fake, m targets.Member) // between List and Inject
		class error
		msg   string
	}{
		{name: "pause", fault: policies.FaultSpec{Kind: policies.FaultPause, Duration: time.Minute},
			class: targets.ErrRefused, msg: "pause is not supported on nomad"},
		{name: "signal without signal", fault: policies.FaultSpec{Kind: policies.FaultSignal},
			class: targets.ErrRefused, msg: "names no signal"},
		{name: "opt-in removed since listing", fault: stop,
			after: func(f *nomadfake.Fake, _ targets.Member) { f.SetJobMeta("default", "web", nil) },
			class: targets.ErrRefused, msg: "excluded: not opted in"},
		{name: "group opted out since listing", fault: stop,
			after: func(f *nomadfake.Fake, _ targets.Member) {
				f.SetGroupMeta("default", "web", "api", map[string]string{"tumult.enable": "false"})
			},
			class: targets.ErrRefused, msg: "excluded: not opted in"},
		{name: "protected since listing", fault: stop,
			after: func(f *nomadfake.Fake, _ targets.Member) {
				f.SetJobMeta("default", "web", map[string]string{"tumult.enable": "true", "role": "infra"})
			},
			class: targets.ErrRefused, msg: "excluded: protected"},
		{name: "ended since listing", fault: stop,
			after: func(f *nomadfake.Fake, m targets.Member) { f.SetClientStatus(m.ID, api.AllocClientStatusFailed) },
			class: targets.ErrGone, msg: "allocation is failed"},
		{name: "unknown task", fault: policies.FaultSpec{Kind: policies.FaultRestart}, task: "nope",
			class: targets.ErrRefused, msg: `has no task "nope"`},
		{name: "restart of a pending allocation", fault: policies.FaultSpec{Kind: policies.FaultRestart},
			after: func(f *nomadfake.Fake, m targets.Member) { f.SetClientStatus(m.ID, api.AllocClientStatusPending) },
			class: targets.ErrRefused, msg: "pending, not running"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := webJob(t, optIn)
			tg := newTarget(t, f, func(o *nomad.Options) { o.Protect = map[string]string{"role": "infra"} })
			m := member(t, list(t, tg, policies.Selector{Job: "web", Group: "api"}), "web.api[0]")
			m.Task = tc.task
			if tc.after != nil {
				tc.after(f, m)
			}
			err := tg.Inject(testCtx(t), m, tc.fault)
			require.ErrorIs(t, err, tc.class)
			require.ErrorContains(t, err, tc.msg)
			require.Empty(t, f.Events(), "nothing was done")
		})
	}

	t.Run("restore of pause has nothing to undo", func(t *testing.T) {
		f := webJob(t, optIn)
		tg := newTarget(t, f, nil)
		out, err := tg.Restore(testCtx(t), targets.Member{ID: "x"}, policies.FaultSpec{Kind: policies.FaultPause})
		require.NoError(t, err)
		require.Equal(t, targets.Unaffected, out.How)
		require.Empty(t, f.Requests())
	})
}

func TestErrorClasses(t *testing.T) {
	stop := policies.FaultSpec{Kind: policies.FaultStop}
	cases := []struct {
		name   string
		setup  func(f *nomadfake.Fake, m targets.Member)
		token  string
		fault  policies.FaultSpec
		class  error
		status string // in the message
	}{
		{name: "404 reading the allocation", fault: stop, class: targets.ErrGone, status: "404",
			setup: func(f *nomadfake.Fake, m targets.Member) {
				f.FailNext("GET", "/v1/allocation/"+m.ID, http.StatusNotFound)
			}},
		{name: "403 reading the allocation", fault: stop, class: targets.ErrRefused, status: "403 (Permission denied)",
			setup: func(f *nomadfake.Fake, m targets.Member) { f.FailNext("GET", "/v1/allocation/*", http.StatusForbidden) }},
		{name: "500 reading the job", fault: stop, class: targets.ErrUnreachable, status: "500 (No cluster leader)",
			setup: func(f *nomadfake.Fake, _ targets.Member) {
				f.FailNext("GET", "/v1/job/web", http.StatusInternalServerError)
			}},
		{name: "404 on stop", fault: stop, class: targets.ErrGone, status: "404",
			setup: func(f *nomadfake.Fake, m targets.Member) {
				f.FailNextWith("PUT", "/v1/allocation/"+m.ID+"/stop", http.StatusNotFound, "alloc not found")
			}},
		{name: "409 on stop", fault: stop, class: targets.ErrRefused, status: "409",
			setup: func(f *nomadfake.Fake, _ targets.Member) { f.FailNext("PUT", "/v1/allocation/*", http.StatusConflict) }},
		{name: "400 on stop", fault: stop, class: targets.ErrRefused, status: "400",
			setup: func(f *nomadfake.Fake, _ targets.Member) {
				f.FailNext("PUT", "/v1/allocation/*", http.StatusBadRequest)
			}},
		{name: "500 on stop", fault: stop, class: targets.ErrUnreachable, status: "500",
			setup: func(f *nomadfake.Fake, _ targets.Member) {
				f.FailNext("PUT", "/v1/allocation/*", http.StatusInternalServerError)
			}},
		{name: "500 on restart", fault: policies.FaultSpec{Kind: policies.FaultRestart}, class: targets.ErrUnreachable, status: "500",
			setup: func(f *nomadfake.Fake, _ targets.Member) {
				f.FailNext("PUT", "/v1/client/allocation/*", http.StatusInternalServerError)
			}},
		{name: "403 on signal", fault: policies.FaultSpec{Kind: policies.FaultSignal, Signal: "SIGTERM"}, class: targets.ErrRefused, status: "403",
			setup: func(f *nomadfake.Fake, _ targets.Member) {
				f.FailNext("PUT", "/v1/client/allocation/*", http.StatusForbidden)
			}},
		{name: "wrong token", fault: stop, token: "wrong", class: targets.ErrRefused, status: "403 (Permission denied)",
			setup: func(f *nomadfake.Fake, _ targets.Member) { f.Token("right") }},
		{name: "cluster down", fault: stop, class: targets.ErrUnreachable, status: "connection refused",
			setup: func(f *nomadfake.Fake, _ targets.Member) { f.Close() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := webJob(t, optIn)
			tg := newTarget(t, f, func(o *nomad.Options) { o.Token = tc.token })
			m := member(t, list(t, tg, policies.Selector{Job: "web", Group: "api"}), "web.api[0]")
			tc.setup(f, m)

			err := tg.Inject(testCtx(t), m, tc.fault)
			require.ErrorIs(t, err, tc.class)
			for _, other := range []error{targets.ErrGone, targets.ErrRefused, targets.ErrUnreachable} {
				if other != tc.class {
					require.NotErrorIs(t, err, other)
				}
			}
			var te *targets.Error
			require.ErrorAs(t, err, &te)
			require.Equal(t, "nomad", te.Driver)
			require.Equal(t, "prod", te.Endpoint)
			require.Contains(t, te.Op, "allocation web.api[0] ("+m.ID[:8]+")")
			require.ErrorContains(t, err, `nomad endpoint "prod": `+te.Op+": ")
			require.ErrorContains(t, err, tc.status)
		})
	}
}

func TestStateAndListErrors(t *testing.T) {
	f := webJob(t, optIn)
	tg := newTarget(t, f, nil)
	ctx := testCtx(t)
	m := member(t, list(t, tg, policies.Selector{Job: "web", Group: "api"}), "web.api[0]")

	st, err := tg.State(ctx, m)
	require.NoError(t, err)
	require.Equal(t, targets.State{Exists: true, Running: true, Healthy: true, Status: "running", StartedAt: st.StartedAt}, st)

	f.FailNext("GET", "/v1/allocation/*", http.StatusBadGateway)
	_, err = tg.State(ctx, m)
	require.ErrorIs(t, err, targets.ErrUnreachable)

	f.FailNext("GET", "/v1/job/web/allocations", http.StatusInternalServerError)
	_, err = tg.List(ctx, policies.Selector{Job: "web"})
	require.ErrorIs(t, err, targets.ErrUnreachable)

	f.GC(m.ID)
	st, err = tg.State(ctx, m)
	require.NoError(t, err, "a member that is gone is a state, not an error")
	require.False(t, st.Exists)
}

func TestRestoreWaitEndsWithContext(t *testing.T) {
	f := webJob(t, optIn)
	f.SetStartAfter(-1) // the replacement never starts on its own
	tg := newTarget(t, f, func(o *nomad.Options) { o.PollInterval = 5 * time.Millisecond })
	stop := policies.FaultSpec{Kind: policies.FaultStop}
	m := member(t, list(t, tg, policies.Selector{Job: "web", Group: "api"}), "web.api[0]")
	require.NoError(t, tg.Inject(testCtx(t), m, stop))

	// restoreUntil starts a restore, waits until it has checked the group
	// at least once (a check is three requests), so that an error can say
	// what it was waiting for, then ends its context with cause.
	restoreUntil := func(t *testing.T, cause error) error {
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		seen := len(f.Requests())
		done := make(chan error, 1)
		go func() {
			_, err := tg.Restore(ctx, m, stop)
			done <- err
		}()
		require.Eventually(t, func() bool { return len(f.Requests()) > seen+6 }, 5*time.Second, time.Millisecond,
			"restore polls")
		cancel(cause)
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			require.Fail(t, "restore did not return after its context ended")
			return nil
		}
	}

	t.Run("deadline", func(t *testing.T) {
		// The deadline is the context's cause rather than a real 50ms
		// timer, which could fire inside the first check on a loaded
		// machine.
		err := restoreUntil(t, context.DeadlineExceeded)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.ErrorContains(t, err, "waiting for group api of job web to be back at count 3 (2 running; replacement")
		for _, class := range []error{targets.ErrGone, targets.ErrRefused, targets.ErrUnreachable} {
			require.NotErrorIs(t, err, class, "an ended wait says nothing about the cluster")
		}
	})

	t.Run("cancel", func(t *testing.T) {
		require.ErrorIs(t, restoreUntil(t, context.Canceled), context.Canceled)
	})

	f.Settle()
	out, err := tg.Restore(testCtx(t), m, stop)
	require.NoError(t, err)
	require.Equal(t, targets.Replaced, out.How)
}

func TestPing(t *testing.T) {
	f := webJob(t, optIn)
	tg := newTarget(t, f, nil)
	ctx := testCtx(t)
	require.NoError(t, tg.Ping(ctx))
	f.FailNext("GET", "/v1/status/leader", http.StatusInternalServerError)
	err := tg.Ping(ctx)
	require.ErrorIs(t, err, targets.ErrUnreachable)
	require.ErrorContains(t, err, `nomad endpoint "prod": ping cluster`)

	down, err := nomad.New(nomad.Options{Name: "gone", Address: "http://127.0.0.1:1"})
	require.NoError(t, err)
	require.ErrorIs(t, down.Ping(ctx), targets.ErrUnreachable)
}
