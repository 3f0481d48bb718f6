package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/ledger"
)

func newAPIClient(t *testing.T, fake *apiFake, token string) *api.Client {
	t.Helper()
	ts := httptest.NewServer(newAPIServer(t, fake, true, nil))
	t.Cleanup(ts.Close)
	c, err := api.NewClient(api.ClientOptions{Address: ts.URL, Token: token})
	require.NoError(t, err)
	return c
}

func TestClientRoundTrip(t *testing.T) {
	ctx := context.Background()
	fake := newAPIFake()
	fake.history = []ledger.Record{apiRecord("20261016-080000-00000002", "checkout-crash")}
	fake.history[0].Phase, fake.history[0].Result = ledger.Finished, ledger.Passed
	c := newAPIClient(t, fake, aliceToken)

	st, err := c.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, fake.status.Policies, st.Policies)
	require.Equal(t, ledger.Armed, st.State)

	ctl, err := c.Pause(ctx, api.PauseRequest{Reason: "deploy", For: "2h"})
	require.NoError(t, err)
	require.Equal(t, fake.control, ctl)

	_, err = c.Resume(ctx, api.ResumeRequest{Reason: "done", Policy: "checkout-crash"})
	require.NoError(t, err)
	_, err = c.Halt(ctx, api.HaltRequest{Reason: "incident"})
	require.NoError(t, err)

	faults, err := c.Faults(ctx)
	require.NoError(t, err)
	require.Len(t, faults, 1)
	// Times come back equal, not identical in representation.
	require.True(t, fake.faults[0].Injected.Equal(faults[0].Injected))
	require.Equal(t, fake.faults[0].Member, faults[0].Member)
	require.Equal(t, fake.faults[0].Fault, faults[0].Fault)

	hist, err := c.History(ctx, 36*time.Hour, "checkout-crash", 10)
	require.NoError(t, err)
	require.Len(t, hist, 1)
	require.Equal(t, ledger.Passed, hist[0].Result)

	plan, err := c.Plan(ctx, 48)
	require.NoError(t, err)
	require.True(t, plan.From.Equal(apiNow))

	res, err := c.Reload(ctx)
	require.NoError(t, err)
	require.Equal(t, fake.reload, res)

	require.NoError(t, c.Health(ctx))

	var raw json.RawMessage
	require.NoError(t, c.Do(ctx, http.MethodGet, "/v1/faults", nil, nil, &raw))
	require.Contains(t, string(raw), `"id": "20261016-092900-00000001"`)

	require.Equal(t, []apiCall{
		{Method: "Status"},
		{Method: "Pause", Actor: "alice", Arg: api.PauseRequest{Reason: "deploy", For: "2h"}},
		{Method: "Resume", Actor: "alice", Arg: api.ResumeRequest{Reason: "done", Policy: "checkout-crash"}},
		{Method: "Halt", Actor: "alice", Arg: api.HaltRequest{Reason: "incident"}},
		{Method: "Faults"},
		{Method: "History", Arg: ledger.HistoryQuery{Since: apiNow.Add(-36 * time.Hour), Policy: "checkout-crash", Limit: 10}},
		{Method: "Plan", Arg: 48},
		{Method: "Reload"},
		{Method: "Faults"},
	}, fake.Calls())
}

func TestClientErrors(t *testing.T) {
	ctx := context.Background()

	t.Run("unreachable", func(t *testing.T) {
		// A port that was just free: nothing listens on it any more.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		require.NoError(t, l.Close())
		c, err := api.NewClient(api.ClientOptions{Address: addr})
		require.NoError(t, err)
		require.Equal(t, "http://"+addr, c.Address())

		_, err = c.Status(ctx)
		require.ErrorIs(t, err, api.ErrDaemonUnreachable)
		var ue *api.UnreachableError
		require.ErrorAs(t, err, &ue)
		require.Equal(t, "connection refused", ue.Cause())
		require.Equal(t, fmt.Sprintf("cannot reach the tumult daemon at http://%s: connection refused", addr), err.Error())
		require.False(t, errors.Is(err, api.ErrUnauthorized))
	})

	t.Run("timeout", func(t *testing.T) {
		block := make(chan struct{})
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}))
		defer ts.Close()
		defer close(block)
		c, err := api.NewClient(api.ClientOptions{Address: ts.URL, HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}})
		require.NoError(t, err)
		err = c.Health(ctx)
		require.ErrorIs(t, err, api.ErrDaemonUnreachable)
		require.Contains(t, err.Error(), "timed out")
	})

	t.Run("cancelled context is not unreachable", func(t *testing.T) {
		c := newAPIClient(t, newAPIFake(), aliceToken)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := c.Status(cctx)
		require.ErrorIs(t, err, context.Canceled)
		require.False(t, errors.Is(err, api.ErrDaemonUnreachable))
	})

	tests := []struct {
		name   string
		token  string
		svcErr error
		status int
		is     error
	}{
		{"no token", "", nil, 401, api.ErrUnauthorized},
		{"wrong token", "wrong-token-0123456789", nil, 403, api.ErrUnauthorized},
		{"not found", aliceToken, fmt.Errorf("policy %q: %w", "nope", api.ErrNotFound), 404, api.ErrNotFound},
		{"conflict", aliceToken, api.ErrConflict, 409, api.ErrConflict},
		{"unavailable", aliceToken, api.ErrUnavailable, 503, api.ErrUnavailable},
		{"internal", aliceToken, errors.New("boom"), 500, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newAPIFake()
			fake.err = tt.svcErr
			c := newAPIClient(t, fake, tt.token)
			_, err := c.Pause(ctx, api.PauseRequest{Reason: "x", Policy: "nope"})
			var ae *api.APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tt.status, ae.Status)
			require.NotEmpty(t, ae.Message)
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			if tt.is != api.ErrUnauthorized {
				require.False(t, errors.Is(err, api.ErrUnauthorized))
			}
			require.False(t, errors.Is(err, api.ErrDaemonUnreachable))
		})
	}

	t.Run("non-JSON error answer", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
		}))
		defer ts.Close()
		c, err := api.NewClient(api.ClientOptions{Address: ts.URL})
		require.NoError(t, err)
		_, err = c.Faults(ctx)
		var ae *api.APIError
		require.ErrorAs(t, err, &ae)
		require.Equal(t, 502, ae.Status)
		require.Contains(t, ae.Message, "Bad Gateway: <html>bad gateway</html>")
	})

	t.Run("bad address", func(t *testing.T) {
		for _, addr := range []string{"ftp://x", "http://", "http://[::1"} {
			_, err := api.NewClient(api.ClientOptions{Address: addr})
			require.Error(t, err, addr)
		}
	})
}
