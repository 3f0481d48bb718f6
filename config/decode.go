package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/inferensys/tumult/internal/fileread"
	"github.com/inferensys/tumult/internal/hclread"
	"github.com/inferensys/tumult/policies"
)

var configSpec = hclread.Spec{
	Attrs: []string{"data_dir", "policy_dir", "log_level", "log_json", "dry_run", "seed"},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "http"},
		{Type: "docker", LabelNames: []string{"name"}},
		{Type: "nomad", LabelNames: []string{"name"}},
		{Type: "consul"},
		{Type: "alertmanager", LabelNames: []string{"name"}},
		{Type: "prometheus", LabelNames: []string{"name"}},
		{Type: "safety"},
		{Type: "guardian"},
	},
}

// LogLevels are the accepted values of log_level.
var LogLevels = []string{"trace", "debug", "info", "warn", "error"}

// DefaultConfig is the config with every default applied and no blocks.
func DefaultConfig() *Config {
	return &Config{
		DataDir:   DefaultDataDir,
		PolicyDir: DefaultPolicyDir,
		LogLevel:  "info",
		HTTP:      HTTPConfig{Address: DefaultHTTPAddress},
		Safety:    Safety{OptInLabel: DefaultOptInLabel, Protect: map[string]string{}},
		Guardian:  GuardianConfig{StaleAfter: DefaultStaleAfter, Resume: ResumeManual, ClearFor: DefaultClearFor},
	}
}

// LoadConfig reads the agent config file. Relative data_dir and
// policy_dir are taken relative to the file's directory.
func LoadConfig(path string) (*Config, policies.Sources, hcl.Diagnostics) {
	src, err := fileread.Regular(path, fileread.MaxConfigFile)
	if err != nil {
		return nil, nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Cannot read agent config", Detail: err.Error()}}
	}
	cfg, srcs, ds := ParseConfig(src, path)
	if cfg != nil {
		base := filepath.Dir(path)
		for _, p := range []*string{&cfg.DataDir, &cfg.PolicyDir, &cfg.HTTP.TokensFile} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(base, *p)
			}
		}
	}
	return cfg, srcs, ds
}

// ParseConfig decodes an agent config held in memory, as if read from
// filename.
func ParseConfig(src []byte, filename string) (*Config, policies.Sources, hcl.Diagnostics) {
	file, ds := hclparse.NewParser().ParseHCL(src, filename)
	srcs := policies.Sources{filename: file}
	if file == nil || ds.HasErrors() {
		return nil, srcs, ds
	}
	d := &hclread.Diags{List: ds}
	cfg := decodeConfig(d, file.Body, filename)
	if d.List.HasErrors() {
		return nil, srcs, d.List
	}
	return cfg, srcs, d.List
}

func decodeConfig(d *hclread.Diags, body hcl.Body, filename string) *Config {
	b := d.ReadBody(body, "", nil, hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}, nil, configSpec)
	c := DefaultConfig()
	c.File = filename
	for name, dst := range map[string]*string{"data_dir": &c.DataDir, "policy_dir": &c.PolicyDir} {
		if a := b.Attrs[name]; a != nil {
			if s, ok := d.Str(a); ok {
				if s == "" {
					d.Errorf(a.Expr.Range(), "Invalid value", "%s must not be empty.", name)
				}
				*dst = s
				if name == "policy_dir" {
					c.PolicyDirAt = a.Expr.Range()
				}
			}
		}
	}
	if a := b.Attrs["log_level"]; a != nil {
		if s, ok := d.Str(a); ok {
			c.LogLevel = strings.ToLower(s)
			if !slices.Contains(LogLevels, c.LogLevel) {
				d.Errorf(a.Expr.Range(), "Invalid log level", "log_level %q is not known; use %s.", s, hclread.OneOf(LogLevels))
			}
		}
	}
	if a := b.Attrs["log_json"]; a != nil {
		c.LogJSON, _ = d.Bool(a)
	}
	if a := b.Attrs["dry_run"]; a != nil {
		c.DryRun, _ = d.Bool(a)
	}
	if a := b.Attrs["seed"]; a != nil {
		n, _ := d.Integer(a, 0)
		c.Seed = int64(n)
	}
	if hb := d.AtMostOne(b, "http"); hb != nil {
		ib := d.Read(hb, hclread.Spec{Attrs: []string{"address", "tokens_file"}})
		if a := ib.Attrs["address"]; a != nil {
			if s, ok := d.Str(a); ok {
				if _, _, err := net.SplitHostPort(s); err != nil {
					d.Errorf(a.Expr.Range(), "Invalid address", "address must be host:port, e.g. \"127.0.0.1:8742\": %s.", err)
				}
				c.HTTP.Address = s
			}
		}
		if a := ib.Attrs["tokens_file"]; a != nil {
			c.HTTP.TokensFile, _ = d.Str(a)
		}
	}
	seen := map[string]hcl.Range{}
	unique := func(hb *hcl.Block) {
		key := hb.Type + "/" + hb.Labels[0]
		if first, ok := seen[key]; ok {
			d.Errorf(hb.LabelRanges[0], "Duplicate "+hb.Type+" block", "A %s block named %q is already defined at %s.", hb.Type, hb.Labels[0], hclread.Pos(first))
		}
		seen[key] = hb.DefRange
	}
	for _, hb := range b.OfType("docker") {
		unique(hb)
		c.Docker = append(c.Docker, decodeDocker(d, hb))
	}
	for _, hb := range b.OfType("nomad") {
		unique(hb)
		ib := d.Read(hb, hclread.Spec{Attrs: []string{"address", "region", "token_env"}})
		n := NomadCluster{Name: hb.Labels[0], Address: DefaultNomadAddress, TokenEnv: DefaultNomadTokenEnv}
		if a := ib.Attrs["address"]; a != nil {
			n.Address, _ = httpURL(d, a)
		}
		if a := ib.Attrs["region"]; a != nil {
			n.Region, _ = d.Str(a)
		}
		if a := ib.Attrs["token_env"]; a != nil {
			n.TokenEnv, _ = d.Str(a)
		}
		c.Nomad = append(c.Nomad, n)
	}
	if hb := d.AtMostOne(b, "consul"); hb != nil {
		ib := d.Read(hb, hclread.Spec{Attrs: []string{"address", "prefix", "token_env", "session_ttl", "liveness_ttl", "lock_delay"}})
		cc := &ConsulConfig{Address: DefaultConsulAddress, Prefix: DefaultConsulPrefix, TokenEnv: DefaultConsulTokenEnv,
			SessionTTL: DefaultSessionTTL, LivenessTTL: DefaultLivenessTTL, LockDelay: DefaultLockDelay}
		if a := ib.Attrs["session_ttl"]; a != nil {
			if v, ok := d.Duration(a, 1e9); ok {
				if v > 24*time.Hour {
					d.Errorf(a.Expr.Range(), "Invalid duration", "session_ttl must be at most 24h (a Consul limit), got %s.", policies.FormatDuration(v))
				}
				cc.SessionTTL = v
			}
		}
		if a := ib.Attrs["liveness_ttl"]; a != nil {
			if v, ok := d.Duration(a, 500*time.Millisecond); ok {
				cc.LivenessTTL = v
			}
		}
		if a := ib.Attrs["lock_delay"]; a != nil {
			if v, ok := d.Duration(a, 0); ok {
				if v > time.Minute {
					d.Errorf(a.Expr.Range(), "Invalid duration", "lock_delay must be at most 1m (a Consul limit), got %s.", policies.FormatDuration(v))
				}
				cc.LockDelay = v
			}
		}
		if low := cc.LivenessTTL + FenceMargin; cc.LockDelay < low {
			// Where the user set it, else at the block.
			rng := hb.DefRange
			if a := ib.Attrs["lock_delay"]; a != nil {
				rng = a.Expr.Range()
			}
			d.Errorf(rng, "lock_delay too short",
				"lock_delay is %s; it must be at least liveness_ttl (%s) + %s = %s: a leader cut off from Consul stops injecting only liveness_ttl after its last liveness check update, and lock_delay is what keeps the next leader waiting until then.",
				policies.FormatDuration(cc.LockDelay), policies.FormatDuration(cc.LivenessTTL), policies.FormatDuration(FenceMargin), policies.FormatDuration(low))
		}
		if a := ib.Attrs["address"]; a != nil {
			cc.Address, _ = d.Str(a)
		}
		if a := ib.Attrs["prefix"]; a != nil {
			if s, ok := d.Str(a); ok {
				if s == "" || strings.HasPrefix(s, "/") {
					d.Errorf(a.Expr.Range(), "Invalid prefix", "prefix must be a non-empty Consul KV path without a leading slash, e.g. \"tumult/\".")
				}
				cc.Prefix = s
			}
		}
		if a := ib.Attrs["token_env"]; a != nil {
			cc.TokenEnv, _ = d.Str(a)
		}
		c.Consul = cc
	}
	for _, hb := range b.OfType("alertmanager") {
		unique(hb)
		ib := d.Read(hb, hclread.Spec{Attrs: []string{"address", "poll_interval"}, Required: []string{"address"}})
		am := AlertmanagerSource{Name: hb.Labels[0], PollInterval: DefaultPollInterval}
		if a := ib.Attrs["address"]; a != nil {
			am.Address, _ = httpURL(d, a)
		}
		if a := ib.Attrs["poll_interval"]; a != nil {
			am.PollInterval = durationOr(d, a, 100*time.Millisecond, am.PollInterval)
		}
		c.Alertmanagers = append(c.Alertmanagers, am)
	}
	for _, hb := range b.OfType("prometheus") {
		unique(hb)
		ib := d.Read(hb, hclread.Spec{Attrs: []string{"address"}, Required: []string{"address"}})
		p := PrometheusSource{Name: hb.Labels[0]}
		if a := ib.Attrs["address"]; a != nil {
			p.Address, _ = httpURL(d, a)
		}
		c.Prometheus = append(c.Prometheus, p)
	}
	if hb := d.AtMostOne(b, "safety"); hb != nil {
		ib := d.Read(hb, hclread.Spec{Attrs: []string{"opt_in_label", "protect"}})
		if a := ib.Attrs["opt_in_label"]; a != nil {
			if s, ok := d.Str(a); ok {
				if s == "" {
					d.Errorf(a.Expr.Range(), "Invalid value", "opt_in_label must not be empty: opt-in cannot be turned off.")
				}
				c.Safety.OptInLabel = s
			}
		}
		if a := ib.Attrs["protect"]; a != nil {
			c.Safety.Protect, _ = d.StringMap(a)
		}
	}
	if hb := d.AtMostOne(b, "guardian"); hb != nil {
		ib := d.Read(hb, hclread.Spec{
			Attrs:  []string{"stale_after", "resume", "clear_for", "announce"},
			Blocks: []hcl.BlockHeaderSchema{{Type: "halt_on"}},
		})
		g := &c.Guardian
		if ho := d.AtMostOne(ib, "halt_on"); ho != nil {
			g.HaltOn = policies.DecodeHaltOn(d, ho, c)
		}
		if a := ib.Attrs["stale_after"]; a != nil {
			g.StaleAfter = durationOr(d, a, time.Second, g.StaleAfter)
		}
		if a := ib.Attrs["resume"]; a != nil {
			if s, ok := d.Str(a); ok {
				if s != ResumeManual && s != ResumeAuto {
					d.Errorf(a.Expr.Range(), "Invalid resume mode", "resume must be %s; got %q.", hclread.OneOf([]string{ResumeManual, ResumeAuto}), s)
				}
				g.Resume = s
			}
		}
		if a := ib.Attrs["clear_for"]; a != nil {
			g.ClearFor = durationOr(d, a, time.Second, g.ClearFor)
		}
		if a := ib.Attrs["announce"]; a != nil {
			g.Announce = policies.Reference(d, ib, "announce", "alertmanager", c)
		}
	}
	for i, am := range c.Alertmanagers {
		if am.PollInterval >= c.Guardian.StaleAfter {
			hb := b.OfType("alertmanager")[i]
			d.Errorf(hb.DefRange, "Poll slower than stale_after", "alertmanager %q is polled every %s but guardian.stale_after is %s: it would look unreadable between polls and halt tumult. Poll at most every %s.",
				am.Name, policies.FormatDuration(am.PollInterval), policies.FormatDuration(c.Guardian.StaleAfter), policies.FormatDuration(c.Guardian.StaleAfter/3))
		}
	}
	return c
}

func decodeDocker(d *hclread.Diags, hb *hcl.Block) DockerEndpoint {
	ib := d.Read(hb, hclread.Spec{Attrs: []string{"host", "helper_image"}, Blocks: []hcl.BlockHeaderSchema{{Type: "tls"}}})
	e := DockerEndpoint{Name: hb.Labels[0], Host: DefaultDockerHost}
	if a := ib.Attrs["host"]; a != nil {
		if s, ok := d.Str(a); ok {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "unix" && u.Scheme != "tcp" && u.Scheme != "http" && u.Scheme != "https") {
				d.Errorf(a.Expr.Range(), "Invalid docker host", "host must be unix:///path/to/docker.sock or tcp://host:port; got %q.", s)
			}
			e.Host = s
		}
	}
	if a := ib.Attrs["helper_image"]; a != nil {
		if s, ok := d.Str(a); ok {
			if strings.TrimSpace(s) == "" || strings.ContainsAny(s, " \t\n") {
				d.Errorf(a.Expr.Range(), "Invalid helper image", "helper_image must be an image reference such as \"registry.example.com/tumult-helper:1.4\"; got %q.", s)
			}
			e.HelperImage = s
		}
	}
	if tb := d.AtMostOne(ib, "tls"); tb != nil {
		t := d.Read(tb, hclread.Spec{Attrs: []string{"ca_file", "cert_file", "key_file"}})
		e.TLS = &TLSFiles{}
		for name, dst := range map[string]*string{"ca_file": &e.TLS.CAFile, "cert_file": &e.TLS.CertFile, "key_file": &e.TLS.KeyFile} {
			if a := t.Attrs[name]; a != nil {
				*dst, _ = d.Str(a)
			}
		}
		if (e.TLS.CertFile == "") != (e.TLS.KeyFile == "") {
			d.Errorf(tb.DefRange, "Incomplete TLS client key pair", "cert_file and key_file go together: set both or neither.")
		}
	}
	return e
}

// httpURL reads an http(s) base URL.
func httpURL(d *hclread.Diags, a *hcl.Attribute) (string, bool) {
	s, ok := d.Str(a)
	if !ok {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		d.Errorf(a.Expr.Range(), "Invalid address", "%s must be an http:// or https:// URL, e.g. \"http://127.0.0.1:9090\"; got %q.", a.Name, s)
		return s, false
	}
	return strings.TrimRight(s, "/"), true
}

// String describes where the config came from, for messages.
func (c *Config) String() string {
	if c.File == "" {
		return "built-in config"
	}
	return fmt.Sprintf("agent config %s", c.File)
}

// durationOr is the duration a holds (at least min), or def when it is
// refused: the refusal is reported where it was written, and checks that
// depend on the value (a poll interval under stale_after) must not report
// it again as a second, false error about 0s.
func durationOr(d *hclread.Diags, a *hcl.Attribute, min, def time.Duration) time.Duration {
	if v, ok := d.Duration(a, min); ok {
		return v
	}
	return def
}
