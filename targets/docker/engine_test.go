package docker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/errdefs"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// fakeEngine answers inspections from a script of states and records the
// calls that change something.
type fakeEngine struct {
	mu     sync.Mutex
	states []container.InspectResponse // served in order; the last one repeats
	err    error                       // returned by every call when set
	calls  []string
	list   []container.Summary // what ContainerList answers
	// unpauseErr is returned by unpause alone; inspects counts inspects.
	unpauseErr error
	inspects   int
}

func inspectOf(state string, labels map[string]string, started time.Time) container.InspectResponse {
	st := &container.State{Status: container.ContainerState(state), StartedAt: started.Format(time.RFC3339Nano)}
	switch state {
	case "running":
		st.Running = true
	case "paused":
		st.Running, st.Paused = true, true
	case "restarting":
		st.Running, st.Restarting = true, true
	}
	return container.InspectResponse{
		ContainerJSONBase: &container.ContainerJSONBase{ID: idA, Name: "/web-1", State: st},
		Config:            &container.Config{Labels: labels},
	}
}

func (f *fakeEngine) record(c string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, c)
	return f.err
}

func (f *fakeEngine) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeEngine) Ping(context.Context) (types.Ping, error) { return types.Ping{}, f.err }
func (f *fakeEngine) ContainerList(context.Context, container.ListOptions) ([]container.Summary, error) {
	return f.list, f.err
}
func (f *fakeEngine) ContainerInspect(_ context.Context, _ string) (container.InspectResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inspects++
	if f.err != nil {
		return container.InspectResponse{}, f.err
	}
	s := f.states[0]
	if len(f.states) > 1 {
		f.states = f.states[1:]
	}
	return s, nil
}
func (f *fakeEngine) ContainerKill(_ context.Context, _, sig string) error {
	return f.record("kill " + sig)
}
func (f *fakeEngine) ContainerStop(_ context.Context, _ string, o container.StopOptions) error {
	if o.Timeout == nil {
		return f.record("stop default")
	}
	return f.record(fmt.Sprintf("stop %d", *o.Timeout))
}
func (f *fakeEngine) ContainerRestart(context.Context, string, container.StopOptions) error {
	return f.record("restart")
}
func (f *fakeEngine) ContainerPause(context.Context, string) error { return f.record("pause") }
func (f *fakeEngine) ContainerUnpause(context.Context, string) error {
	if err := f.record("unpause"); err != nil {
		return err
	}
	return f.unpauseErr
}
func (f *fakeEngine) ContainerStart(context.Context, string, container.StartOptions) error {
	return f.record("start")
}
func (f *fakeEngine) Close() error { return nil }

var optedIn = map[string]string{"app": "web", "tumult.enable": "true"}

func member() targets.Member {
	return targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: idA, Name: "web-1"}
}

func fakeTarget(eng *fakeEngine) *Target {
	return newTarget(Options{Name: "local", SelfID: idB, Protect: map[string]string{"role": "infra"},
		PollInterval: time.Millisecond, RestartWait: 5 * time.Second, DownWait: 5 * time.Second}, eng)
}

func TestInjectRechecksLabels(t *testing.T) {
	t0 := time.Now()
	tests := []struct {
		name   string
		member targets.Member
		state  container.InspectResponse
		want   string
	}{
		{"opt-in label removed since listing", member(), inspectOf("running", map[string]string{"app": "web"}, t0), "not opted in"},
		{"protected since listing", member(), inspectOf("running", map[string]string{"tumult.enable": "true", "role": "infra"}, t0), "protected"},
		{"listed as excluded", func() targets.Member { m := member(); m.Excluded = "protected"; return m }(), inspectOf("running", optedIn, t0), "excluded: protected"},
		{"not up", member(), inspectOf("exited", optedIn, t0), "not up: exited"},
		{"paused already", member(), inspectOf("paused", optedIn, t0), "not up: paused"},
		{"other endpoint", func() targets.Member { m := member(); m.Endpoint = "remote"; return m }(), inspectOf("running", optedIn, t0), `endpoint "remote"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := &fakeEngine{states: []container.InspectResponse{tt.state}}
			err := fakeTarget(eng).Inject(context.Background(), tt.member, policies.FaultSpec{Kind: policies.FaultKill})
			require.ErrorIs(t, err, targets.ErrRefused)
			require.ErrorContains(t, err, tt.want)
			require.Empty(t, eng.Calls(), "nothing may be done to a refused member")
		})
	}
}

func TestInjectCalls(t *testing.T) {
	t0 := time.Now()
	tests := []struct {
		name   string
		fault  policies.FaultSpec
		states []container.InspectResponse
		want   []string
	}{
		{"kill defaults to SIGKILL", policies.FaultSpec{Kind: policies.FaultKill}, []container.InspectResponse{inspectOf("running", optedIn, t0)}, []string{"kill SIGKILL"}},
		{"kill with SIGTERM waits for the exit", policies.FaultSpec{Kind: policies.FaultKill, Signal: "SIGTERM"},
			[]container.InspectResponse{inspectOf("running", optedIn, t0), inspectOf("running", optedIn, t0), inspectOf("exited", optedIn, t0)}, []string{"kill SIGTERM"}},
		{"stop rounds the timeout up", policies.FaultSpec{Kind: policies.FaultStop, Timeout: 1500 * time.Millisecond}, []container.InspectResponse{inspectOf("running", optedIn, t0)}, []string{"stop 2"}},
		{"pause", policies.FaultSpec{Kind: policies.FaultPause, Duration: time.Minute}, []container.InspectResponse{inspectOf("running", optedIn, t0)}, []string{"pause"}},
		{"restart", policies.FaultSpec{Kind: policies.FaultRestart}, []container.InspectResponse{inspectOf("running", optedIn, t0)}, []string{"restart"}},
		{"signal", policies.FaultSpec{Kind: policies.FaultSignal, Signal: "SIGHUP"}, []container.InspectResponse{inspectOf("running", optedIn, t0)}, []string{"kill SIGHUP"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := &fakeEngine{states: tt.states}
			require.NoError(t, fakeTarget(eng).Inject(context.Background(), member(), tt.fault))
			require.Equal(t, tt.want, eng.Calls())
			eng.mu.Lock()
			defer eng.mu.Unlock()
			require.Len(t, eng.states, 1, "every scripted state must have been read")
		})
	}
}

func TestInjectSignalNeedsSignal(t *testing.T) {
	eng := &fakeEngine{states: []container.InspectResponse{inspectOf("running", optedIn, time.Now())}}
	err := fakeTarget(eng).Inject(context.Background(), member(), policies.FaultSpec{Kind: policies.FaultSignal})
	require.ErrorIs(t, err, targets.ErrRefused)
	require.Empty(t, eng.Calls())
}

func TestRestoreWaitsForRestartPolicy(t *testing.T) {
	t0 := time.Now()
	eng := &fakeEngine{states: []container.InspectResponse{
		inspectOf("restarting", optedIn, t0), inspectOf("restarting", optedIn, t0), inspectOf("running", optedIn, t0.Add(time.Second)),
	}}
	out, err := fakeTarget(eng).Restore(context.Background(), member(), policies.FaultSpec{Kind: policies.FaultKill})
	require.NoError(t, err)
	require.Equal(t, targets.Recovered, out.How)
	require.Empty(t, eng.Calls(), "a container its restart policy brings back is left alone")
}

func TestRestoreGivesUpOnEndlessRestart(t *testing.T) {
	eng := &fakeEngine{states: []container.InspectResponse{inspectOf("restarting", optedIn, time.Now())}}
	tg := fakeTarget(eng)
	tg.opts.RestartWait = 20 * time.Millisecond
	_, err := tg.Restore(context.Background(), member(), policies.FaultSpec{Kind: policies.FaultKill})
	require.Error(t, err)
	require.NotErrorIs(t, err, targets.ErrUnreachable, "the endpoint answered; the container did not come back")
	require.ErrorContains(t, err, "still restarting")
}

func TestRestoreTwiceAnswersTheSame(t *testing.T) {
	t0 := time.Now()
	t1 := t0.Add(time.Minute)
	eng := &fakeEngine{states: []container.InspectResponse{
		inspectOf("running", optedIn, t0), // Inject's check
		inspectOf("exited", optedIn, t0),  // first Restore
		inspectOf("running", optedIn, t1), // after start
	}}
	tg := fakeTarget(eng)
	ctx := context.Background()
	f := policies.FaultSpec{Kind: policies.FaultStop}
	require.NoError(t, tg.Inject(ctx, member(), f))
	out, err := tg.Restore(ctx, member(), f)
	require.NoError(t, err)
	require.Equal(t, targets.Restored, out.How)
	out, err = tg.Restore(ctx, member(), f)
	require.NoError(t, err)
	require.Equal(t, targets.Restored, out.How)
	require.Equal(t, []string{"stop default", "start"}, eng.Calls(), "the second restore must not start it again")
}

func TestErrorsSayWhereAndWhat(t *testing.T) {
	eng := &fakeEngine{err: errdefs.NotFound(errors.New("No such container: 4f1c"))}
	tg := fakeTarget(eng)
	err := tg.Inject(context.Background(), member(), policies.FaultSpec{Kind: policies.FaultPause})
	require.ErrorIs(t, err, targets.ErrGone)
	var te *targets.Error
	require.ErrorAs(t, err, &te)
	require.Equal(t, `docker endpoint "local": inspect container web-1 (4f1c0a9e2b3d): No such container: 4f1c`, err.Error())

	st, err := tg.State(context.Background(), member())
	require.NoError(t, err, "a gone member is a state, not an error")
	require.False(t, st.Exists)

	out, err := tg.Restore(context.Background(), member(), policies.FaultSpec{Kind: policies.FaultPause})
	require.NoError(t, err)
	require.Equal(t, targets.Gone, out.How)
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"nil", nil, nil},
		{"not found", errdefs.NotFound(errors.New("no such container")), targets.ErrGone},
		{"containerd not found", fmt.Errorf("wrapped: %w", cerrdefs.ErrNotFound), targets.ErrGone},
		{"conflict", errdefs.Conflict(errors.New("container is paused")), targets.ErrRefused},
		{"forbidden", errdefs.Forbidden(errors.New("no")), targets.ErrRefused},
		{"unauthorized", errdefs.Unauthorized(errors.New("no")), targets.ErrRefused},
		{"invalid", errdefs.InvalidParameter(errors.New("bad signal")), targets.ErrRefused},
		{"internal (5xx)", errdefs.System(errors.New("boom")), targets.ErrUnreachable},
		{"unavailable", errdefs.Unavailable(errors.New("busy")), targets.ErrUnreachable},
		{"cancelled", fmt.Errorf("x: %w", context.Canceled), targets.ErrUnreachable},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), targets.ErrUnreachable},
		{"network", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, targets.ErrUnreachable},
		{"unknown", errors.New("something else"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestUnreachableEndpoint(t *testing.T) {
	tg, err := New(Options{Name: "nowhere", Host: "tcp://127.0.0.1:1", CallTimeout: 5 * time.Second})
	require.NoError(t, err)
	defer tg.Close()
	ctx := context.Background()

	require.ErrorIs(t, tg.Ping(ctx), targets.ErrUnreachable)
	_, err = tg.List(ctx, policies.Selector{Driver: policies.DriverDocker})
	require.ErrorIs(t, err, targets.ErrUnreachable)
	require.ErrorContains(t, err, `docker endpoint "nowhere": list containers`)
	_, err = tg.Restore(ctx, member(), policies.FaultSpec{Kind: policies.FaultPause})
	require.ErrorIs(t, err, targets.ErrRefused, "a member of another endpoint is refused before any call")
	m := member()
	m.Endpoint = "nowhere"
	_, err = tg.Restore(ctx, m, policies.FaultSpec{Kind: policies.FaultPause})
	require.ErrorIs(t, err, targets.ErrUnreachable)
}

func TestListRefusesNomadSelector(t *testing.T) {
	_, err := fakeTarget(&fakeEngine{}).List(context.Background(), policies.Selector{Driver: policies.DriverNomad})
	require.ErrorIs(t, err, targets.ErrRefused)
}

// TestListLeavesTumultOut: tumult's own container, matched by its policy's
// selector, is no member and no part of the fleet's size.
func TestListLeavesTumultOut(t *testing.T) {
	web := map[string]string{"app": "web", "tumult.enable": "true"}
	eng := &fakeEngine{list: []container.Summary{
		{ID: idA, Names: []string{"/web-1"}, State: container.StateRunning, Status: "Up 1 minute", Labels: web},
		{ID: idB, Names: []string{"/tumult"}, State: container.StateRunning, Status: "Up 1 minute", Labels: web},
	}}
	fleet, err := fakeTarget(eng).List(context.Background(), policies.Selector{Driver: policies.DriverDocker, Labels: map[string]string{"app": "web"}})
	require.NoError(t, err)
	require.Equal(t, 1, fleet.Size)
	require.Equal(t, 1, fleet.Self)
	require.Equal(t, 1, fleet.Healthy())
	require.Len(t, fleet.Members, 1)
	require.Equal(t, "web-1", fleet.Members[0].Name)
}

func TestDegradeFaultsNeedAHelperClient(t *testing.T) {
	for _, f := range []policies.FaultSpec{
		{Kind: policies.FaultNetwork, Duration: time.Minute, Network: &policies.NetFault{Delay: time.Millisecond}},
		{Kind: policies.FaultStress, Duration: time.Minute, Stress: &policies.StressFault{CPUWorkers: 1, CPULoad: 100}},
	} {
		t.Run(string(f.Kind), func(t *testing.T) {
			optedIn := map[string]string{"tumult.enable": "true"}
			eng := &fakeEngine{states: []container.InspectResponse{inspectOf("running", optedIn, time.Unix(1e9, 0))}}
			err := fakeTarget(eng).Inject(context.Background(), member(), f)
			require.ErrorIs(t, err, targets.ErrRefused)
			require.ErrorContains(t, err, "no client for helper containers")
			require.Empty(t, eng.Calls(), "nothing done to the member")
			_, err = fakeTarget(eng).Restore(context.Background(), member(), f)
			require.ErrorIs(t, err, targets.ErrRefused)
		})
	}
}

// A pause is undone from what the ledger knows: unpause first, inspect
// only when the engine says the container is not paused.
func TestRestorePauseUnpausesWithoutInspect(t *testing.T) {
	t0 := time.Now()
	tests := []struct {
		name       string
		unpauseErr error
		state      string // what an inspect shows
		how        targets.How
		class      error
		calls      []string
		inspects   int
	}{
		{"paused: unpaused at once", nil, "paused", targets.Restored, nil, []string{"unpause"}, 0},
		{"not paused any more: inspect tells", errdefs.Conflict(errors.New("Container 4f1c is not paused")), "running", targets.Recovered, nil, []string{"unpause"}, 1},
		// Docker 20.10 answers "is not paused" with a 500.
		{"not paused, said with a 500", errdefs.System(errors.New("Container 4f1c is not paused")), "running", targets.Recovered, nil, []string{"unpause"}, 1},
		{"gone", errdefs.NotFound(errors.New("No such container: 4f1c")), "running", targets.Gone, nil, []string{"unpause"}, 0},
		{"engine failing: retry later", errdefs.System(errors.New("internal error")), "paused", "", targets.ErrUnreachable, []string{"unpause", "unpause"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := &fakeEngine{unpauseErr: tt.unpauseErr, states: []container.InspectResponse{inspectOf(tt.state, optedIn, t0)}}
			tg := fakeTarget(eng)
			out, err := tg.Restore(context.Background(), member(), policies.FaultSpec{Kind: policies.FaultPause, Duration: time.Minute})
			if tt.class != nil {
				require.ErrorIs(t, err, tt.class)
				require.ErrorContains(t, err, "unpause")
			} else {
				require.NoError(t, err)
				require.Equal(t, tt.how, out.How)
			}
			require.Equal(t, tt.calls, eng.Calls())
			require.Equal(t, tt.inspects, eng.inspects)
		})
	}
}

// After a restart of tumult (nothing remembered), a second restore of an
// unpaused member answers as the first did.
func TestRestorePauseTwiceWithoutMemory(t *testing.T) {
	eng := &fakeEngine{states: []container.InspectResponse{inspectOf("running", optedIn, time.Now())}}
	tg := fakeTarget(eng)
	f := policies.FaultSpec{Kind: policies.FaultPause, Duration: time.Minute}
	out, err := tg.Restore(context.Background(), member(), f)
	require.NoError(t, err)
	require.Equal(t, targets.Restored, out.How)
	eng.unpauseErr = errdefs.Conflict(errors.New("Container 4f1c is not paused"))
	out, err = tg.Restore(context.Background(), member(), f)
	require.NoError(t, err)
	require.Equal(t, targets.Restored, out.How)
}
