package policies

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/stretchr/testify/require"
)

func dockerTarget(body string) string {
	return policy("  target \"docker\" {\n    endpoint = \"local\"\n" + body + "  }\n")
}

func nomadTarget(body string) string {
	return policy("  target \"nomad\" {\n" + body + "  }\n")
}

// TestSelectorEverythingOrNothing: a selector whose effect is every member
// or no member is an error at the attribute that makes it so.
func TestSelectorEverythingOrNothing(t *testing.T) {
	cfg := testRefs{path: "tumult.hcl", names: map[string][]string{"docker": {"local"}, "nomad": {"prod"}},
		protect: map[string]string{"role": "infra"}}
	cases := []struct {
		name string
		src  string
		want []string // one per marker, in order
	}{
		{"no labels, no name", policy("  ‸target \"docker\" {\n    endpoint = \"local\"\n  }\n"), []string{"needs labels or name"}},
		{"empty name", dockerTarget("    name = ‸\"\"\n"), []string{`name "" matches every container name`}},
		{"dot star", dockerTarget("    name = ‸\".*\"\n"), []string{`name ".*" matches every container name`}},
		{"anchor only", dockerTarget("    name = ‸\"^\"\n"), []string{"matches every container name"}},
		{"any first character", dockerTarget("    name = ‸\"^[a-zA-Z0-9]\"\n"), []string{"matches every container name"}},
		{"empty name with empty labels", dockerTarget("    labels = {}\n    name = ‸\"\"\n"), []string{"matches every container name"}},
		{"name matching no name", dockerTarget("    name = ‸\"^$\"\n"), []string{`name "^$" matches no container name`}},
		{"name with a slash", dockerTarget("    name = ‸\"^/checkout\"\n"), []string{"matches no container name"}},
		{"empty label key and value", dockerTarget("    labels = { ‸\"\" = \"\" }\n"), []string{"labels has an empty key"}},
		{"empty label value", dockerTarget("    labels = { \"app\" = ‸\"\" }\n"), []string{`label "app" has an empty value`}},
		{"blank label value", dockerTarget("    labels = { app = ‸\"  \" }\n"), []string{`label "app" has an empty value`}},
		{"only the opt-in label", dockerTarget("    labels = ‸{ \"tumult.enable\" = \"true\" }\n"), []string{`labels { "tumult.enable" = "true" } narrow nothing`}},
		{"opted out", dockerTarget("    labels = { \"app\" = \"x\", \"tumult.enable\" = ‸\"false\" }\n"), []string{"selects only containers that are not opted in"}},
		{"protected pair", dockerTarget("    labels = { \"app\" = \"x\", ‸\"role\" = \"infra\" }\n"), []string{`label "role" = "infra" is protected`}},
		{"empty label and everything name", dockerTarget("    labels = { ‸\"\" = \"x\" }\n    name = ‸\".*\"\n"), []string{"empty key", "matches every container name"}},
		{"nomad empty job", nomadTarget("    job = ‸\"\"\n"), []string{"job must not be empty"}},
		{"nomad blank group", nomadTarget("    job = \"api\"\n    group = ‸\" \"\n"), []string{"group must not be empty"}},
		{"nomad job with blanks", nomadTarget("    job = ‸\" api\"\n"), []string{`job " api" has blanks around it`}},
		{"nomad wildcard namespace", nomadTarget("    namespace = ‸\"*\"\n    job = \"api\"\n"), []string{`Nomad reads "*" as a wildcard over every namespace`}},
		{"nomad wildcard job", nomadTarget("    job = ‸\"api*\"\n"), []string{"wildcard"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, locs := located(t, tc.src)
			require.Len(t, locs, len(tc.want), "test case needs one marker per expected error")
			ps, ds := ParsePolicies([]byte(src), "p.hcl", LoadOptions{Config: cfg, Now: testNow})
			require.Empty(t, ps, "the policy is refused")
			var errs hcl.Diagnostics
			for _, d := range ds {
				if d.Severity == hcl.DiagError {
					errs = append(errs, d)
				}
			}
			Sort(errs)
			require.Len(t, errs, len(tc.want), "diagnostics: %s", ds.Error())
			for i, d := range errs {
				require.Contains(t, Message(d), tc.want[i])
				require.Equal(t, "p.hcl:"+locs[i], Location(d), "error %q", Message(d))
			}
		})
	}
}

func TestSelectorAccepted(t *testing.T) {
	cases := []struct {
		name, src string
		warning   string // "" when none
	}{
		{"labels", dockerTarget("    labels = { \"app\" = \"x\" }\n"), ""},
		{"name", dockerTarget("    name = \"^checkout-\"\n"), ""},
		{"opt-in next to a real label", dockerTarget("    labels = { \"app\" = \"x\", \"tumult.enable\" = \"true\" }\n"), ""},
		{"everything name next to a real label", dockerTarget("    labels = { \"app\" = \"x\" }\n    ‸name = \".*\"\n"), "narrows nothing"},
		{"nomad", nomadTarget("    namespace = \"team-a\"\n    job = \"api\"\n    group = \"web\"\n"), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, _ := located(t, tc.src)
			ps, ds := ParsePolicies([]byte(src), "p.hcl", LoadOptions{Config: testConfig(t), Now: testNow})
			require.False(t, ds.HasErrors(), ds.Error())
			require.Len(t, ps, 1)
			if tc.warning == "" {
				require.Empty(t, ds)
				return
			}
			require.Len(t, ds, 1)
			require.Contains(t, Message(ds[0]), tc.warning)
		})
	}
}

// Without an agent config the default opt-in label is the one checked.
func TestSelectorWithoutConfig(t *testing.T) {
	src := dockerTarget("    labels = { \"tumult.enable\" = \"true\" }\n")
	_, ds := ParsePolicies([]byte(src), "p.hcl", LoadOptions{Now: testNow})
	require.True(t, ds.HasErrors())
	require.Contains(t, ds.Error(), "narrow nothing")
}
