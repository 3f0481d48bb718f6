package agent

import (
	"bytes"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLoggerTimes(t *testing.T) {
	// A time with a monotonic reading, as time.Now gives.
	mono := time.Now()
	require.Contains(t, mono.String(), "m=+", "the test needs a monotonic reading")
	at := time.Date(2026, 11, 29, 23, 10, 5, 250_000_000, time.FixedZone("CET", 3600))
	cases := []struct {
		name    string
		args    []any
		want    string // substring of the line
		notWant []string
	}{
		{"time", []any{"since", at}, `since="2026-11-29T23:10:05.25+01:00"`, nil},
		{"whole second in UTC", []any{"at", time.Date(2026, 3, 8, 6, 30, 0, 0, time.UTC)}, "at=2026-03-08T06:30:00Z", nil},
		{"monotonic reading dropped", []any{"now", mono}, "now=", []string{"m=+", " UTC"}},
		{"zero time left out", []any{"policy", "p", "until", time.Time{}, "restore", false}, "policy=p restore=false", []string{"until", "0001-01-01"}},
		{"pointer", []any{"until", &at}, `until="2026-11-29T23:10:05.25+01:00"`, nil},
		{"nil pointer left out", []any{"until", (*time.Time)(nil), "x", 1}, "x=1", []string{"until"}},
		{"no times", []any{"a", 1, "b", "c"}, "a=1 b=c", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := NewLogger("tumult", "info", false, &buf)
			log.Named("sub").With("k", "v").Info("msg", tc.args...)
			line := buf.String()
			require.Contains(t, line, tc.want)
			for _, s := range tc.notWant {
				require.NotContains(t, line, s)
			}
			// The line's own stamp is RFC 3339 with a colon in the offset.
			require.Regexp(t, regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d) \[INFO\]  tumult\.sub: msg: k=v`), line)
		})
	}
}
