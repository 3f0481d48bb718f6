package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/api/server"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/scheduler"
	"github.com/inferensys/tumult/targets"
)

// apiCall is one call the fake Service received.
type apiCall struct {
	Method string
	Actor  string
	Arg    any
}

// apiFake is a Service that records its calls and answers canned values,
// or err when set.
type apiFake struct {
	mu    sync.Mutex
	calls []apiCall
	err   error

	status  api.Status
	control ledger.Control
	faults  []ledger.Record
	history []ledger.Record
	plan    scheduler.Plan
	reload  api.ReloadResult
}

var _ server.Service = (*apiFake)(nil)

func (f *apiFake) record(method, actor string, arg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, apiCall{Method: method, Actor: actor, Arg: arg})
	return f.err
}

func (f *apiFake) Calls() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

func (f *apiFake) Status(ctx context.Context) (api.Status, error) {
	return f.status, f.record("Status", "", nil)
}
func (f *apiFake) Pause(ctx context.Context, actor string, req api.PauseRequest) (ledger.Control, error) {
	return f.control, f.record("Pause", actor, req)
}
func (f *apiFake) Resume(ctx context.Context, actor string, req api.ResumeRequest) (ledger.Control, error) {
	return f.control, f.record("Resume", actor, req)
}
func (f *apiFake) Halt(ctx context.Context, actor string, req api.HaltRequest) (ledger.Control, error) {
	return f.control, f.record("Halt", actor, req)
}
func (f *apiFake) Faults(ctx context.Context) ([]ledger.Record, error) {
	return f.faults, f.record("Faults", "", nil)
}
func (f *apiFake) History(ctx context.Context, q ledger.HistoryQuery) ([]ledger.Record, error) {
	return f.history, f.record("History", "", q)
}
func (f *apiFake) Plan(ctx context.Context, hours int) (scheduler.Plan, error) {
	return f.plan, f.record("Plan", "", hours)
}
func (f *apiFake) Reload(ctx context.Context) (api.ReloadResult, error) {
	return f.reload, f.record("Reload", "", nil)
}
func (f *apiFake) AlertWebhook(ctx context.Context, actor, alertmanager string, wh alerting.Webhook) (string, error) {
	var warning string
	if alertmanager == "typo" {
		warning = "no such alertmanager"
	}
	return warning, f.record("AlertWebhook", actor, fmt.Sprintf("%d alerts from %q", len(wh.Alerts), alertmanager))
}

var (
	apiNow      = time.Date(2026, 10, 16, 9, 30, 0, 0, time.UTC)
	aliceToken  = "alice-token-0123456789"
	amToken     = "alertmanager-token-0123456789"
	apiTokenTxt = "alice:" + aliceToken + "\nalertmanager:" + amToken + "\n"
)

func apiRecord(id, policy string) ledger.Record {
	return ledger.Record{
		ID: id, Policy: policy, Actor: "scheduler",
		Member: targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: "c0ffee", Name: "checkout-api-1"},
		Fault:  policies.FaultSpec{Kind: policies.FaultKill, Signal: "SIGKILL"},
		Phase:  ledger.Injected, Decided: apiNow.Add(-time.Minute), Injected: apiNow.Add(-50 * time.Second),
	}
}

func newAPIFake() *apiFake {
	return &apiFake{
		status: api.Status{State: ledger.Armed, Leader: true,
			Policies: []api.PolicyStatus{{Name: "checkout-crash", Enabled: true, Target: "docker/local", Fault: "kill", State: ledger.Armed}}},
		control: ledger.Control{State: ledger.Paused, Actor: "alice", Reason: "deploy", Since: apiNow, Version: 3},
		faults:  []ledger.Record{apiRecord("20261016-092900-00000001", "checkout-crash")},
		history: []ledger.Record{},
		plan:    scheduler.Plan{From: apiNow, To: apiNow.Add(24 * time.Hour), Policies: []scheduler.PolicyPlan{}},
		reload:  api.ReloadResult{OK: true, Policies: 4},
	}
}

func newAPIServer(t *testing.T, fake *apiFake, withTokens bool, logs io.Writer) http.Handler {
	t.Helper()
	reg := prometheus.NewRegistry()
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "tumult_test_up"})
	up.Set(1)
	reg.MustRegister(up)
	opts := server.Options{
		Service:  fake,
		Gatherer: reg,
		MaxBody:  256,
		Now:      func() time.Time { return apiNow },
	}
	if logs != nil {
		opts.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})
	}
	if withTokens {
		tokens, err := server.LoadTokens(writeTokensFile(t, apiTokenTxt))
		require.NoError(t, err)
		opts.Tokens = &tokens
	}
	return server.New(opts)
}

const validWebhook = `{"version":"4","status":"firing","receiver":"tumult","groupKey":"{}:{}",
 "alerts":[{"status":"firing","labels":{"alertname":"HighErrorRate","service":"checkout"},"startsAt":"2026-10-16T09:29:00Z"}]}`

func TestServerEndpoints(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		target    string
		body      string
		token     string // "" sends no Authorization header
		noTokens  bool   // server without a tokens file
		svcErr    error
		wantCode  int
		wantBody  string // substring of the answer
		wantCall  *apiCall
		wantNoSvc bool
	}{
		// Every endpoint, authenticated.
		{name: "status", method: "GET", target: "/v1/status", token: aliceToken, wantCode: 200,
			wantBody: `"name": "checkout-crash"`, wantCall: &apiCall{Method: "Status"}},
		{name: "pause", method: "POST", target: "/v1/pause", token: aliceToken,
			body:     `{"reason":" deploy ","policy":"checkout-crash","for":"2h","restore":true}`,
			wantCode: 200, wantBody: `"state": "paused"`,
			wantCall: &apiCall{Method: "Pause", Actor: "alice", Arg: api.PauseRequest{Reason: "deploy", Policy: "checkout-crash", For: "2h", Restore: true}}},
		{name: "resume", method: "POST", target: "/v1/resume", token: aliceToken, body: `{"reason":"done"}`, wantCode: 200,
			wantCall: &apiCall{Method: "Resume", Actor: "alice", Arg: api.ResumeRequest{Reason: "done"}}},
		{name: "halt", method: "POST", target: "/v1/halt", token: aliceToken, body: `{"reason":"incident 42"}`, wantCode: 200,
			wantCall: &apiCall{Method: "Halt", Actor: "alice", Arg: api.HaltRequest{Reason: "incident 42"}}},
		{name: "faults", method: "GET", target: "/v1/faults", token: aliceToken, wantCode: 200,
			wantBody: `"id": "20261016-092900-00000001"`, wantCall: &apiCall{Method: "Faults"}},
		{name: "history filters", method: "GET", target: "/v1/history?since=24h&policy=checkout-crash&limit=5", token: aliceToken,
			wantCode: 200, wantBody: `[]`,
			wantCall: &apiCall{Method: "History", Arg: ledger.HistoryQuery{Since: apiNow.Add(-24 * time.Hour), Policy: "checkout-crash", Limit: 5}}},
		{name: "history days", method: "GET", target: "/v1/history?since=7d", token: aliceToken, wantCode: 200,
			wantCall: &apiCall{Method: "History", Arg: ledger.HistoryQuery{Since: apiNow.Add(-7 * 24 * time.Hour)}}},
		{name: "history unfiltered", method: "GET", target: "/v1/history", token: aliceToken, wantCode: 200,
			wantCall: &apiCall{Method: "History", Arg: ledger.HistoryQuery{}}},
		{name: "plan default", method: "GET", target: "/v1/plan", token: aliceToken, wantCode: 200,
			wantBody: `"policies": []`, wantCall: &apiCall{Method: "Plan", Arg: 24}},
		{name: "plan hours", method: "GET", target: "/v1/plan?hours=2160", token: aliceToken, wantCode: 200,
			wantCall: &apiCall{Method: "Plan", Arg: 2160}},
		{name: "webhook", method: "POST", target: "/v1/alertmanager", token: amToken, body: validWebhook, wantCode: 200,
			wantBody: `"alerts": 1`, wantCall: &apiCall{Method: "AlertWebhook", Actor: "alertmanager", Arg: `1 alerts from ""`}},
		{name: "webhook naming its alertmanager", method: "POST", target: "/v1/alertmanager?alertmanager=edge", token: amToken, body: validWebhook,
			wantCode: 200, wantCall: &apiCall{Method: "AlertWebhook", Actor: "alertmanager", Arg: `1 alerts from "edge"`}},
		{name: "webhook with a warning", method: "POST", target: "/v1/alertmanager?alertmanager=typo", token: amToken, body: validWebhook,
			wantCode: 200, wantBody: `"warning": "no such alertmanager"`, wantCall: &apiCall{Method: "AlertWebhook", Actor: "alertmanager", Arg: `1 alerts from "typo"`}},
		{name: "reload", method: "POST", target: "/v1/reload", token: aliceToken, wantCode: 200,
			wantBody: `"policies": 4`, wantCall: &apiCall{Method: "Reload"}},

		// Health and metrics need no token.
		{name: "health without token", method: "GET", target: "/v1/health", wantCode: 200, wantBody: `"status": "ok"`, wantNoSvc: true},
		{name: "health with wrong token", method: "GET", target: "/v1/health", token: "wrong-token-0123456789", wantCode: 200, wantNoSvc: true},
		{name: "metrics without token", method: "GET", target: "/metrics", wantCode: 200, wantBody: "tumult_test_up 1", wantNoSvc: true},

		// Authentication.
		{name: "read without token", method: "GET", target: "/v1/status", wantCode: 401, wantBody: `{"error":"missing bearer token`, wantNoSvc: true},
		{name: "pause without token", method: "POST", target: "/v1/pause", body: `{"reason":"x"}`, wantCode: 401, wantNoSvc: true},
		{name: "pause wrong token", method: "POST", target: "/v1/pause", body: `{"reason":"x"}`, token: "wrong-token-0123456789",
			wantCode: 403, wantBody: `{"error":"unknown token"}`, wantNoSvc: true},
		{name: "webhook without token", method: "POST", target: "/v1/alertmanager", body: validWebhook, wantCode: 401, wantNoSvc: true},
		{name: "history wrong token", method: "GET", target: "/v1/history", token: "x", wantCode: 403, wantNoSvc: true},
		{name: "no tokens file: anonymous", method: "POST", target: "/v1/halt", body: `{"reason":"r"}`, noTokens: true, wantCode: 200,
			wantCall: &apiCall{Method: "Halt", Actor: "anonymous", Arg: api.HaltRequest{Reason: "r"}}},
		{name: "no tokens file: token ignored", method: "POST", target: "/v1/halt", body: `{"reason":"r"}`, token: "anything", noTokens: true,
			wantCode: 200, wantCall: &apiCall{Method: "Halt", Actor: "anonymous", Arg: api.HaltRequest{Reason: "r"}}},

		// Bodies.
		{name: "body too large", method: "POST", target: "/v1/pause", token: aliceToken,
			body: `{"reason":"` + strings.Repeat("x", 300) + `"}`, wantCode: 413, wantBody: "larger than 256 bytes", wantNoSvc: true},
		{name: "unknown field", method: "POST", target: "/v1/pause", token: aliceToken, body: `{"reason":"x","polcy":"a"}`,
			wantCode: 400, wantBody: `unknown field \"polcy\"`, wantNoSvc: true},
		{name: "not JSON", method: "POST", target: "/v1/halt", token: aliceToken, body: `reason=x`, wantCode: 400, wantNoSvc: true},
		{name: "trailing data", method: "POST", target: "/v1/halt", token: aliceToken, body: `{"reason":"x"} {}`, wantCode: 400,
			wantBody: "data after the JSON object", wantNoSvc: true},
		{name: "missing reason pause", method: "POST", target: "/v1/pause", token: aliceToken, body: `{"policy":"a"}`,
			wantCode: 400, wantBody: `{"error":"reason is required"}`, wantNoSvc: true},
		{name: "blank reason resume", method: "POST", target: "/v1/resume", token: aliceToken, body: `{"reason":"  "}`,
			wantCode: 400, wantBody: "reason is required", wantNoSvc: true},
		{name: "empty body halt", method: "POST", target: "/v1/halt", token: aliceToken, wantCode: 400, wantBody: "reason is required", wantNoSvc: true},
		{name: "bad for", method: "POST", target: "/v1/pause", token: aliceToken, body: `{"reason":"x","for":"2 hours"}`,
			wantCode: 400, wantBody: `for: \"2 hours\" is not a duration`, wantNoSvc: true},
		{name: "zero for", method: "POST", target: "/v1/pause", token: aliceToken, body: `{"reason":"x","for":"0s"}`,
			wantCode: 400, wantBody: "not a positive duration", wantNoSvc: true},

		// Queries.
		{name: "bad since", method: "GET", target: "/v1/history?since=yesterday", token: aliceToken, wantCode: 400,
			wantBody: `since: \"yesterday\" is not a duration`, wantNoSvc: true},
		{name: "bad limit", method: "GET", target: "/v1/history?limit=-1", token: aliceToken, wantCode: 400, wantBody: "limit:", wantNoSvc: true},
		{name: "unknown parameter", method: "GET", target: "/v1/history?polcy=a", token: aliceToken, wantCode: 400,
			wantBody: `unknown query parameter \"polcy\"`, wantNoSvc: true},
		{name: "hours zero", method: "GET", target: "/v1/plan?hours=0", token: aliceToken, wantCode: 400, wantBody: "hours:", wantNoSvc: true},
		{name: "hours too many", method: "GET", target: "/v1/plan?hours=2161", token: aliceToken, wantCode: 400, wantBody: "1 to 2160", wantNoSvc: true},
		{name: "hours not a number", method: "GET", target: "/v1/plan?hours=1d", token: aliceToken, wantCode: 400, wantNoSvc: true},

		// Webhooks.
		{name: "malformed webhook", method: "POST", target: "/v1/alertmanager", token: amToken, body: `{"version":"4","status":"firing","alerts":[{"status":"firing"}]}`,
			wantCode: 400, wantBody: "has no labels", wantNoSvc: true},
		{name: "webhook wrong version", method: "POST", target: "/v1/alertmanager", token: amToken, body: `{"version":"3","status":"firing"}`,
			wantCode: 400, wantBody: "version", wantNoSvc: true},
		{name: "webhook not JSON", method: "POST", target: "/v1/alertmanager", token: amToken, body: `<html>`, wantCode: 400, wantNoSvc: true},

		// Service errors.
		{name: "not found", method: "POST", target: "/v1/pause", token: aliceToken, body: `{"reason":"x","policy":"nope"}`,
			svcErr: fmt.Errorf("pause policy %q: %w", "nope", api.ErrNotFound), wantCode: 404, wantBody: `{"error":"pause policy \"nope\": not found"}`},
		{name: "conflict", method: "POST", target: "/v1/resume", token: aliceToken, body: `{"reason":"x"}`,
			svcErr: fmt.Errorf("resume: %w", api.ErrConflict), wantCode: 409},
		{name: "bad request", method: "GET", target: "/v1/plan", token: aliceToken, svcErr: fmt.Errorf("plan: %w", api.ErrBadRequest), wantCode: 400},
		{name: "unavailable", method: "GET", target: "/v1/status", token: aliceToken, svcErr: fmt.Errorf("not the leader: %w", api.ErrUnavailable), wantCode: 503},
		{name: "deadline", method: "GET", target: "/v1/faults", token: aliceToken, svcErr: fmt.Errorf("list: %w", context.DeadlineExceeded), wantCode: 503},
		{name: "other error", method: "POST", target: "/v1/reload", token: aliceToken, svcErr: errors.New("open /var/lib/tumult/ledger.db: disk on fire"), wantCode: 500,
			wantBody: `{"error":"internal error while serving POST /v1/reload; the agent's log has the details"}`},
		{name: "webhook service error", method: "POST", target: "/v1/alertmanager", token: amToken, body: validWebhook,
			svcErr: fmt.Errorf("guardian: %w", api.ErrUnavailable), wantCode: 503},

		// Routing.
		{name: "wrong method", method: "GET", target: "/v1/pause", token: aliceToken, wantCode: 405, wantBody: `{"error":"method GET not allowed on /v1/pause; use POST"}`, wantNoSvc: true},
		{name: "wrong method on read", method: "DELETE", target: "/v1/status", token: aliceToken, wantCode: 405, wantNoSvc: true},
		{name: "unknown path", method: "GET", target: "/v2/status", token: aliceToken, wantCode: 404, wantBody: `{"error":"no endpoint /v2/status"}`, wantNoSvc: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newAPIFake()
			fake.err = tt.svcErr
			srv := newAPIServer(t, fake, !tt.noTokens, nil)
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)

			require.Equal(t, tt.wantCode, rec.Code, "answer: %s", rec.Body)
			if tt.target != "/metrics" {
				require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
				require.True(t, json.Valid(rec.Body.Bytes()), "answer is not JSON: %s", rec.Body)
			}
			if rec.Code >= 400 {
				var eb struct {
					Error string `json:"error"`
				}
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb))
				require.NotEmpty(t, eb.Error)
			}
			if rec.Code == 401 {
				require.Equal(t, `Bearer realm="tumult"`, rec.Header().Get("WWW-Authenticate"))
			}
			if rec.Code == 405 {
				require.NotEmpty(t, rec.Header().Get("Allow"))
			}
			require.Contains(t, rec.Body.String(), tt.wantBody)
			calls := fake.Calls()
			if tt.wantNoSvc {
				require.Empty(t, calls)
			}
			if tt.wantCall != nil {
				require.Equal(t, []apiCall{*tt.wantCall}, calls)
			}
		})
	}
}

func TestServerRefusesCrossOriginBrowserRequests(t *testing.T) {
	fake := newAPIFake()
	srv := newAPIServer(t, fake, false, nil)
	req := httptest.NewRequest("POST", "/v1/resume", strings.NewReader(`{"reason":"csrf"}`))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	require.Equal(t, 403, rec.Code)
	require.JSONEq(t, `{"error":"cross-origin browser requests are refused"}`, rec.Body.String())
	require.Empty(t, fake.Calls())
}

func TestServerLogsMutatingCalls(t *testing.T) {
	var logs bytes.Buffer
	fake := newAPIFake()
	srv := newAPIServer(t, fake, true, &logs)
	call := func(method, target, token, body string) {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		srv.ServeHTTP(httptest.NewRecorder(), req)
	}
	call("POST", "/v1/pause", aliceToken, `{"reason":"deploy"}`)
	call("POST", "/v1/halt", "", `{"reason":"x"}`)
	call("GET", "/v1/status", aliceToken, "")

	out := logs.String()
	require.Contains(t, out, "API call: actor=alice method=POST path=/v1/pause status=200")
	require.Contains(t, out, "API call refused: method=POST path=/v1/halt status=401")
	require.NotContains(t, out, "path=/v1/status")
	require.NotContains(t, out, aliceToken)
}
