package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/internal/hcltest"
	"github.com/inferensys/tumult/policies"
)

func TestConfigDefaults(t *testing.T) {
	cfg, _, ds := ParseConfig([]byte(""), "t.hcl")
	require.False(t, ds.HasErrors(), ds.Error())
	want := DefaultConfig()
	want.File = "t.hcl"
	require.Equal(t, want, cfg)
	require.Equal(t, "127.0.0.1:8742", cfg.HTTP.Address)
	require.Equal(t, "tumult.enable", cfg.Safety.OptInLabel)
	require.Equal(t, 15*time.Second, cfg.Guardian.StaleAfter)
	require.Equal(t, ResumeManual, cfg.Guardian.Resume)
}

// TestConsulDefaults: a bare consul block takes over from a killed leader
// within liveness_ttl + lock_delay (1.5s + 2s), and its lock-delay
// outlasts the leader's own fence by FenceMargin.
func TestConsulDefaults(t *testing.T) {
	cfg, _, ds := ParseConfig([]byte("consul {}\n"), "t.hcl")
	require.False(t, ds.HasErrors(), ds.Error())
	require.Equal(t, &ConsulConfig{Address: "127.0.0.1:8500", Prefix: "tumult/", TokenEnv: "CONSUL_HTTP_TOKEN",
		SessionTTL: 10 * time.Second, LivenessTTL: 1500 * time.Millisecond, LockDelay: 2 * time.Second}, cfg.Consul)
	require.Equal(t, cfg.Consul.LivenessTTL+FenceMargin, cfg.Consul.LockDelay)

	cfg, _, ds = ParseConfig([]byte("consul {\n  liveness_ttl = \"3s\"\n  lock_delay = \"3500ms\"\n}\n"), "t.hcl")
	require.False(t, ds.HasErrors(), ds.Error())
	require.Equal(t, 3*time.Second, cfg.Consul.LivenessTTL)
	require.Equal(t, 3500*time.Millisecond, cfg.Consul.LockDelay)
}

func TestConfigFull(t *testing.T) {
	src := `
data_dir   = "/var/lib/tumult"
policy_dir = "/etc/tumult/policies"
log_level  = "DEBUG"
log_json   = true
dry_run    = true
seed       = 42
http {
  address     = "0.0.0.0:9000"
  tokens_file = "/etc/tumult/tokens"
}
docker "local" {
  host = "unix:///var/run/docker.sock"
}
docker "remote" {
  host         = "tcp://10.0.0.5:2376"
  helper_image = "registry.example.com/tumult-helper:1.4"
  tls {
    ca_file   = "ca.pem"
    cert_file = "cert.pem"
    key_file  = "key.pem"
  }
}
nomad "prod" {
  address   = "http://127.0.0.1:4646/"
  region    = "eu"
  token_env = "NOMAD_TOKEN"
}
consul {
  address    = "127.0.0.1:8500"
  prefix     = "chaos/"
  lock_delay = "3s"
}
alertmanager "main" {
  address       = "http://127.0.0.1:9093"
  poll_interval = "2s"
}
prometheus "main" {
  address = "http://127.0.0.1:9090"
}
safety {
  opt_in_label = "chaos.ok"
  protect      = { "role" = "infra", "tier" = "db" }
}
guardian {
  halt_on {
    alert {
      matchers = ["severity=\"page\""]
    }
  }
  stale_after = "30s"
  resume      = "auto"
  clear_for   = "5m"
  announce    = "main"
}
`
	cfg, _, ds := ParseConfig([]byte(src), "t.hcl")
	require.False(t, ds.HasErrors(), ds.Error())
	require.Equal(t, "debug", cfg.LogLevel)
	require.True(t, cfg.LogJSON)
	require.True(t, cfg.DryRun)
	require.Equal(t, int64(42), cfg.Seed)
	require.Equal(t, HTTPConfig{Address: "0.0.0.0:9000", TokensFile: "/etc/tumult/tokens"}, cfg.HTTP)
	require.Equal(t, []DockerEndpoint{
		{Name: "local", Host: "unix:///var/run/docker.sock"},
		{Name: "remote", Host: "tcp://10.0.0.5:2376", HelperImage: "registry.example.com/tumult-helper:1.4", TLS: &TLSFiles{CAFile: "ca.pem", CertFile: "cert.pem", KeyFile: "key.pem"}},
	}, cfg.Docker)
	require.Equal(t, []NomadCluster{{Name: "prod", Address: "http://127.0.0.1:4646", Region: "eu", TokenEnv: "NOMAD_TOKEN"}}, cfg.Nomad)
	require.Equal(t, &ConsulConfig{Address: "127.0.0.1:8500", Prefix: "chaos/", TokenEnv: "CONSUL_HTTP_TOKEN", SessionTTL: 10 * time.Second, LivenessTTL: 1500 * time.Millisecond, LockDelay: 3 * time.Second}, cfg.Consul)
	require.Equal(t, []AlertmanagerSource{{Name: "main", Address: "http://127.0.0.1:9093", PollInterval: 2 * time.Second}}, cfg.Alertmanagers)
	require.Equal(t, Safety{OptInLabel: "chaos.ok", Protect: map[string]string{"role": "infra", "tier": "db"}}, cfg.Safety)
	require.Equal(t, "main", cfg.Guardian.Announce)
	require.Equal(t, ResumeAuto, cfg.Guardian.Resume)
	require.Equal(t, 5*time.Minute, cfg.Guardian.ClearFor)
	require.Len(t, cfg.Guardian.HaltOn.Alerts, 1)
	require.Equal(t, "main", cfg.Guardian.HaltOn.Alerts[0].Alertmanager, "defaults to the only alertmanager")
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string
	}{
		{"unknown attribute", "‸colour = \"red\"\n", `An argument named "colour" is not expected here`},
		{"bad log level", "log_level = ‸\"loud\"\n", `log_level "loud" is not known`},
		{"bad http address", "http {\n  address = ‸\"8742\"\n}\n", "address must be host:port"},
		{"bad docker host", "docker \"x\" {\n  host = ‸\"ftp://x\"\n}\n", "host must be unix:///path/to/docker.sock or tcp://host:port"},
		{"duplicate docker", "docker \"x\" {}\ndocker ‸\"x\" {}\n", `A docker block named "x" is already defined at t.hcl:1:1.`},
		{"alertmanager without address", "‸alertmanager \"a\" {}\n", `The argument "address" is required in a alertmanager block`},
		{"bad prometheus url", "prometheus \"p\" {\n  address = ‸\"127.0.0.1:9090\"\n}\n", "address must be an http:// or https:// URL"},
		{"bad resume", "guardian {\n  resume = ‸\"sometimes\"\n}\n", `resume must be "manual" or "auto"`},
		{"announce unknown", "alertmanager \"a\" {\n  address = \"http://127.0.0.1:9093\"\n}\nguardian {\n  announce = ‸\"b\"\n}\n", `announce "b" is not a alertmanager block`},
		{"empty opt-in label", "safety {\n  opt_in_label = ‸\"\"\n}\n", "opt-in cannot be turned off"},
		{"half a key pair", "docker \"x\" {\n  ‸tls {\n    cert_file = \"c\"\n  }\n}\n", "cert_file and key_file go together"},
		{"blank helper image", "docker \"x\" {\n  helper_image = ‸\" \"\n}\n", "helper_image must be an image reference"},
		{"two consul blocks", "consul {}\n‸consul {}\n", "Only one consul block is allowed here"},
		{"poll interval too short", "alertmanager \"a\" {\n  address = \"http://127.0.0.1:9093\"\n  poll_interval = ‸\"1ms\"\n}\n", "poll_interval must be at least"},
		{"poll slower than stale_after", "‸alertmanager \"a\" {\n  address = \"http://127.0.0.1:9093\"\n  poll_interval = \"20s\"\n}\n", "polled every 20s but guardian.stale_after is 15s"},
		{"bad stale_after, and no false error after it", "alertmanager \"a\" {\n  address = \"http://127.0.0.1:9093\"\n  poll_interval = \"1s\"\n}\nguardian {\n  stale_after = ‸\"15\"\n}\n", `stale_after: "15" is not a duration`},
		{"bad clear_for", "guardian {\n  clear_for = ‸\"zz\"\n}\n", `clear_for: "zz" is not a duration`},
		{"lock_delay shorter than the fence", "consul {\n  lock_delay = ‸\"1s\"\n}\n", "lock_delay is 1s; it must be at least liveness_ttl (1s500ms) + 500ms = 2s"},
		{"liveness_ttl raises the floor", "consul {\n  liveness_ttl = \"3s\"\n  lock_delay   = ‸\"3s\"\n}\n", "at least liveness_ttl (3s) + 500ms = 3s500ms"},
		{"default lock_delay under a long liveness_ttl", "‸consul {\n  liveness_ttl = \"5s\"\n}\n", "lock_delay is 2s; it must be at least liveness_ttl (5s)"},
		{"lock_delay over Consul's limit", "consul {\n  lock_delay = ‸\"2m\"\n}\n", "lock_delay must be at most 1m"},
		{"liveness_ttl too short", "consul {\n  liveness_ttl = ‸\"100ms\"\n}\n", "at least"},
		{"consul_service without consul", "guardian {\n  halt_on {\n    ‸consul_service {\n      service = \"api\"\n    }\n  }\n}\n", "needs a consul block in the agent config"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, locs := hcltest.Located(tc.src)
			require.Len(t, locs, 1)
			cfg, _, ds := ParseConfig([]byte(src), "t.hcl")
			require.Nil(t, cfg)
			var errs hcl.Diagnostics
			for _, d := range ds {
				if d.Severity == hcl.DiagError {
					errs = append(errs, d)
				}
			}
			require.Len(t, errs, 1, ds.Error())
			require.Contains(t, policies.Message(errs[0]), tc.want)
			require.Equal(t, "t.hcl:"+locs[0], policies.Location(errs[0]))
		})
	}
}

func TestLoadConfigResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tumult.hcl")
	require.NoError(t, os.WriteFile(p, []byte("data_dir = \"data\"\npolicy_dir = \"policies\"\nhttp {\n  tokens_file = \"/abs/tokens\"\n}\n"), 0o644))
	cfg, _, ds := LoadConfig(p)
	require.False(t, ds.HasErrors(), ds.Error())
	require.Equal(t, filepath.Join(dir, "data"), cfg.DataDir)
	require.Equal(t, filepath.Join(dir, "policies"), cfg.PolicyDir)
	require.Equal(t, "/abs/tokens", cfg.HTTP.TokensFile)

	_, _, ds = LoadConfig(filepath.Join(dir, "missing.hcl"))
	require.True(t, ds.HasErrors())
	require.Contains(t, ds.Error(), "missing.hcl")
}

func TestExamplesAreValid(t *testing.T) {
	cfg, _, ds := LoadConfig("../examples/tumult.hcl")
	require.False(t, ds.HasErrors(), ds.Error())
	set, ds := policies.LoadPolicies([]string{cfg.PolicyDir}, policies.LoadOptions{Config: cfg, Now: testNow})
	require.Empty(t, ds, "examples should be free of errors and warnings: %s", ds.Error())
	require.GreaterOrEqual(t, len(set.Policies), 3)
}

var testNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
