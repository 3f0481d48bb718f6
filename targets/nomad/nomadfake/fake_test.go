package nomadfake_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/hashicorp/nomad/api"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/targets/nomad/nomadfake"
)

func client(t *testing.T, f *nomadfake.Fake, token string) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: f.URL(), SecretID: token})
	require.NoError(t, err)
	return c
}

func q(ns string) *api.QueryOptions { return &api.QueryOptions{Namespace: ns} }

func status(t *testing.T, err error) (int, string) {
	t.Helper()
	var ure api.UnexpectedResponseError
	require.True(t, errors.As(err, &ure), "want an UnexpectedResponseError, got %v", err)
	return ure.StatusCode(), ure.Body()
}

func TestJobAndAllocations(t *testing.T) {
	f := nomadfake.New(t)
	f.AddJob("default", "web", map[string]string{"tumult.enable": "true"}, map[string]int{"api": 3, "worker": 1}, []string{"server", "sidecar"})
	c := client(t, f, "")

	job, _, err := c.Jobs().Info("web", q("default"))
	require.NoError(t, err)
	require.Equal(t, "true", job.Meta["tumult.enable"])
	require.Len(t, job.TaskGroups, 2)
	require.Equal(t, "api", *job.TaskGroups[0].Name)
	require.Equal(t, 3, *job.TaskGroups[0].Count)
	require.Len(t, job.TaskGroups[0].Tasks, 2)

	stubs, _, err := c.Jobs().Allocations("web", false, q("default"))
	require.NoError(t, err)
	require.Len(t, stubs, 4)
	names := map[string]bool{}
	for _, s := range stubs {
		require.Equal(t, api.AllocClientStatusRunning, s.ClientStatus)
		require.Equal(t, api.AllocDesiredStatusRun, s.DesiredStatus)
		require.Equal(t, "running", s.TaskStates["server"].State)
		names[s.Name] = true
	}
	require.Equal(t, map[string]bool{"web.api[0]": true, "web.api[1]": true, "web.api[2]": true, "web.worker[0]": true}, names)

	a, _, err := c.Allocations().Info(stubs[0].ID, nil)
	require.NoError(t, err)
	require.Equal(t, "web", *a.Job.ID, "allocation info carries its job")

	_, _, err = c.Jobs().Info("web", q("other"))
	code, body := status(t, err)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "job not found", body)

	all, _, err := c.Allocations().List(q("*"))
	require.NoError(t, err)
	require.Len(t, all, 4)
	none, _, err := c.Allocations().List(q("other"))
	require.NoError(t, err)
	require.Empty(t, none)
}

func TestStopPlacesReplacement(t *testing.T) {
	f := nomadfake.New(t)
	f.AddJob("default", "web", nil, map[string]int{"api": 2}, []string{"server"})
	f.SetStartAfter(2)
	c := client(t, f, "")
	id := f.Allocs("default", "web", "api", "")[0]

	_, err := c.Allocations().Stop(&api.Allocation{ID: id}, nil)
	require.NoError(t, err)

	old, ok := f.Alloc(id)
	require.True(t, ok)
	require.Equal(t, api.AllocDesiredStatusStop, old.DesiredStatus)
	require.Equal(t, api.AllocClientStatusComplete, old.ClientStatus)
	require.NotEmpty(t, old.NextAllocation)

	repl, ok := f.Alloc(old.NextAllocation)
	require.True(t, ok)
	require.Equal(t, id, repl.PreviousAllocation)
	require.Equal(t, old.Name, repl.Name, "a replacement keeps its name index")
	require.Equal(t, api.AllocClientStatusPending, repl.ClientStatus)

	// Two reads later it runs.
	for range 2 {
		_, _, err = c.Allocations().Info(repl.ID, nil)
		require.NoError(t, err)
	}
	repl, _ = f.Alloc(repl.ID)
	require.Equal(t, api.AllocClientStatusRunning, repl.ClientStatus)

	// Stopping it again places nothing new.
	_, err = c.Allocations().Stop(&api.Allocation{ID: id}, nil)
	require.NoError(t, err)
	require.Len(t, f.Allocs("default", "web", "api", ""), 3)
	require.Equal(t, 2, f.Count("stop"))
}

func TestRestartAndSignal(t *testing.T) {
	f := nomadfake.New(t)
	f.AddJob("default", "web", nil, map[string]int{"api": 1}, []string{"server", "sidecar"})
	f.SetStartAfter(-1)
	c := client(t, f, "")
	id := f.Allocs("default", "web", "api", "")[0]
	a := &api.Allocation{ID: id}

	require.NoError(t, c.Allocations().Restart(a, "server", nil))
	got, _ := f.Alloc(id)
	require.Equal(t, uint64(1), got.TaskStates["server"].Restarts)
	require.Equal(t, "pending", got.TaskStates["server"].State)
	require.Equal(t, uint64(0), got.TaskStates["sidecar"].Restarts)
	require.Equal(t, api.AllocClientStatusRunning, got.ClientStatus, "the sidecar still runs")
	f.Settle()
	got, _ = f.Alloc(id)
	require.Equal(t, "running", got.TaskStates["server"].State)

	require.NoError(t, c.Allocations().Signal(a, nil, "sidecar", "SIGHUP"))
	require.Equal(t, []nomadfake.Event{
		{Kind: "restart", AllocID: id, Task: "server"},
		{Kind: "signal", AllocID: id, Task: "sidecar", Signal: "SIGHUP"},
	}, f.Events())

	err := c.Allocations().Signal(a, nil, "nope", "SIGHUP")
	code, body := status(t, err)
	require.Equal(t, http.StatusInternalServerError, code)
	require.Equal(t, "Task not found", body)
}

func TestErrors(t *testing.T) {
	f := nomadfake.New(t)
	f.AddJob("default", "web", nil, map[string]int{"api": 1}, []string{"server"})
	id := f.Allocs("default", "web", "api", "")[0]
	c := client(t, f, "")

	_, _, err := c.Allocations().Info("00000000-dead-4000-8000-000000000000", nil)
	code, body := status(t, err)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, "alloc not found", body)

	err = c.Allocations().Restart(&api.Allocation{ID: "00000000-dead-4000-8000-000000000000"}, "", nil)
	code, body = status(t, err)
	require.Equal(t, http.StatusNotFound, code)
	require.Contains(t, body, "Unknown allocation")

	f.FailNext("PUT", "/v1/allocation/*", http.StatusInternalServerError)
	_, err = c.Allocations().Stop(&api.Allocation{ID: id}, nil)
	code, _ = status(t, err)
	require.Equal(t, http.StatusInternalServerError, code)
	require.Zero(t, f.Count("stop"), "a failed call changes nothing")
	_, err = c.Allocations().Stop(&api.Allocation{ID: id}, nil)
	require.NoError(t, err, "a failure is played once")

	f.Token("s3cret")
	_, _, err = client(t, f, "wrong").Jobs().Info("web", nil)
	code, body = status(t, err)
	require.Equal(t, http.StatusForbidden, code)
	require.Equal(t, "Permission denied", body)
	_, _, err = client(t, f, "s3cret").Jobs().Info("web", nil)
	require.NoError(t, err)
}
