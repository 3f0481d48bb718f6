package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/report"
)

func (f *oncallFake) Inject(_ context.Context, actor string, req api.InjectRequest) (ledger.Record, error) {
	now := testNow
	rec := oncallRecord("20261016-093000-0000dddd", now)
	rec.Actor, rec.ActorReason = actor, req.Reason
	return rec, f.record("Inject", actor, req)
}

func (f *oncallFake) Report(_ context.Context, q api.ReportQuery) (report.Report, error) {
	now := testNow
	r, err := report.Make(f.history, []ledger.ControlChange{
		{At: now.Add(-30 * time.Minute), From: ledger.Armed, To: ledger.Halted, Actor: "guardian", Source: "alertmanager/main", Reason: "alert CheckoutDown firing"},
	}, report.Options{From: now.Add(-q.Since), To: now.Add(time.Hour), Policy: q.Policy})
	if err != nil {
		return report.Report{}, err
	}
	return r, f.record("Report", "", q)
}

func TestInjectCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		svcErr   error
		wantCode int
		wantOut  string
		wantErr  string
		wantCall *oncallCall
	}{
		{name: "injects", args: []string{"inject", "-policy", "checkout-crash", "-member", "checkout-api-2", "-reason", "game day"},
			wantOut:  `^injected kill into checkout-api-2 \(policy checkout-crash, record 20261016-093000-0000dddd\); restore due (\w{3} )?\d\d:\d\d UTC\n$`,
			wantCall: &oncallCall{"Inject", "alice", api.InjectRequest{Policy: "checkout-crash", Member: "checkout-api-2", Reason: "game day"}}},
		{name: "refused by a gate", args: []string{"inject", "-policy", "checkout-crash", "-reason", "game day"},
			svcErr:   fmt.Errorf("%w: refused: halted by guardian: alert CheckoutDown", api.ErrConflict),
			wantCode: 1, wantErr: `^tumult inject: conflict: refused: halted by guardian: alert CheckoutDown \(HTTP 409\)\n$`,
			wantCall: &oncallCall{"Inject", "alice", api.InjectRequest{Policy: "checkout-crash", Reason: "game day"}}},
		{name: "no reason", args: []string{"inject", "-policy", "p"}, wantCode: 2, wantErr: `-reason is required`},
		{name: "no policy", args: []string{"inject", "-reason", "x"}, wantCode: 2, wantErr: `-policy is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := testNow
			fake := newOncallFake(now)
			fake.err = tt.svcErr
			oncallDaemon(t, fake)
			code, out, errOut := oncallRun(now, tt.args...)
			require.Equal(t, tt.wantCode, code, errOut)
			if tt.wantOut != "" {
				require.Regexp(t, tt.wantOut, out)
			}
			if tt.wantErr != "" {
				require.Regexp(t, tt.wantErr, errOut)
			}
			if tt.wantCall == nil {
				require.Empty(t, fake.Calls())
			} else {
				require.Equal(t, []oncallCall{*tt.wantCall}, fake.Calls())
			}
		})
	}
}

func TestReportCommand(t *testing.T) {
	now := testNow
	fake := newOncallFake(now)
	oncallDaemon(t, fake)

	code, out, errOut := oncallRun(now, "report", "-since", "1d")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "Report of every policy over the last 1d")
	// One halt, one skipped decision: the counts agree with their nouns.
	require.Contains(t, out, "Experiments: 1 run, 1 passed, 0 failed, 0 cut short, 0 errors, 0 aborted; 0 manual; 0 dry runs; 1 skipped decision; 1 halt\n")
	require.Regexp(t, `(?m)^checkout-crash +kill +1 +1 +0 +0 +0 +0 +- +-$`, out)
	require.Regexp(t, `(?m)^(\w{3} )?\d\d:\d\d UTC +global +alertmanager/main +guardian +1h30m \(still halted\) +alert CheckoutDown firing$`, out)
	require.Regexp(t, `(?m)^1 +min_healthy +min_healthy: 1 healthy of 2$`, out)
	requireAligned(t, out, "POLICY ")

	code, out, errOut = oncallRun(now, "report", "-json", "-policy", "checkout-crash")
	require.Equal(t, 0, code, errOut)
	var r report.Report
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	require.Equal(t, "checkout-crash", r.Policy)
	require.Equal(t, 1, r.Totals.Passed)

	file := filepath.Join(t.TempDir(), "week.html")
	code, out, errOut = oncallRun(now, "report", "-html", file)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, errOut, "wrote "+file)
	require.Contains(t, out, "Report of every policy")
	page, err := os.ReadFile(file)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(page), "<!doctype html>"))
	require.Contains(t, string(page), "alert CheckoutDown firing")

	require.Equal(t, []oncallCall{
		{Method: "Report", Arg: api.ReportQuery{Since: 24 * time.Hour}},
		{Method: "Report", Arg: api.ReportQuery{Since: 7 * 24 * time.Hour, Policy: "checkout-crash"}},
		{Method: "Report", Arg: api.ReportQuery{Since: 7 * 24 * time.Hour}},
	}, fake.Calls())

	code, _, errOut = oncallRun(now, "report", "-since", "soon")
	require.Equal(t, 2, code)
	require.Contains(t, errOut, "-since:")
}
