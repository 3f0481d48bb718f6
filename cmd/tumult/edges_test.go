package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
)

// TestStatusCutsLastDecisionToTheTerminal: a long last decision is cut to
// the terminal's width; piped output (width 0) keeps it whole.
func TestStatusCutsLastDecisionToTheTerminal(t *testing.T) {
	now := testNow
	fake := newOncallFake(now)
	long := "skipped: no eligible member: " + strings.Repeat("3 not opted in, 2 protected, 1 already disrupted; ", 6)
	fake.status.Policies[1].Last = long
	oncallDaemon(t, fake)
	run := func(width int) string {
		var out, errb bytes.Buffer
		code := runEnv(&env{out: &out, err: &errb, getenv: os.Getenv, now: func() time.Time { return now },
			width: func() int { return width }}, []string{"status"})
		require.Equal(t, 0, code, errb.String())
		return out.String()
	}
	for _, width := range []int{80, 120, 160} {
		out := run(width)
		var row string
		for _, line := range strings.Split(out, "\n") {
			if strings.HasPrefix(line, "cart-pause") {
				row = line
			}
			if strings.HasPrefix(line, "POLICY ") || strings.HasPrefix(line, "checkout-crash") || strings.HasPrefix(line, "search-restart") {
				require.LessOrEqual(t, utf8.RuneCountInString(line), width, "policy table line %q", line)
			}
		}
		require.LessOrEqual(t, utf8.RuneCountInString(row), width, row)
		require.True(t, strings.HasSuffix(row, "…"), row)
		if width >= 120 { // the fixed columns end near 104: some of the decision shows
			require.Equal(t, width, utf8.RuneCountInString(row), "the long row fills the width exactly: %q", row)
			require.Contains(t, row, "skipped: no eli")
		}
	}
	out := run(0)
	require.Contains(t, out, strings.TrimSpace(strings.Join(strings.Fields(long), " ")), "not a terminal: the whole text")
}

func TestReloadCommand(t *testing.T) {
	now := testNow
	cases := []struct {
		name string
		res  api.ReloadResult
		code int
		out  string
	}{
		{"ok", api.ReloadResult{OK: true, Policies: 4, Warnings: []string{"p.hcl:3:3: No fault possible: max_disrupted is 0"}}, 0,
			"reloaded: 4 policies\n  warning: p.hcl:3:3: No fault possible: max_disrupted is 0\n"},
		{"errors keep the last good set", api.ReloadResult{Policies: 4, Errors: []string{`p.hcl:9:12: Invalid duration: mean: "5x" is not a duration`}}, 1,
			"not reloaded: 1 error; the last good set of 4 policies keeps running\n  error: p.hcl:9:12: Invalid duration: mean: \"5x\" is not a duration\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := newOncallFake(now)
			fake.reload = tc.res
			oncallDaemon(t, fake)
			code, out, errOut := oncallRun(now, "reload")
			require.Equal(t, tc.code, code, errOut)
			require.Equal(t, tc.out, out)
			require.Equal(t, []oncallCall{{Method: "Reload"}}, fake.Calls())

			code, out, _ = oncallRun(now, "reload", "-json")
			require.Equal(t, tc.code, code)
			var got api.ReloadResult
			require.NoError(t, json.Unmarshal([]byte(out), &got))
			require.Equal(t, tc.res, got)
		})
	}
}

// TestShortFaultsShowSeconds: a pause of 8s must not start and end "at
// 09:30"; a fault that took 350ms is not "0s".
func TestShortFaultsShowSeconds(t *testing.T) {
	now := time.Date(2026, 11, 29, 9, 30, 20, 0, time.UTC)
	ck := clock{now: now, loc: time.UTC}
	cases := []struct {
		name string
		got  string
		want string
	}{
		{"start today", ck.atSec(now.Add(-8 * time.Second)), "09:30:12 UTC"},
		{"restore by today", ck.atSec(now.Add(8 * time.Second)), "09:30:28 UTC"},
		{"this week", ck.atSec(now.Add(-26 * time.Hour)), "Sat 07:30:20 UTC"},
		{"long ago", ck.atSec(now.Add(-30 * 24 * time.Hour)), "2026-10-30 09:30:20 UTC"},
		{"unset", ck.atSec(time.Time{}), "-"},
		{"8 seconds", faultDuration(8 * time.Second), "8s"},
		{"under a second", faultDuration(350 * time.Millisecond), "350ms"},
		{"minutes", faultDuration(95 * time.Second), "1m35s"},
		{"ago stays coarse", ck.ago(now.Add(-250 * time.Millisecond)), "0s ago"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.got)
		})
	}
}
