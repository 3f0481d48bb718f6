package policies

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/internal/hcltest"
)

// marker stands where a test expects a diagnostic to point.
const marker = hcltest.Marker

// located strips markers from src and returns their line:column positions.
func located(t *testing.T, src string) (string, []string) {
	t.Helper()
	return hcltest.Located(src)
}

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// testConfig is the agent config the policies refer to: two docker
// blocks, a nomad, an alertmanager and a prometheus block.
func testConfig(t *testing.T) testRefs {
	t.Helper()
	return testRefs{path: "tumult.hcl", names: map[string][]string{
		"docker": {"local", "edge"}, "nomad": {"prod"}, "alertmanager": {"main"}, "prometheus": {"main"},
	}}
}

// policy wraps the body of a policy block around the required parts that
// a case does not replace.
func policy(parts ...string) string {
	has := func(s string) bool {
		for _, p := range parts {
			if strings.Contains(strings.ReplaceAll(p, marker, ""), s) {
				return true
			}
		}
		return false
	}
	var b strings.Builder
	b.WriteString("policy \"p\" {\n")
	if !has("target ") {
		b.WriteString("  target \"docker\" {\n    endpoint = \"local\"\n    labels = { \"app\" = \"api\" }\n  }\n")
	}
	if !has("fault ") {
		b.WriteString("  fault \"kill\" {}\n")
	}
	if !has("  window {") {
		b.WriteString("  window {\n    cron     = \"0 9 * * MON-FRI\"\n    duration = \"8h\"\n  }\n")
	}
	if !has("  every {") {
		b.WriteString("  every {\n    mean = \"45m\"\n  }\n")
	}
	for _, p := range parts {
		b.WriteString(p)
	}
	b.WriteString("}\n")
	return b.String()
}

func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // substrings of each error's message, one per marker, in order
	}{
		{"syntax error", "policy \"p\" ‸{\n  enabled = true\n", []string{"Unclosed configuration block"}},
		{"unknown attribute", policy("  ‸colour = \"red\"\n"), []string{`An argument named "colour" is not expected here`}},
		{"unknown block", policy("  ‸schedule {}\n"), []string{`Blocks of type "schedule" are not expected here`}},
		{"bad cron", policy("  window {\n    cron     = ‸\"0 9 * *\"\n    duration = \"8h\"\n  }\n"), []string{`Invalid cron expression: "0 9 * *"`}},
		{"cron @every", policy("  window {\n    cron     = ‸\"@every 5m\"\n    duration = \"8h\"\n  }\n"), []string{"not a time of day"}},
		{"unknown timezone", policy("  window {\n    cron     = \"0 9 * * *\"\n    duration = \"8h\"\n    timezone = ‸\"Europe/Berlinn\"\n  }\n"), []string{`Unknown timezone: "Europe/Berlinn" is not an IANA time zone`}},
		{"bad duration", policy("  fault \"kill\" {\n    restore_after = ‸\"2x\"\n  }\n"), []string{`Invalid duration: restore_after: "2x" is not a duration`}},
		{"window duration too short", policy("  window {\n    cron     = \"0 9 * * *\"\n    duration = ‸\"30s\"\n  }\n"), []string{"duration must be at least 1m"}},
		{"min above mean", policy("  every {\n    mean = \"10m\"\n    min  = ‸\"45m\"\n  }\n"), []string{"min (45m) must not exceed mean (10m)"}},
		{"percentage over 100", policy("  limits {\n    max_disrupted = ‸\"150%\"\n  }\n"), []string{"Percentage over 100%: max_disrupted is 150%"}},
		{"bad quantity", policy("  limits {\n    max_disrupted = ‸\"some\"\n  }\n"), []string{`whole number or a percentage such as "25%"`}},
		{"fractional min_healthy", policy("  limits {\n    min_healthy = ‸1.5\n  }\n"), []string{"min_healthy must be a whole number, got 1.5"}},
		{"negative min_healthy", policy("  limits {\n    min_healthy = ‸-1\n  }\n"), []string{"min_healthy must be at least 0"}},
		{"zero max_per_day", policy("  limits {\n    max_per_day = ‸0\n  }\n"), []string{"max_per_day must be at least 1"}},
		{"unknown docker endpoint", policy("  target \"docker\" {\n    endpoint = ‸\"remote\"\n    labels = { \"app\" = \"x\" }\n  }\n"), []string{`endpoint "remote" is not a docker block of the agent config tumult.hcl; it has "local" or "edge"`}},
		{"endpoint needed with two docker blocks", policy("  ‸target \"docker\" {\n    labels = { \"app\" = \"x\" }\n  }\n"), []string{`has 2 docker blocks (local, edge); say which with endpoint`}},
		{"unknown nomad cluster", policy("  target \"nomad\" {\n    cluster = ‸\"staging\"\n    job = \"api\"\n  }\n"), []string{`cluster "staging" is not a nomad block`}},
		{"unknown prometheus", policy("  steady_state {\n    prometheus = ‸\"thanos\"\n    query = \"up\"\n    min = 1\n  }\n"), []string{`prometheus "thanos" is not a prometheus block`}},
		{"unknown alertmanager", policy("  halt_on {\n    alert {\n      alertmanager = ‸\"other\"\n      matchers = [\"a=\\\"b\\\"\"]\n    }\n  }\n"), []string{`alertmanager "other" is not a alertmanager block`}},
		{"pause on nomad", policy("  target \"nomad\" {\n    job = \"api\"\n  }\n  ‸fault \"pause\" {\n    duration = \"30s\"\n  }\n"), []string{"A pause fault needs a docker target"}},
		{"unknown fault kind", policy("  fault ‸\"explode\" {}\n"), []string{`Fault kind "explode" is not known; use "kill", "stop", "pause", "restart", "signal", "network", "partition" or "stress"`}},
		{"unknown driver", policy("  target ‸\"k8s\" {}\n"), []string{`Target driver "k8s" is not known`}},
		{"bad signal", policy("  fault \"signal\" {\n    signal = ‸\"SIGBOGUS\"\n  }\n"), []string{`"SIGBOGUS" is not a signal name`}},
		{"missing required attribute", policy("  ‸fault \"pause\" {}\n"), []string{`The argument "duration" is required in a fault block`}},
		{"missing target", "‸policy \"p\" {\n  fault \"kill\" {}\n  window {\n    cron = \"@daily\"\n    duration = \"1h\"\n  }\n  every {\n    mean = \"1h\"\n  }\n}\n", []string{"needs exactly one target block"}},
		{"missing window and every", "‸‸policy \"p\" {\n  target \"docker\" {\n    endpoint = \"local\"\n    name = \"x\"\n  }\n  fault \"kill\" {}\n}\n", []string{"needs at least one window block", "needs exactly one every block"}},
		{"duplicate fault block", policy("  fault \"kill\" {}\n  ‸fault \"stop\" {}\n"), []string{"Only one fault block is allowed here"}},
		{"docker target too broad", policy("  ‸target \"docker\" {\n    endpoint = \"local\"\n  }\n"), []string{"needs labels or name"}},
		{"bad name regexp", policy("  target \"docker\" {\n    endpoint = \"local\"\n    name = ‸\"([\"\n  }\n"), []string{"name must be an RE2 regular expression"}},
		{"loss over 100", policy("  fault \"network\" {\n    loss = ‸150\n    duration = \"1m\"\n  }\n"), []string{"loss is a percentage from 0 to 100; got 150"}},
		{"negative corrupt", policy("  fault \"network\" {\n    corrupt = ‸-1\n    duration = \"1m\"\n  }\n"), []string{"corrupt is a percentage from 0 to 100; got -1"}},
		{"unknown rate unit", policy("  fault \"network\" {\n    rate = ‸\"1mbyte\"\n    duration = \"1m\"\n  }\n"), []string{`unknown rate unit "mbyte"`}},
		{"network without duration", policy("  ‸fault \"network\" {\n    delay = \"300ms\"\n  }\n"), []string{`The argument "duration" is required in a fault block`}},
		{"network doing nothing", policy("  ‸fault \"network\" {\n    duration = \"1m\"\n  }\n"), []string{"Set at least one of delay, loss"}},
		{"jitter without delay", policy("  fault \"network\" {\n    ‸jitter = \"10ms\"\n    loss = 1\n    duration = \"1m\"\n  }\n"), []string{"jitter varies the delay; set delay too"}},
		{"bad cidr", policy("  fault \"network\" {\n    delay = \"1ms\"\n    duration = \"1m\"\n    to {\n      cidrs = ‸[\"10.1.0.0/33\"]\n    }\n  }\n"), []string{`"10.1.0.0/33" is not an address range`}},
		{"bad port", policy("  fault \"network\" {\n    delay = \"1ms\"\n    duration = \"1m\"\n    to {\n      ports = ‸[70000]\n    }\n  }\n"), []string{"ports must be whole numbers from 1 to 65535; got 70000"}},
		{"partition without to", policy("  ‸fault \"partition\" {\n    duration = \"1m\"\n  }\n"), []string{"A partition cuts the member off from named destinations"}},
		{"partition with ports only", policy("  fault \"partition\" {\n    duration = \"1m\"\n    ‸to {\n      ports = [5432]\n    }\n  }\n"), []string{"needs cidrs or labels"}},
		{"network on nomad", policy("  target \"nomad\" {\n    job = \"api\"\n  }\n  ‸fault \"network\" {\n    delay = \"300ms\"\n    duration = \"1m\"\n  }\n"), []string{"A network fault needs a docker target"}},
		{"partition on nomad", policy("  target \"nomad\" {\n    job = \"api\"\n  }\n  ‸fault \"partition\" {\n    duration = \"1m\"\n    to {\n      cidrs = [\"10.0.0.0/8\"]\n    }\n  }\n"), []string{"A partition fault needs a docker target"}},
		{"stress on nomad", policy("  target \"nomad\" {\n    job = \"api\"\n  }\n  ‸fault \"stress\" {\n    cpu_workers = 1\n    duration = \"1m\"\n  }\n"), []string{"A stress fault needs a docker target"}},
		{"stress cpu_load over 100", policy("  fault \"stress\" {\n    cpu_workers = 1\n    cpu_load = ‸120\n    duration = \"1m\"\n  }\n"), []string{"cpu_load is a percentage of one CPU per worker, from 1 to 100; got 120"}},
		{"stress bad memory unit", policy("  fault \"stress\" {\n    memory = ‸\"256MiBs\"\n    duration = \"1m\"\n  }\n"), []string{`unknown size unit "MiBs"`}},
		{"stress doing nothing", policy("  ‸fault \"stress\" {\n    duration = \"1m\"\n  }\n"), []string{"Set cpu_workers, memory or both"}},
		{"stress without duration", policy("  ‸fault \"stress\" {\n    cpu_workers = 2\n  }\n"), []string{`The argument "duration" is required in a fault block`}},
		{"nomad without job", policy("  ‸target \"nomad\" {}\n"), []string{`The argument "job" is required in a target block`}},
		{"freeze backwards", policy("  freeze {\n    from = \"2026-12-20T00:00:00+01:00\"\n    to   = ‸\"2026-12-10T00:00:00+01:00\"\n  }\n"), []string{"to (2026-12-10T00:00:00+01:00) must be after from"}},
		{"freeze without offset", policy("  freeze {\n    from = ‸\"2026-12-20 00:00\"\n    to   = \"2026-12-21T00:00:00Z\"\n  }\n"), []string{"from must be an RFC 3339 time"}},
		{"steady state without bounds", policy("  ‸steady_state {\n    query = \"up\"\n  }\n"), []string{"needs min, max or both"}},
		{"steady state min above max", policy("  steady_state {\n    query = \"up\"\n    min = ‸2\n    max = 1\n  }\n"), []string{"min (2) is above max (1)"}},
		{"bad matcher", policy("  halt_on {\n    alert {\n      matchers = ‸[\"severity\"]\n    }\n  }\n"), []string{`Invalid matcher: "severity"`}},
		{"empty matchers", policy("  halt_on {\n    alert {\n      matchers = ‸[]\n    }\n  }\n"), []string{"an empty list would match every alert"}},
		{"objective out of range", policy("  halt_on {\n    slo \"a\" {\n      error_ratio = \"r$window\"\n      objective = ‸99.9\n    }\n  }\n"), []string{"objective must be between 0 and 1"}},
		{"burn short not shorter", policy("  halt_on {\n    slo \"a\" {\n      error_ratio = \"r$window\"\n      objective = 0.999\n      burn {\n        long = \"1h\"\n        short = ‸\"2h\"\n        factor = 14.4\n      }\n    }\n  }\n"), []string{"short (2h) must be shorter than long (1h)"}},
		{"wrong type", policy("  enabled = ‸\"maybe\"\n"), []string{"enabled must be true or false"}},
		{"variables not allowed", policy("  description = ‸var.x\n"), []string{"Variables not allowed"}},
		{"bad policy name", "policy ‸\"has space\" {\n  target \"docker\" {\n    endpoint = \"local\"\n    name = \"x\"\n  }\n  fault \"kill\" {}\n  window {\n    cron = \"@daily\"\n    duration = \"1h\"\n  }\n  every {\n    mean = \"1h\"\n  }\n}\n", []string{`Policy name "has space"`}},
		{"several errors in one file", policy("  ‸colour = \"red\"\n  limits {\n    max_disrupted = ‸\"101%\"\n    min_healthy   = ‸\"two\"\n  }\n"), []string{"colour", "101%", "min_healthy must be a number"}},
	}
	cfg := testConfig(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, locs := located(t, tc.src)
			require.Len(t, locs, len(tc.want), "test case needs one marker per expected error")
			_, ds := ParsePolicies([]byte(src), "p.hcl", LoadOptions{Config: cfg, Now: testNow})
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
				require.NotNil(t, d.Subject, "error %q has no location", Message(d))
				require.Equal(t, "p.hcl:"+locs[i], Location(d), "error %q", Message(d))
			}
		})
	}
}

func TestValidationWarnings(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string
	}{
		{"window never opens", policy("  ‸window {\n    cron     = \"0 0 30 2 *\"\n    duration = \"1h\"\n  }\n  window {\n    cron = \"@daily\"\n    duration = \"1h\"\n  }\n"), "does not fire in the year"},
		{"always frozen", policy("  window {\n    cron     = \"0 9 27 11 *\"\n    duration = \"1h\"\n  }\n  ‸freeze {\n    from = \"2026-11-01T00:00:00Z\"\n    to   = \"2027-12-01T00:00:00Z\"\n  }\n"), "Freezes cover every opening"},
		{"max_disrupted zero", policy("  ‸limits {\n    max_disrupted = 0\n  }\n"), "no member may ever be disrupted"},
		{"min_healthy zero", policy("  ‸limits {\n    min_healthy = 0\n  }\n"), "disrupt every member of the fleet at once"},
		{"error ratio without window", policy("  halt_on {\n    slo \"a\" {\n      error_ratio = ‸\"ratio\"\n      objective = 0.99\n    }\n  }\n"), "has no $window"},
		{"min gap longer than window", policy("  window {\n    cron = \"@daily\"\n    duration = \"1h\"\n  }\n  ‸every {\n    mean = \"3h\"\n    min = \"2h\"\n  }\n"), "at most one fault fits"},
	}
	cfg := testConfig(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, locs := located(t, tc.src)
			require.Len(t, locs, 1)
			ps, ds := ParsePolicies([]byte(src), "p.hcl", LoadOptions{Config: cfg, Now: testNow})
			require.False(t, ds.HasErrors(), ds.Error())
			require.Len(t, ps, 1, "a warning does not reject the policy")
			require.Len(t, ds, 1, ds.Error())
			require.Equal(t, hcl.DiagWarning, ds[0].Severity)
			require.Contains(t, Message(ds[0]), tc.want)
			require.Equal(t, "p.hcl:"+locs[0], Location(ds[0]))
		})
	}
}

func TestDefaults(t *testing.T) {
	ps, ds := ParsePolicies([]byte(policy()), "p.hcl", LoadOptions{Config: testConfig(t), Now: testNow})
	require.False(t, ds.HasErrors(), ds.Error())
	require.Len(t, ps, 1)
	p := ps[0]
	require.True(t, p.Enabled)
	require.False(t, p.DryRun)
	require.Equal(t, Limits{MaxDisrupted: Quantity{Count: 1}, MinHealthy: 1}, p.Limits)
	require.Equal(t, time.Duration(0), p.Every.Min)
	require.Equal(t, 45*time.Minute, p.Every.Mean)
	require.Equal(t, time.UTC, p.Windows[0].Location)
	require.Equal(t, FaultSpec{Kind: FaultKill, Signal: "SIGKILL", RestoreAfter: DefaultRestoreAfter}, p.Fault)
	require.Nil(t, p.SteadyState)
	require.True(t, p.HaltOn.Empty())
}

func TestReferencesDefaultToTheOnlyBlock(t *testing.T) {
	cfg := testRefs{path: "t.hcl", names: map[string][]string{"docker": {"only"}, "prometheus": {"p"}}}
	src := "policy \"p\" {\n  target \"docker\" {\n    labels = { a = \"b\" }\n  }\n  fault \"stop\" {}\n  window {\n    cron = \"@daily\"\n    duration = \"1h\"\n  }\n  every {\n    mean = \"1h\"\n  }\n  steady_state {\n    query = \"up\"\n    min = 1\n  }\n  halt_on {\n    slo \"s\" {\n      error_ratio = \"r$window\"\n      objective = 0.99\n    }\n  }\n}\n"
	ps, ds := ParsePolicies([]byte(src), "p.hcl", LoadOptions{Config: cfg, Now: testNow})
	require.False(t, ds.HasErrors(), ds.Error())
	require.Equal(t, "only", ps[0].Target.Endpoint)
	require.Equal(t, "p", ps[0].SteadyState.Prometheus)
	require.Equal(t, "p", ps[0].HaltOn.SLOs[0].Prometheus)
	require.Equal(t, DefaultBurnPairs, ps[0].HaltOn.SLOs[0].Burns)
	require.Equal(t, DefaultStopTimeout, ps[0].Fault.Timeout)
}

func TestWithoutConfigReferencesAreNotChecked(t *testing.T) {
	src := strings.Replace(policy(), `endpoint = "local"`, `endpoint = "anything"`, 1)
	ps, ds := ParsePolicies([]byte(src), "p.hcl", LoadOptions{Now: testNow})
	require.False(t, ds.HasErrors(), ds.Error())
	require.Equal(t, "anything", ps[0].Target.Endpoint)
}

func TestDuplicateNamesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	one := policy()
	two := "\n\n" + policy()
	writeFile(t, dir, "a.hcl", one)
	writeFile(t, dir, "b.hcl", two)
	writeFile(t, dir, "ignored.txt", "not hcl")
	set, ds := LoadPolicies([]string{dir}, LoadOptions{Config: testConfig(t), Now: testNow})
	require.Len(t, set.Files, 2)
	require.Len(t, ds, 1, ds.Error())
	require.Equal(t, dir+"/b.hcl:3:1", Location(ds[0]))
	require.Contains(t, Message(ds[0]), `A policy named "p" is already defined at `+dir+"/a.hcl:1:1;")
	require.Len(t, set.Policies, 1)
}

func TestAllFilesReported(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "a.hcl", "policy \"a\" {\n")
	writeFile(t, dir, "b.hcl", strings.Replace(policy(), `"45m"`, `"45"`, 1))
	writeFile(t, dir, "c.hcl", strings.Replace(policy(), `policy "p"`, `policy "c"`, 1))
	set, ds := LoadPolicies([]string{dir}, LoadOptions{Config: testConfig(t), Now: testNow})
	errs, _ := Count(ds)
	require.Equal(t, 2, errs, ds.Error())
	Sort(ds)
	require.Equal(t, dir+"/a.hcl", ds[0].Subject.Filename)
	require.Equal(t, dir+"/b.hcl", ds[1].Subject.Filename)
	require.Len(t, set.Policies, 1, "the good file still loads")
	require.Equal(t, "c", set.Policies[0].Name)
}

func TestFaultSpecJSONRoundTrip(t *testing.T) {
	f := FaultSpec{Kind: FaultStop, Timeout: 10 * time.Second, RestoreAfter: 90 * time.Second}
	b, err := json.Marshal(f)
	require.NoError(t, err)
	require.JSONEq(t, `{"kind":"stop","timeout":"10s","restore_after":"1m30s"}`, string(b))
	var back FaultSpec
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, f, back)
}

func TestDegradeFaultsDecode(t *testing.T) {
	cases := []struct {
		name string
		body string
		want FaultSpec
	}{
		{"network", "  fault \"network\" {\n    delay = \"300ms\"\n    jitter = \"50ms\"\n    correlation = 25\n    loss = 5\n    rate = \"1mbit\"\n    duration = \"2m\"\n    to {\n      cidrs = [\"10.1.0.0/16\", \"10.2.3.4\"]\n      ports = [5432]\n      labels = { \"app\" = \"payments-api\" }\n    }\n  }\n",
			FaultSpec{Kind: FaultNetwork, Duration: 2 * time.Minute, Network: &NetFault{Delay: 300 * time.Millisecond, Jitter: 50 * time.Millisecond, Correlation: 25, Loss: 5, Rate: 1_000_000,
				To: &Destinations{CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("10.2.3.4/32")}, Ports: []int{5432}, Labels: map[string]string{"app": "payments-api"}}}}},
		{"partition", "  fault \"partition\" {\n    duration = \"2m\"\n    to {\n      labels = { \"app\" = \"vector-store\" }\n    }\n  }\n",
			FaultSpec{Kind: FaultPartition, Duration: 2 * time.Minute, Network: &NetFault{To: &Destinations{Labels: map[string]string{"app": "vector-store"}}}}},
		{"stress", "  fault \"stress\" {\n    cpu_workers = 2\n    memory = \"256MiB\"\n    duration = \"5m\"\n  }\n",
			FaultSpec{Kind: FaultStress, Duration: 5 * time.Minute, Stress: &StressFault{CPUWorkers: 2, CPULoad: 100, Memory: 256 << 20}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ps, ds := ParsePolicies([]byte(policy(tc.body)), "p.hcl", LoadOptions{Config: testConfig(t), Now: testNow})
			require.False(t, ds.HasErrors(), ds.Error())
			require.Len(t, ps, 1)
			require.Equal(t, tc.want, ps[0].Fault)
			require.Equal(t, tc.want.Duration, ps[0].Fault.Hold())
			// The ledger stores the spec as JSON: it must come back the same.
			b, err := json.Marshal(ps[0].Fault)
			require.NoError(t, err)
			var back FaultSpec
			require.NoError(t, json.Unmarshal(b, &back))
			require.Equal(t, tc.want, back)
		})
	}
}

func TestParseRateAndBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		err  string
	}{
		{"1mbit", 1_000_000, ""}, {"500kbit", 500_000, ""}, {"10mbps", 80_000_000, ""}, {"1.5Mbit", 1_500_000, ""},
		{"1mb", 0, `unknown rate unit "mb"`}, {"fast", 0, "is not a bandwidth"}, {"1bit", 0, "out of range"},
	} {
		got, err := ParseRate(tc.in)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	for _, tc := range []struct {
		in   string
		want uint64
		err  string
	}{
		{"256MiB", 256 << 20, ""}, {"1GiB", 1 << 30, ""}, {"500MB", 500e6, ""},
		{"12", 0, "is not a size"}, {"1KiB", 0, "out of range"}, {"3PB", 0, `unknown size unit "PB"`},
	} {
		got, err := ParseBytes(tc.in)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

func TestDuplicateNameReportedWhenBothPoliciesAreBroken(t *testing.T) {
	broken := strings.Replace(policy(), `"45m"`, `"45"`, 1)
	tests := []struct {
		name      string
		src       string
		wantErrs  int
		wantDupAt string
	}{
		{"both broken", broken + "\n" + broken, 3, "p.hcl:%d:1"},
		{"first broken", broken + "\n" + policy(), 2, "p.hcl:%d:1"},
		{"second broken", policy() + "\n" + broken, 2, "p.hcl:%d:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			second := strings.Count(strings.SplitN(tt.src, "\npolicy ", 2)[0], "\n") + 2
			ps, ds := ParsePolicies([]byte(tt.src), "p.hcl", LoadOptions{Config: testConfig(t), Now: testNow})
			errs, _ := Count(ds)
			require.Equal(t, tt.wantErrs, errs, ds.Error())
			var dups []*hcl.Diagnostic
			for _, d := range ds {
				if d.Summary == "Duplicate policy name" {
					dups = append(dups, d)
				}
			}
			require.Len(t, dups, 1, ds.Error())
			require.Equal(t, fmt.Sprintf(tt.wantDupAt, second), Location(dups[0]))
			require.Contains(t, Message(dups[0]), `A policy named "p" is already defined at p.hcl:1:1;`)
			for _, p := range ps {
				require.Equal(t, 1, p.DeclRange.Start.Line, "only the first declaration of a name may load")
			}
		})
	}
}
