package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/api/server"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/scheduler"
	"github.com/inferensys/tumult/targets"
)

// oncallCall is one call the fake daemon received.
type oncallCall struct {
	Method string
	Actor  string
	Arg    any
}

// oncallFake is the Service behind a real server.New, so the CLI is
// tested over HTTP with the real API in between.
type oncallFake struct {
	mu      sync.Mutex
	calls   []oncallCall
	err     error
	status  api.Status
	control ledger.Control
	faults  []ledger.Record
	history []ledger.Record
	reload  api.ReloadResult
	// faultsSeq and historySeq, when set, are answered one per call, the
	// last one repeating: a restore as it happens.
	faultsSeq, historySeq [][]ledger.Record
	// failAfterHalt, when set, is every call's error once Halt was called.
	failAfterHalt error
	halted        bool
}

func next(seq *[][]ledger.Record, fixed []ledger.Record) []ledger.Record {
	if len(*seq) == 0 {
		return fixed
	}
	v := (*seq)[0]
	if len(*seq) > 1 {
		*seq = (*seq)[1:]
	}
	return v
}

func (f *oncallFake) record(method, actor string, arg any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, oncallCall{method, actor, arg})
	if f.halted && f.failAfterHalt != nil {
		return f.failAfterHalt
	}
	f.halted = f.halted || method == "Halt"
	return f.err
}

func (f *oncallFake) Calls() []oncallCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]oncallCall(nil), f.calls...)
}

func (f *oncallFake) Status(context.Context) (api.Status, error) {
	return f.status, f.record("Status", "", nil)
}
func (f *oncallFake) Pause(_ context.Context, actor string, req api.PauseRequest) (ledger.Control, error) {
	return f.control, f.record("Pause", actor, req)
}
func (f *oncallFake) Resume(_ context.Context, actor string, req api.ResumeRequest) (ledger.Control, error) {
	return f.control, f.record("Resume", actor, req)
}
func (f *oncallFake) Halt(_ context.Context, actor string, req api.HaltRequest) (ledger.Control, error) {
	return f.control, f.record("Halt", actor, req)
}
func (f *oncallFake) Faults(context.Context) ([]ledger.Record, error) {
	f.mu.Lock()
	recs := next(&f.faultsSeq, f.faults)
	f.mu.Unlock()
	return recs, f.record("Faults", "", nil)
}
func (f *oncallFake) History(_ context.Context, q ledger.HistoryQuery) ([]ledger.Record, error) {
	// The server turns ?since into a time; keep the duration it stands for.
	f.mu.Lock()
	recs := next(&f.historySeq, f.history)
	f.mu.Unlock()
	return recs, f.record("History", "", historyArg{Since: time.Since(q.Since).Round(time.Hour), Policy: q.Policy, Limit: q.Limit})
}
func (f *oncallFake) Plan(context.Context, int) (scheduler.Plan, error) {
	return scheduler.Plan{}, f.record("Plan", "", nil)
}
func (f *oncallFake) Reload(context.Context) (api.ReloadResult, error) {
	return f.reload, f.record("Reload", "", nil)
}
func (f *oncallFake) AlertWebhook(context.Context, string, string, alerting.Webhook) (string, error) {
	return "", f.record("AlertWebhook", "", nil)
}

type historyArg struct {
	Since  time.Duration
	Policy string
	Limit  int
}

const oncallToken = "alice-token-0123456789"

// oncallDaemon starts the API with tokens ("alice") on a fake and points
// TUMULT_ADDR at it; TZ is UTC so times print the same everywhere.
func oncallDaemon(t *testing.T, fake *oncallFake) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(path, []byte("alice:"+oncallToken+"\n"), 0o600))
	tokens, err := server.LoadTokens(path)
	require.NoError(t, err)
	ts := httptest.NewServer(server.New(server.Options{Service: fake, Tokens: &tokens}))
	t.Cleanup(ts.Close)
	t.Setenv("TUMULT_ADDR", ts.URL)
	t.Setenv("TUMULT_TOKEN", oncallToken)
	t.Setenv("TZ", "UTC")
}

func oncallRecord(id string, now time.Time) ledger.Record {
	return ledger.Record{
		ID: id, Policy: "checkout-crash", Actor: "scheduler",
		Member: targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: "0123456789abcdef0123", Name: "checkout-api-2"},
		Fault:  policies.FaultSpec{Kind: policies.FaultKill, Signal: "SIGKILL", RestoreAfter: 2 * time.Minute},
		Phase:  ledger.Injected, Decided: now.Add(-61 * time.Second), Injected: now.Add(-60 * time.Second),
		RestoreBy: now.Add(time.Minute),
	}
}

func newOncallFake(now time.Time) *oncallFake {
	fault := oncallRecord("20261016-092900-0000aaaa", now)
	done := oncallRecord("20261016-080000-0000bbbb", now)
	done.Phase, done.Result, done.Finished = ledger.Finished, ledger.Passed, done.Injected.Add(95*time.Second)
	done.Outcome = targets.Outcome{How: targets.Recovered}
	skipped := ledger.Record{ID: "20261016-070000-0000cccc", Policy: "cart-pause", Phase: ledger.Finished,
		Result: ledger.Skipped, Reason: "min_healthy: 1 healthy of 2", Decided: now.Add(-2 * time.Hour), Finished: now.Add(-2 * time.Hour),
		Fault: policies.FaultSpec{Kind: policies.FaultPause}, DryRun: true}
	return &oncallFake{
		status: api.Status{
			State: ledger.Paused, Actor: "bob", Source: "api", Reason: "deploy of checkout 1.4",
			Since: now.Add(-5 * time.Minute), Until: now.Add(55 * time.Minute), Leader: true, Replica: "tumult-1",
			Policies: []api.PolicyStatus{
				{Name: "checkout-crash", Enabled: true, Target: "docker/local", Fault: "kill", WindowOpen: true,
					Closes: now.Add(3 * time.Hour), State: ledger.Paused, StateActor: "bob", Active: 1, Today: 3,
					Last: "injected checkout-api-2", LastAt: now.Add(-time.Minute), NextAt: now.Add(30 * time.Second)},
				{Name: "cart-pause", Enabled: true, DryRun: true, Target: "docker/local", Fault: "pause", State: ledger.Armed,
					NextAt: now.Add(2 * time.Minute)},
				{Name: "search-restart", Enabled: false, Target: "nomad/prod", Fault: "restart", State: ledger.Armed,
					NextAt: now.Add(time.Minute)},
			},
			Endpoints: []api.EndpointStatus{
				{Name: "docker/local", Driver: "docker", Endpoint: "local", State: api.EndpointUp, Since: now.Add(-time.Hour),
					Checked: now.Add(-5 * time.Second), Policies: []string{"checkout-crash", "cart-pause"}},
				{Name: "nomad/prod", Driver: "nomad", Endpoint: "prod", State: api.EndpointDown, Since: now.Add(-2 * time.Minute),
					Checked: now.Add(-5 * time.Second), Error: "dial tcp 127.0.0.1:4646: connect: connection refused", Policies: []string{"search"}},
			},
			LastReload: &api.ReloadStatus{At: now.Add(-time.Minute), Trigger: "file change", ReloadResult: api.ReloadResult{
				Policies: 3, Errors: []string{`policies/cart.hcl:4:12: Invalid duration: mean: "5x" is not a duration`}}},
			Sources: []api.SourceStatus{
				{Name: "alertmanager/main", Kind: "alert", Scope: "global", Up: true, LastRead: now.Add(-3 * time.Second)},
				{Name: "checkout-availability", Kind: "slo", Scope: "checkout-crash", Up: false, Error: "query: connection refused"},
			},
			Faults: []ledger.Record{fault},
		},
		control: ledger.Control{State: ledger.Paused, Actor: "alice", Reason: "deploy", Since: now, Until: now.Add(2 * time.Hour)},
		faults:  []ledger.Record{fault},
		history: []ledger.Record{done, skipped},
	}
}

// oncallRun runs the CLI with its clock pinned at now, the time the fake's
// records were made relative to, so that "5m ago" stays 5m however slow
// the machine is.
func oncallRun(now time.Time, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = runEnv(&env{out: &out, err: &errb, getenv: os.Getenv, now: func() time.Time { return now }}, args)
	return code, out.String(), errb.String()
}

// requireAligned checks that in the table whose header line starts with
// header, the row below has a cell starting where each column starts.
// Columns are separated by two or more spaces; cells may hold one.
func requireAligned(t *testing.T, out, header string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for i, h := range lines {
		if !strings.HasPrefix(h, header) {
			continue
		}
		require.Greater(t, len(lines), i+1, "no row under %q", h)
		row := lines[i+1]
		columns := 0
		for p := 2; p < len(h); p++ {
			if h[p] == ' ' || h[p-1] != ' ' || h[p-2] != ' ' {
				continue
			}
			columns++
			require.Less(t, p, len(row), "row %q is shorter than header %q", row, h)
			require.True(t, row[p] != ' ' && row[p-1] == ' ', "column at %d of %q does not start a cell in %q", p, h, row)
		}
		require.Greater(t, columns, 3)
		return
	}
	t.Fatalf("no line starts with %q in\n%s", header, out)
}

func TestStatusCommand(t *testing.T) {
	now := testNow
	fake := newOncallFake(now)
	oncallDaemon(t, fake)

	code, out, errOut := oncallRun(now, "status")
	require.Equal(t, 0, code, errOut)
	require.Empty(t, errOut)
	require.Regexp(t, `(?m)^State: +PAUSED by bob via api since (\w{3} )?\d\d:\d\d UTC \(5m ago\) until (\w{3} )?\d\d:\d\d UTC \(in 55m\): "deploy of checkout 1.4"$`, out)
	require.Contains(t, out, "Leader:   yes (replica tumult-1)")
	require.Regexp(t, `(?m)^Reload: +FAILED at (\w{3} )?\d\d:\d\d UTC \(1m ago, file change\): 1 error; running the last good set of 3 policies \(fix the files, then tumult reload\)\n {10}policies/cart.hcl:4:12: Invalid duration: mean: "5x" is not a duration$`, out)
	// A paused policy has no NEXT, even if the daemon sent one.
	require.Regexp(t, `(?m)^checkout-crash +docker/local +kill +open until (\w{3} )?\d\d:\d\d UTC +PAUSED by bob +1 +3 +- +injected checkout-api-2 \(1m ago\)$`, out)
	require.Regexp(t, `(?m)^cart-pause \(dry run\) +docker/local +pause +closed +armed +0 +0 +in 2m +-$`, out)
	// A disabled policy says so in its STATE too, and has no NEXT.
	require.Regexp(t, `(?m)^search-restart +nomad/prod +restart +disabled +disabled +0 +0 +- +-$`, out)
	require.Regexp(t, `(?m)^docker/local +up +1h ago +5s ago +checkout-crash,cart-pause +-$`, out)
	require.Regexp(t, `(?m)^nomad/prod +DOWN +2m ago +5s ago +search +dial tcp 127.0.0.1:4646: connect: connection refused$`, out)
	requireAligned(t, out, "ENDPOINT ")
	require.Regexp(t, `(?m)^alertmanager/main +alert +global +yes +no +[34]s ago +-$`, out)
	require.Regexp(t, `(?m)^checkout-availability +slo +checkout-crash +NO +no +never +query: connection refused$`, out)
	require.Regexp(t, `(?m)^20261016-092900-0000aaaa +checkout-crash +checkout-api-2 +kill +injected +1m ago$`, out)
	requireAligned(t, out, "POLICY ")
	requireAligned(t, out, "SOURCE ")
	requireAligned(t, out, "FAULT ID ")

	code, out, errOut = oncallRun(now, "status", "-json")
	require.Equal(t, 0, code, errOut)
	var st api.Status
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, ledger.Paused, st.State)
	require.Len(t, st.Policies, 3)
	require.Equal(t, "checkout-availability", st.Sources[1].Name)
	require.True(t, strings.HasSuffix(out, "}\n"))

	require.Equal(t, []oncallCall{{Method: "Status"}, {Method: "Status"}}, fake.Calls())
}

func TestStatusCommandEmpty(t *testing.T) {
	oncallDaemon(t, &oncallFake{status: api.Status{State: ledger.Armed, Leader: false, DryRun: true}})
	code, out, errOut := oncallRun(testNow, "status")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, strings.Join([]string{
		"State:    armed",
		"Leader:   no: replica - is a standby; the leader schedules",
		"Dry run:  yes: decisions are recorded, nothing is injected",
		"",
		"No policies loaded.",
		"",
		"No guardian sources: nothing halts chaos automatically.",
		"",
		"No active faults.",
		"",
	}, "\n"), out)
}

func TestFaultsAndHistoryCommands(t *testing.T) {
	now := testNow
	fake := newOncallFake(now)
	oncallDaemon(t, fake)

	code, out, errOut := oncallRun(now, "faults")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `^ID +POLICY +MEMBER +FAULT +PHASE +STARTED +DURATION +RESTORE BY\n`, out)
	require.Regexp(t, `(?m)^20261016-092900-0000aaaa +checkout-crash +checkout-api-2 +kill +injected +(\w{3} )?\d\d:\d\d:\d\d UTC +1m +(\w{3} )?\d\d:\d\d:\d\d UTC$`, out)
	requireAligned(t, out, "ID ")

	code, out, errOut = oncallRun(now, "faults", "-json")
	require.Equal(t, 0, code, errOut)
	var recs []ledger.Record
	require.NoError(t, json.Unmarshal([]byte(out), &recs))
	require.Len(t, recs, 1)
	require.Equal(t, "0123456789abcdef0123", recs[0].Member.ID)

	code, out, errOut = oncallRun(now, "history", "-since", "7d", "-policy", "checkout-crash")
	require.Equal(t, 0, code, errOut)
	require.Regexp(t, `^ID +POLICY +MEMBER +FAULT +RESULT +STARTED +DURATION +OUTCOME\n`, out)
	require.Regexp(t, `(?m)^20261016-080000-0000bbbb +checkout-crash +checkout-api-2 +kill +passed +(\w{3} )?\d\d:\d\d:\d\d UTC +1m35s +recovered$`, out)
	require.Regexp(t, `(?m)^20261016-070000-0000cccc +cart-pause +- +pause \(dry run\) +skipped +(\w{3} )?\d\d:\d\d:\d\d UTC +- +min_healthy: 1 healthy of 2$`, out)

	code, _, errOut = oncallRun(now, "history", "-json", "-limit", "5")
	require.Equal(t, 0, code, errOut)

	require.Equal(t, []oncallCall{
		{Method: "Faults"}, {Method: "Faults"},
		{Method: "History", Arg: historyArg{Since: 7 * 24 * time.Hour, Policy: "checkout-crash"}},
		{Method: "History", Arg: historyArg{Since: 24 * time.Hour, Limit: 5}},
	}, fake.Calls())

	fake.faults, fake.history = nil, nil
	code, out, _ = oncallRun(now, "faults")
	require.Equal(t, 0, code)
	require.Equal(t, "No active faults.\n", out)
	code, out, _ = oncallRun(now, "history", "-since", "90m")
	require.Equal(t, 0, code)
	require.Equal(t, "No finished faults in the last 1h30m.\n", out)
}

func TestControlCommands(t *testing.T) {
	untilLine := `(\w{3} )?\d\d:\d\d UTC`
	tests := []struct {
		name     string
		args     []string
		control  func(now time.Time) ledger.Control
		wantOut  string // regexp of the whole output
		wantErr  string // regexp of the whole error output
		wantCall oncallCall
	}{
		{name: "pause everything for 2h", args: []string{"pause", "-for", "2h", "-reason", "deploy"},
			wantOut:  `^paused everything until ` + untilLine + ` \(2h\): reason "deploy"\n$`,
			wantCall: oncallCall{"Pause", "alice", api.PauseRequest{Reason: "deploy", For: "2h"}}},
		{name: "pause one policy, restore", args: []string{"pause", "-policy", "checkout-crash", "-restore", "-reason", "flaky"},
			control: func(now time.Time) ledger.Control {
				return ledger.Control{State: ledger.Armed, Policies: map[string]ledger.PolicyControl{"checkout-crash": {State: ledger.Paused}}}
			},
			wantOut:  `^paused policy checkout-crash until resumed: reason "flaky"; running faults restored\n$`,
			wantCall: oncallCall{"Pause", "alice", api.PauseRequest{Reason: "flaky", Policy: "checkout-crash", Restore: true}}},
		{name: "resume everything, note held policies", args: []string{"resume", "-reason", "deploy done"},
			control: func(now time.Time) ledger.Control {
				return ledger.Control{State: ledger.Armed, Policies: map[string]ledger.PolicyControl{
					"b": {State: ledger.Paused, Actor: "guardian"}, "a": {State: ledger.Halted, Actor: "bob"}}}
			},
			wantOut:  `^resumed everything: reason "deploy done"\n$`,
			wantErr:  `^tumult: note: still held back on their own: a \(halted by bob\), b \(paused by guardian\)\n$`,
			wantCall: oncallCall{"Resume", "alice", api.ResumeRequest{Reason: "deploy done"}}},
		{name: "resume a policy while everything is halted", args: []string{"resume", "-policy", "checkout-crash", "-reason", "fixed"},
			control: func(now time.Time) ledger.Control {
				return ledger.Control{State: ledger.Halted, Actor: "guardian", Reason: "alert HighErrorRate"}
			},
			wantOut:  `^resumed policy checkout-crash: reason "fixed"\n$`,
			wantErr:  `^tumult: note: everything is HALTED by guardian: "alert HighErrorRate"\n$`,
			wantCall: oncallCall{"Resume", "alice", api.ResumeRequest{Reason: "fixed", Policy: "checkout-crash"}}},
		{name: "halt without waiting", args: []string{"halt", "-wait", "0", "-reason", "incident 42"},
			wantOut:  `^halted everything: no new faults; restoring every running fault; reason "incident 42"\nnot waiting for the restore: tumult faults shows what is still being restored\n$`,
			wantCall: oncallCall{"Halt", "alice", api.HaltRequest{Reason: "incident 42"}}},
		{name: "halt while halted keeps the first reason", args: []string{"halt", "-wait", "0", "-reason", "incident 42"},
			control: func(now time.Time) ledger.Control {
				return ledger.Control{State: ledger.Halted, Actor: "bob", Reason: "incident 41", Since: now.Add(-time.Hour)}
			},
			wantOut:  `^already halted by bob since ` + untilLine + `: "incident 41"; reason "incident 42" not recorded\nnot waiting for the restore: tumult faults shows what is still being restored\n$`,
			wantCall: oncallCall{"Halt", "alice", api.HaltRequest{Reason: "incident 42"}}},
		{name: "halt already halted for the same reason", args: []string{"halt", "-wait", "0", "-reason", "incident 42"},
			control: func(now time.Time) ledger.Control {
				return ledger.Control{State: ledger.Halted, Actor: "alice", Reason: "incident 42", Since: now}
			},
			wantOut:  `^halted everything: no new faults; restoring every running fault; reason "incident 42"\nnot waiting for the restore: tumult faults shows what is still being restored\n$`,
			wantCall: oncallCall{"Halt", "alice", api.HaltRequest{Reason: "incident 42"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := testNow
			fake := newOncallFake(now)
			if tt.control != nil {
				fake.control = tt.control(now)
			}
			oncallDaemon(t, fake)
			code, out, errOut := oncallRun(now, tt.args...)
			require.Equal(t, 0, code, errOut)
			require.Regexp(t, tt.wantOut, out)
			if tt.wantErr == "" {
				require.Empty(t, errOut)
			} else {
				require.Regexp(t, tt.wantErr, errOut)
			}
			require.Equal(t, []oncallCall{tt.wantCall}, fake.Calls())
		})
	}
}

func TestOncallCommandErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedAddr := "http://" + l.Addr().String()
	require.NoError(t, l.Close())

	// Servers that answer, but not as tumult: a web page, a 200 of HTML.
	notFound := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html><body>nginx: 404 Not Found</body></html>", http.StatusNotFound)
	}))
	t.Cleanup(notFound.Close)
	htmlOK := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprint(w, "<html>welcome</html>")
	}))
	t.Cleanup(htmlOK.Close)

	tests := []struct {
		name     string
		args     []string
		addr     string // overrides TUMULT_ADDR
		token    *string
		svcErr   error
		wantCode int
		wantErr  string // regexp of the single error line
	}{
		{name: "pause without reason", args: []string{"pause", "-for", "1h"}, wantCode: 2,
			wantErr: `^tumult pause: -reason is required: say why, e.g. -reason "deploy of checkout 1.4"$`},
		{name: "resume blank reason", args: []string{"resume", "-reason", "  "}, wantCode: 2, wantErr: `^tumult resume: -reason is required`},
		{name: "halt without reason", args: []string{"halt"}, wantCode: 2, wantErr: `^tumult halt: -reason is required`},
		{name: "bad -for", args: []string{"pause", "-for", "soon", "-reason", "x"}, wantCode: 2, wantErr: `^tumult pause: -for: "soon" is not a duration`},
		{name: "bad -since", args: []string{"history", "-since", "0s"}, wantCode: 2, wantErr: `^tumult history: -since: "0s" is not a positive duration$`},
		{name: "stray argument", args: []string{"status", "json"}, wantCode: 2, wantErr: `^tumult status: unexpected argument "json"`},
		{name: "unreachable", args: []string{"status"}, addr: closedAddr, wantCode: 2,
			wantErr: `^tumult: cannot reach the tumult daemon at ` + regexp.QuoteMeta(closedAddr) + `: connection refused \(is "tumult agent" running\? set TUMULT_ADDR\)$`},
		{name: "unreachable on halt", args: []string{"halt", "-reason", "x"}, addr: closedAddr, wantCode: 2, wantErr: `^tumult: cannot reach the tumult daemon`},
		{name: "not tumult: an error page", args: []string{"status"}, addr: notFound.URL, wantCode: 2,
			wantErr: `^tumult: the server at ` + regexp.QuoteMeta(notFound.URL) + ` does not answer as a tumult daemon \(set TUMULT_ADDR\): Not Found: <html><body>nginx: 404 Not Found</body></html> \(not a JSON answer; is it a tumult daemon\?\) \(HTTP 404\)$`},
		{name: "not tumult: a page that is not JSON", args: []string{"halt", "-reason", "x"}, addr: htmlOK.URL, wantCode: 2,
			wantErr: `^tumult: the server at ` + regexp.QuoteMeta(htmlOK.URL) + ` does not answer as a tumult daemon \(set TUMULT_ADDR\): POST /v1/halt: decode answer from`},
		{name: "bad address", args: []string{"faults"}, addr: "ftp://x", wantCode: 2, wantErr: `^tumult: TUMULT_ADDR: daemon address "ftp://x"`},
		{name: "wrong token", args: []string{"status"}, token: ptr("wrong-token-0123456789"), wantCode: 2,
			wantErr: `^tumult: the daemon refused the token \(set TUMULT_TOKEN\): unknown token$`},
		{name: "wrong token on pause", args: []string{"pause", "-reason", "x"}, token: ptr("wrong-token-0123456789"), wantCode: 2,
			wantErr: `^tumult: the daemon refused the token`},
		{name: "no token", args: []string{"history"}, token: ptr(""), wantCode: 2,
			wantErr: `^tumult: the daemon requires a token \(set TUMULT_TOKEN\): missing bearer token`},
		{name: "unknown policy", args: []string{"pause", "-policy", "nope", "-reason", "x"},
			svcErr: fmt.Errorf("pause: no policy %q: %w", "nope", api.ErrNotFound), wantCode: 1,
			wantErr: `^tumult pause: pause: no policy "nope": not found \(HTTP 404\)$`},
		{name: "history of an unknown policy", args: []string{"history", "-policy", "nosuch"},
			svcErr: fmt.Errorf("policy %q is not a loaded policy and has no history: %w", "nosuch", api.ErrNotFound), wantCode: 1,
			wantErr: `^tumult history: policy "nosuch" is not a loaded policy and has no history: not found \(HTTP 404\)$`},
		{name: "daemon error", args: []string{"status"}, svcErr: fmt.Errorf("ledger:\nclosed"), wantCode: 1,
			wantErr: `^tumult status: internal error while serving GET /v1/status; the agent's log has the details \(HTTP 500\)$`},
		{name: "not leader", args: []string{"faults", "-json"}, svcErr: fmt.Errorf("replica 2 is a standby: %w", api.ErrUnavailable), wantCode: 1,
			wantErr: `^tumult faults: replica 2 is a standby: unavailable \(HTTP 503\)$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := testNow
			fake := newOncallFake(now)
			fake.err = tt.svcErr
			oncallDaemon(t, fake)
			if tt.addr != "" {
				t.Setenv("TUMULT_ADDR", tt.addr)
			}
			if tt.token != nil {
				t.Setenv("TUMULT_TOKEN", *tt.token)
			}
			code, out, errOut := oncallRun(now, tt.args...)
			require.Equal(t, tt.wantCode, code, "stderr: %s", errOut)
			require.Empty(t, out)
			require.Equal(t, 1, strings.Count(errOut, "\n"), "want exactly one line, got %q", errOut)
			require.Regexp(t, tt.wantErr, strings.TrimSuffix(errOut, "\n"))
			if tt.wantCode == 2 && tt.addr == "" && tt.token == nil {
				require.Empty(t, fake.Calls(), "bad usage must not reach the daemon")
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestClockFormats(t *testing.T) {
	now := time.Date(2026, 10, 16, 9, 30, 0, 0, time.UTC) // a Friday
	ck := clock{now: now, loc: time.UTC}
	tests := []struct {
		t         time.Time
		at, since string
	}{
		{now.Add(-3 * time.Second), "09:29 UTC", "3s ago"},
		{now.Add(-(4*time.Minute + 10*time.Second)), "09:25 UTC", "4m10s ago"},
		{now.Add(2*time.Hour + 5*time.Minute + 20*time.Second), "11:35 UTC", "in 2h5m"},
		{now.Add(15 * time.Hour), "Sat 00:30 UTC", "in 15h"},
		{now.Add(-(3*24*time.Hour + 4*time.Hour)), "Tue 05:30 UTC", "3d4h ago"},
		{now.Add(-30 * 24 * time.Hour), "2026-09-16 09:30 UTC", "30d ago"},
		{time.Time{}, "-", "never"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.at, ck.at(tt.t), "%v", tt.t)
		require.Equal(t, tt.since, ck.ago(tt.t), "%v", tt.t)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	require.Equal(t, "11:30 CEST", clock{now: now, loc: berlin}.at(now))
}

// halt answers at once and then follows the restore: members back of the
// total, the ones still down and why, until all are back or -wait runs
// out. Never "cannot reach" for a halt that took.
func TestHaltFollowsTheRestore(t *testing.T) {
	old := haltPoll
	haltPoll = time.Millisecond
	t.Cleanup(func() { haltPoll = old })
	now := testNow
	rec := func(id, member string, errText string) ledger.Record {
		r := oncallRecord(id, now)
		r.Member.Name, r.Error, r.Phase = member, errText, ledger.Restoring
		return r
	}
	done := func(r ledger.Record) ledger.Record {
		r.Phase, r.Result, r.Finished = ledger.Finished, ledger.Restored, testNow
		return r
	}
	a := rec("20261016-092900-0000aaaa", "web-1", "")
	b := rec("20261016-092901-0000bbbb", "web-2", "unpause web-2: engine said 500")
	c := rec("20261016-092902-0000cccc", "web-3", "")

	tests := []struct {
		name            string
		wait            string
		faults, history [][]ledger.Record
		code            int
		wantOut         string
		wantErr         string
	}{
		{name: "every member back", wait: "1m",
			faults:  [][]ledger.Record{{a, b, c}, {b}, {}},
			history: [][]ledger.Record{{}, {done(a), done(c)}, {done(a), done(b), done(c)}},
			wantOut: `^halted everything: no new faults; restoring every running fault; reason "incident"\n` +
				`restoring: 0 of 3 members back\n` +
				`  still down: web-1 \(checkout-crash, kill\): restoring\n` +
				`  still down: web-2 \(checkout-crash, kill\): unpause web-2: engine said 500\n` +
				`  still down: web-3 \(checkout-crash, kill\): restoring\n` +
				`restoring: 2 of 3 members back\n` +
				`  still down: web-2 \(checkout-crash, kill\): unpause web-2: engine said 500\n` +
				`restored: 3 of 3 faults; every member is back\n$`},
		{name: "wait runs out", wait: "20ms",
			faults:  [][]ledger.Record{{b}},
			history: [][]ledger.Record{{done(a)}},
			code:    1,
			wantOut: `^halted everything: no new faults; restoring every running fault; reason "incident"\n` +
				`restoring: 1 of 2 members back\n` +
				`  still down: web-2 \(checkout-crash, kill\): unpause web-2: engine said 500\n$`,
			wantErr: `^tumult: -wait 20ms ran out with 1 of 2 members still being restored; the daemon goes on retrying \(tumult faults\)\n$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newOncallFake(now)
			fake.faultsSeq, fake.historySeq = tt.faults, tt.history
			oncallDaemon(t, fake)
			code, out, errOut := oncallRun(now, "halt", "-wait", tt.wait, "-reason", "incident")
			require.Equal(t, tt.code, code, errOut)
			require.Regexp(t, tt.wantOut, out)
			if tt.wantErr == "" {
				require.Empty(t, errOut)
			} else {
				require.Regexp(t, tt.wantErr, errOut)
			}
			require.Equal(t, oncallCall{"Halt", "alice", api.HaltRequest{Reason: "incident"}}, fake.Calls()[0])
		})
	}
}

// The daemon goes away after the halt was recorded: the command says the
// halt took and the restore cannot be followed, not that the daemon cannot
// be reached.
func TestHaltRecordedThenDaemonGone(t *testing.T) {
	old := haltPoll
	haltPoll = time.Millisecond
	t.Cleanup(func() { haltPoll = old })
	now := testNow
	fake := newOncallFake(now)
	oncallDaemon(t, fake)
	fake.mu.Lock()
	fake.faultsSeq = [][]ledger.Record{{oncallRecord("20261016-092900-0000aaaa", now)}}
	fake.mu.Unlock()
	// The first progress read fails: the daemon answers 503 from then on.
	fake.failAfterHalt = errors.New("ledger unavailable")
	code, out, errOut := oncallRun(now, "halt", "-reason", "incident")
	require.Equal(t, 1, code)
	require.Contains(t, out, "halted everything")
	require.Contains(t, errOut, "the halt is recorded, but its restore cannot be followed")
	require.NotContains(t, errOut, "cannot reach")
}

// testNow is the on-call tests' "now", for the fake daemon and the CLI's
// clock alike: a fixed mid-morning instant, so that what the tables show
// (a window that closes in 3h, a pause that ends in 55m) never crosses
// midnight into a weekday-prefixed time and no test depends on when it
// runs.
var testNow = time.Date(2026, 10, 16, 9, 30, 0, 0, time.UTC)
