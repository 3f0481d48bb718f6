package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/console"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/report"
)

func (f *apiFake) Inject(ctx context.Context, actor string, req api.InjectRequest) (ledger.Record, error) {
	rec := apiRecord("20261016-093000-00000002", req.Policy)
	rec.Actor, rec.ActorReason = actor, req.Reason
	return rec, f.record("Inject", actor, req)
}

func (f *apiFake) Report(ctx context.Context, q api.ReportQuery) (report.Report, error) {
	return report.Report{To: apiNow, Policy: q.Policy, Totals: report.Counts{Run: 3, Passed: 2, Failed: 1}}, f.record("Report", "", q)
}

func TestInjectAndReportEndpoints(t *testing.T) {
	tests := []struct {
		name     string
		method   string
		target   string
		body     string
		svcErr   error
		wantCode int
		wantBody string
		wantArg  any
	}{
		{name: "inject", method: "POST", target: "/v1/inject", body: `{"policy":" checkout-crash ","member":"api-2","reason":" game day "}`,
			wantCode: 200, wantBody: `"actor_reason": "game day"`,
			wantArg: api.InjectRequest{Policy: "checkout-crash", Member: "api-2", Reason: "game day"}},
		{name: "inject without reason", method: "POST", target: "/v1/inject", body: `{"policy":"p"}`, wantCode: 400, wantBody: "reason is required"},
		{name: "inject without policy", method: "POST", target: "/v1/inject", body: `{"reason":"x"}`, wantCode: 400, wantBody: "policy is required"},
		{name: "inject unknown field", method: "POST", target: "/v1/inject", body: `{"reason":"x","policy":"p","force":true}`, wantCode: 400, wantBody: "unknown field"},
		{name: "inject refused by a gate", method: "POST", target: "/v1/inject", body: `{"reason":"x","policy":"p"}`,
			svcErr:   fmt.Errorf("%w: refused: max_disrupted: 1 of 3 members disrupted, limit 1 = 1", api.ErrConflict),
			wantCode: 409, wantBody: `{"error":"conflict: refused: max_disrupted: 1 of 3 members disrupted, limit 1 = 1"}`,
			wantArg: api.InjectRequest{Policy: "p", Reason: "x"}},
		{name: "inject by GET", method: "GET", target: "/v1/inject", wantCode: 405},
		{name: "report default", method: "GET", target: "/v1/report", wantCode: 200, wantBody: `"passed": 2`,
			wantArg: api.ReportQuery{Since: api.DefaultReportSince}},
		{name: "report since and policy", method: "GET", target: "/v1/report?since=90m&policy=checkout-crash", wantCode: 200,
			wantBody: `"policy": "checkout-crash"`, wantArg: api.ReportQuery{Since: 90 * time.Minute, Policy: "checkout-crash"}},
		{name: "report bad since", method: "GET", target: "/v1/report?since=soon", wantCode: 400, wantBody: "since:"},
		{name: "report negative since", method: "GET", target: "/v1/report?since=-1h", wantCode: 400, wantBody: "since:"},
		{name: "report unknown parameter", method: "GET", target: "/v1/report?polcy=x", wantCode: 400, wantBody: "unknown query parameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newAPIFake()
			fake.err = tt.svcErr
			srv := newAPIServer(t, fake, true, nil)
			req := httptest.NewRequest(tt.method, tt.target, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+aliceToken)
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			require.Equal(t, tt.wantCode, rec.Code, "answer: %s", rec.Body)
			require.True(t, json.Valid(rec.Body.Bytes()), "answer is not JSON: %s", rec.Body)
			require.Contains(t, rec.Body.String(), tt.wantBody)
			calls := fake.Calls()
			if tt.wantArg == nil {
				require.Empty(t, calls)
				return
			}
			require.Len(t, calls, 1)
			require.Equal(t, tt.wantArg, calls[0].Arg)
			if calls[0].Method == "Inject" {
				require.Equal(t, "alice", calls[0].Actor, "the token's name is the actor")
			}
		})
	}
}

func TestInjectNeedsAToken(t *testing.T) {
	fake := newAPIFake()
	srv := newAPIServer(t, fake, true, nil)
	for _, token := range []string{"", "wrong-token-0123456789"} {
		req := httptest.NewRequest("POST", "/v1/inject", strings.NewReader(`{"policy":"p","reason":"x"}`))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		require.Contains(t, []int{401, 403}, rec.Code)
	}
	require.Empty(t, fake.Calls())
}

func TestConsoleIsServedWithoutATokenAndTheAPIIsNot(t *testing.T) {
	srv := newAPIServer(t, newAPIFake(), true, nil)
	cases := []struct {
		target string
		code   int
		ctype  string
	}{
		{"/", 200, "text/html; charset=utf-8"},
		{"/console/app.js", 200, "text/javascript; charset=utf-8"},
		{"/console/app.css", 200, "text/css; charset=utf-8"},
		{"/console/missing.js", 404, "text/plain; charset=utf-8"},
		{"/favicon.ico", 404, "application/json"},
		{"/v1/status", 401, "application/json"},
	}
	for _, tc := range cases {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
		require.Equal(t, tc.code, rec.Code, tc.target)
		require.Equal(t, tc.ctype, rec.Header().Get("Content-Type"), tc.target)
		if tc.code == http.StatusOK {
			require.Equal(t, console.CSP, rec.Header().Get("Content-Security-Policy"), tc.target)
		}
	}
	// A page on another site cannot make a browser post to the API.
	req := httptest.NewRequest("POST", "/v1/halt", strings.NewReader(`{"reason":"x"}`))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	require.Equal(t, http.StatusForbidden, rec.Code)
}
