package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.WriteFile(p, got, 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err, "run go test ./cmd/tumult -update to create it")
	require.Equal(t, string(want), string(got))
}

func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestPlanGolden(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"plan_text", []string{"plan", "-from", "2026-11-30T00:00:00Z", "-hours", "96", "-seed", "42", "-timezone", "Europe/Berlin", "testdata/policies"}},
		{"plan_text_noseed", []string{"plan", "-from", "2026-11-30T00:00:00Z", "-hours", "24", "testdata/policies"}},
		{"plan_json", []string{"plan", "-from", "2026-11-30T00:00:00Z", "-hours", "48", "-seed", "42", "-json", "testdata/policies"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCmd(t, tc.args...)
			require.Equal(t, 0, code, errOut)
			golden(t, tc.name, []byte(out))
		})
	}
}

func TestPlanSameSeedSameSchedule(t *testing.T) {
	args := []string{"plan", "-from", "2026-11-30T00:00:00Z", "-hours", "72", "-seed", "7", "-json", "testdata/policies"}
	a, _, _ := runCmd(t, args...)
	b, _, _ := runCmd(t, args...)
	require.Equal(t, a, b)
	args[6] = "8"
	c, _, _ := runCmd(t, args...)
	require.NotEqual(t, a, c)

	var plan struct {
		Policies []struct {
			Name   string
			Sample []time.Time
			Open   []struct{ Start, End time.Time }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(a), &plan))
	for _, p := range plan.Policies {
		for _, s := range p.Sample {
			inside := false
			for _, iv := range p.Open {
				inside = inside || (!s.Before(iv.Start) && s.Before(iv.End))
			}
			require.True(t, inside, "%s: sampled fault %s outside open time", p.Name, s)
		}
	}
}

func TestPlanSVG(t *testing.T) {
	svg := filepath.Join(t.TempDir(), "plan.svg")
	out, errOut, code := runCmd(t, "plan", "-from", "2026-11-30T00:00:00Z", "-hours", "168", "-seed", "42", "-svg", svg, "-timezone", "Europe/Berlin", "testdata/policies")
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "Timeline written to "+svg)
	b, err := os.ReadFile(svg)
	require.NoError(t, err)
	s := string(b)
	require.True(t, strings.HasPrefix(s, "<svg "), "an SVG document")
	for _, want := range []string{"office-hours", "night-owl", "off (disabled)", `fill="url(#hatch)"`, "freeze", "Tue 01", "sampled fault", "Europe/Berlin"} {
		require.Contains(t, s, want)
	}
	require.Greater(t, strings.Count(s, `stroke="#d62728"`), 5, "sampled faults drawn as ticks")
}

func TestPlanBadFlags(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"plan", "-from", "tomorrow", "testdata/policies"}, `-from "tomorrow" is not an RFC 3339 time`},
		{[]string{"plan", "-hours", "0", "testdata/policies"}, "-hours must be between 1 and 2160"},
		{[]string{"plan", "-timezone", "Nowhere/Else", "testdata/policies"}, `-timezone "Nowhere/Else" is not an IANA time zone name`},
		{[]string{"plan"}, "no policy path given and no -config"},
	}
	for _, tc := range cases {
		t.Run(tc.want, func(t *testing.T) {
			_, errOut, code := runCmd(t, tc.args...)
			require.Equal(t, 2, code)
			require.Contains(t, errOut, tc.want)
		})
	}
}

func TestValidateGolden(t *testing.T) {
	out, _, code := runCmd(t, "validate", "testdata/broken.hcl", "testdata/policies")
	require.Equal(t, 1, code)
	golden(t, "validate_text", []byte(out))

	out, _, code = runCmd(t, "validate", "-json", "testdata/broken.hcl")
	require.Equal(t, 1, code)
	golden(t, "validate_json", []byte(out))

	out, _, code = runCmd(t, "validate", "testdata/policies")
	require.Equal(t, 0, code, out)
	require.Equal(t, "0 errors, 0 warnings in 1 file (3 valid policies)\n", out)
}
