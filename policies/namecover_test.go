package policies

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNameCoverage(t *testing.T) {
	cases := []struct {
		pattern string
		want    coverage
	}{
		// Every name, however spelled.
		{"", coverAll},
		{".*", coverAll},
		{"^.*$", coverAll},
		{"^", coverAll},
		{"$", coverAll},
		{".", coverAll},
		{".+", coverAll},
		{`\w`, coverAll},
		{"^[a-zA-Z0-9]", coverAll},
		{"(?i)^[a-z0-9]", coverAll},
		{"x?", coverAll},
		{"a|", coverAll},
		{`\b`, coverAll},
		{"^..", coverAll},
		{"(?s).*", coverAll},
		// No name.
		{"^$", coverNothing},
		{"/", coverNothing},
		{"^/checkout", coverNothing},
		{"a^b", coverNothing},
		{" ", coverNothing},
		{"^[_.-]", coverNothing},
		{"^.$", coverNothing},
		{`\B^`, coverNothing},
		// Some names.
		{"^checkout-", coverSome},
		{"checkout", coverSome},
		{"^tumult-demo-[0-9]+$", coverSome},
		{"a", coverSome},
		{"^[a-z]", coverSome},
		{"^...", coverSome},
		{`\B`, coverSome},
		{"-$", coverSome},
		{`\w$`, coverSome},
		{"^(a.*)?$", coverSome},
	}
	for _, tc := range cases {
		t.Run(tc.pattern, func(t *testing.T) {
			require.NoError(t, func() error { _, err := regexp.Compile(tc.pattern); return err }())
			require.Equal(t, tc.want, nameCoverage(tc.pattern))
		})
	}
}

// TestNameCoverageAgreesWithRegexp checks the analysis against Go's own
// search over every Docker name of two and three characters drawn from a
// few representative runes.
func TestNameCoverageAgreesWithRegexp(t *testing.T) {
	runes := []rune("aZ09_.-")
	var names []string
	for _, a := range runes[:4] {
		for _, b := range runes {
			names = append(names, string([]rune{a, b}))
			for _, c := range runes {
				names = append(names, string([]rune{a, b, c}))
			}
		}
	}
	for _, p := range []string{"", "^$", "^a", "a$", `\b`, `\B`, "-$", "^.$", "^..$", `^\w\W`, "Z|0", "[^_]"} {
		re := regexp.MustCompile(p)
		all, none := true, true
		for _, n := range names {
			if re.MatchString(n) {
				none = false
			} else {
				all = false
			}
		}
		got := nameCoverage(p)
		if all {
			require.Equal(t, coverAll, got, "pattern %q matches every sample name", p)
		}
		if none {
			require.Equal(t, coverNothing, got, "pattern %q matches no sample name", p)
		}
		if got == coverAll {
			require.True(t, all, "pattern %q said to match all, misses a sample", p)
		}
		if got == coverNothing {
			require.True(t, none, "pattern %q said to match none, matches a sample", p)
		}
	}
}
