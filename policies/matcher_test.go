package policies

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseMatcher(t *testing.T) {
	tests := []struct {
		in      string
		name    string
		typ     MatchType
		value   string
		match   []map[string]string
		noMatch []map[string]string
	}{
		{
			in: `service="checkout"`, name: "service", typ: MatchEqual, value: "checkout",
			match:   []map[string]string{{"service": "checkout"}},
			noMatch: []map[string]string{{"service": "checkout-api"}, {}},
		},
		{
			in: ` severity != "info" `, name: "severity", typ: MatchNotEqual, value: "info",
			match:   []map[string]string{{"severity": "page"}, {}},
			noMatch: []map[string]string{{"severity": "info"}},
		},
		{
			in: `severity=~"critical|page"`, name: "severity", typ: MatchRegexp, value: "critical|page",
			match:   []map[string]string{{"severity": "critical"}, {"severity": "page"}},
			noMatch: []map[string]string{{"severity": "critical2"}, {"severity": "xpage"}, {}},
		},
		{
			in: `env!~"dev|test"`, name: "env", typ: MatchNotRegexp, value: "dev|test",
			match:   []map[string]string{{"env": "prod"}, {"env": "devel"}},
			noMatch: []map[string]string{{"env": "dev"}, {"env": "test"}},
		},
		{
			in: `team=sre`, name: "team", typ: MatchEqual, value: "sre",
			match: []map[string]string{{"team": "sre"}},
		},
		{
			in: `missing=""`, name: "missing", typ: MatchEqual, value: "",
			match:   []map[string]string{{}, {"missing": ""}},
			noMatch: []map[string]string{{"missing": "x"}},
		},
		{
			in: `msg="say \"hi\""`, name: "msg", typ: MatchEqual, value: `say "hi"`,
			match: []map[string]string{{"msg": `say "hi"`}},
		},
		{
			in: `job:slo=~".*"`, name: "job:slo", typ: MatchRegexp, value: ".*",
			match: []map[string]string{{}, {"job:slo": "anything"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			m, err := ParseMatcher(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.name, m.Name)
			require.Equal(t, tc.typ, m.Type)
			require.Equal(t, tc.value, m.Value)
			for _, l := range tc.match {
				require.True(t, m.Matches(l), "%s should match %v", m, l)
			}
			for _, l := range tc.noMatch {
				require.False(t, m.Matches(l), "%s should not match %v", m, l)
			}
			// String renders a form ParseMatcher reads back.
			again, err := ParseMatcher(m.String())
			require.NoError(t, err)
			require.Equal(t, m.String(), again.String())
		})
	}
}

func TestParseMatcherErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, "not a matcher"},
		{`service`, "not a matcher"},
		{`="x"`, "not a matcher"},
		{`1abc="x"`, "not a matcher"},
		{`service=="x"`, "quote the whole value"},
		{`service="x`, "missing closing quote"},
		{`service=x"`, "quote the whole value"},
		{`service="a"b"`, "bad quoting"},
		{`service=~"(unclosed"`, "bad regular expression"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseMatcher(tc.in)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestNewMatcher(t *testing.T) {
	_, err := NewMatcher("a", MatchType("=="), "x")
	require.ErrorContains(t, err, "unknown operator")
	_, err = NewMatcher("", MatchEqual, "x")
	require.ErrorContains(t, err, "no label name")
	m, err := NewMatcher("a", MatchRegexp, "b+")
	require.NoError(t, err)
	require.True(t, m.Matches(map[string]string{"a": "bbb"}))
	require.False(t, m.Matches(map[string]string{"a": "abbb"}))
}
