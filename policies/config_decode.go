package policies

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

var configSpec = blockSpec{
	attrs: []string{"data_dir", "policy_dir", "log_level", "log_json", "dry_run", "seed"},
	blocks: []hcl.BlockHeaderSchema{
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
func LoadConfig(path string) (*Config, Sources, hcl.Diagnostics) {
	src, err := os.ReadFile(path)
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
func ParseConfig(src []byte, filename string) (*Config, Sources, hcl.Diagnostics) {
	file, ds := hclparse.NewParser().ParseHCL(src, filename)
	srcs := Sources{filename: file}
	if file == nil || ds.HasErrors() {
		return nil, srcs, ds
	}
	d := &diags{list: ds}
	cfg := decodeConfig(d, file.Body, filename)
	if d.list.HasErrors() {
		return nil, srcs, d.list
	}
	return cfg, srcs, d.list
}

func decodeConfig(d *diags, body hcl.Body, filename string) *Config {
	b := d.readBody(body, "", nil, hcl.Range{Filename: filename, Start: hcl.InitialPos, End: hcl.InitialPos}, nil, configSpec)
	c := DefaultConfig()
	c.File = filename
	l := &loader{cfg: c}
	for name, dst := range map[string]*string{"data_dir": &c.DataDir, "policy_dir": &c.PolicyDir} {
		if a := b.attrs[name]; a != nil {
			if s, ok := d.str(a); ok {
				if s == "" {
					d.errorf(a.Expr.Range(), "Invalid value", "%s must not be empty.", name)
				}
				*dst = s
			}
		}
	}
	if a := b.attrs["log_level"]; a != nil {
		if s, ok := d.str(a); ok {
			c.LogLevel = strings.ToLower(s)
			if !contains(LogLevels, c.LogLevel) {
				d.errorf(a.Expr.Range(), "Invalid log level", "log_level %q is not known; use %s.", s, oneOf(LogLevels))
			}
		}
	}
	if a := b.attrs["log_json"]; a != nil {
		c.LogJSON, _ = d.boolean(a)
	}
	if a := b.attrs["dry_run"]; a != nil {
		c.DryRun, _ = d.boolean(a)
	}
	if a := b.attrs["seed"]; a != nil {
		n, _ := d.integer(a, 0)
		c.Seed = int64(n)
	}
	if hb := d.atMostOne(b, "http"); hb != nil {
		ib := d.read(hb, blockSpec{attrs: []string{"address", "tokens_file"}})
		if a := ib.attrs["address"]; a != nil {
			if s, ok := d.str(a); ok {
				if _, _, err := net.SplitHostPort(s); err != nil {
					d.errorf(a.Expr.Range(), "Invalid address", "address must be host:port, e.g. \"127.0.0.1:8742\": %s.", err)
				}
				c.HTTP.Address = s
			}
		}
		if a := ib.attrs["tokens_file"]; a != nil {
			c.HTTP.TokensFile, _ = d.str(a)
		}
	}
	seen := map[string]hcl.Range{}
	unique := func(hb *hcl.Block) {
		key := hb.Type + "/" + hb.Labels[0]
		if first, ok := seen[key]; ok {
			d.errorf(hb.LabelRanges[0], "Duplicate "+hb.Type+" block", "A %s block named %q is already defined at %s.", hb.Type, hb.Labels[0], first.String())
		}
		seen[key] = hb.DefRange
	}
	for _, hb := range b.ofType("docker") {
		unique(hb)
		c.Docker = append(c.Docker, decodeDocker(d, hb))
	}
	for _, hb := range b.ofType("nomad") {
		unique(hb)
		ib := d.read(hb, blockSpec{attrs: []string{"address", "region", "token_env"}})
		n := NomadCluster{Name: hb.Labels[0], Address: "http://127.0.0.1:4646", TokenEnv: "NOMAD_TOKEN"}
		if a := ib.attrs["address"]; a != nil {
			n.Address, _ = d.httpURL(a)
		}
		if a := ib.attrs["region"]; a != nil {
			n.Region, _ = d.str(a)
		}
		if a := ib.attrs["token_env"]; a != nil {
			n.TokenEnv, _ = d.str(a)
		}
		c.Nomad = append(c.Nomad, n)
	}
	if hb := d.atMostOne(b, "consul"); hb != nil {
		ib := d.read(hb, blockSpec{attrs: []string{"address", "prefix", "token_env", "session_ttl", "lock_delay"}})
		cc := &ConsulConfig{Address: "127.0.0.1:8500", Prefix: DefaultConsulPrefix, TokenEnv: "CONSUL_HTTP_TOKEN",
			SessionTTL: DefaultSessionTTL, LockDelay: DefaultLockDelay}
		if a := ib.attrs["session_ttl"]; a != nil {
			if v, ok := d.duration(a, 1e9); ok {
				if v > 24*time.Hour {
					d.errorf(a.Expr.Range(), "Invalid duration", "session_ttl must be at most 24h (a Consul limit), got %s.", FormatDuration(v))
				}
				cc.SessionTTL = v
			}
		}
		if a := ib.attrs["lock_delay"]; a != nil {
			cc.LockDelay, _ = d.duration(a, 0)
		}
		if a := ib.attrs["address"]; a != nil {
			cc.Address, _ = d.str(a)
		}
		if a := ib.attrs["prefix"]; a != nil {
			if s, ok := d.str(a); ok {
				if s == "" || strings.HasPrefix(s, "/") {
					d.errorf(a.Expr.Range(), "Invalid prefix", "prefix must be a non-empty Consul KV path without a leading slash, e.g. \"tumult/\".")
				}
				cc.Prefix = s
			}
		}
		if a := ib.attrs["token_env"]; a != nil {
			cc.TokenEnv, _ = d.str(a)
		}
		c.Consul = cc
	}
	for _, hb := range b.ofType("alertmanager") {
		unique(hb)
		ib := d.read(hb, blockSpec{attrs: []string{"address", "poll_interval"}, required: []string{"address"}})
		am := AlertmanagerSource{Name: hb.Labels[0], PollInterval: DefaultPollInterval}
		if a := ib.attrs["address"]; a != nil {
			am.Address, _ = d.httpURL(a)
		}
		if a := ib.attrs["poll_interval"]; a != nil {
			am.PollInterval, _ = d.duration(a, 100*1e6)
		}
		c.Alertmanagers = append(c.Alertmanagers, am)
	}
	for _, hb := range b.ofType("prometheus") {
		unique(hb)
		ib := d.read(hb, blockSpec{attrs: []string{"address"}, required: []string{"address"}})
		p := PrometheusSource{Name: hb.Labels[0]}
		if a := ib.attrs["address"]; a != nil {
			p.Address, _ = d.httpURL(a)
		}
		c.Prometheus = append(c.Prometheus, p)
	}
	if hb := d.atMostOne(b, "safety"); hb != nil {
		ib := d.read(hb, blockSpec{attrs: []string{"opt_in_label", "protect"}})
		if a := ib.attrs["opt_in_label"]; a != nil {
			if s, ok := d.str(a); ok {
				if s == "" {
					d.errorf(a.Expr.Range(), "Invalid value", "opt_in_label must not be empty: opt-in cannot be turned off.")
				}
				c.Safety.OptInLabel = s
			}
		}
		if a := ib.attrs["protect"]; a != nil {
			c.Safety.Protect, _ = d.stringMap(a)
		}
	}
	if hb := d.atMostOne(b, "guardian"); hb != nil {
		ib := d.read(hb, blockSpec{
			attrs:  []string{"stale_after", "resume", "clear_for", "announce"},
			blocks: []hcl.BlockHeaderSchema{{Type: "halt_on"}},
		})
		g := &c.Guardian
		if ho := d.atMostOne(ib, "halt_on"); ho != nil {
			g.HaltOn = l.decodeHaltOn(d, ho)
		}
		if a := ib.attrs["stale_after"]; a != nil {
			g.StaleAfter, _ = d.duration(a, 1e9)
		}
		if a := ib.attrs["resume"]; a != nil {
			if s, ok := d.str(a); ok {
				if s != ResumeManual && s != ResumeAuto {
					d.errorf(a.Expr.Range(), "Invalid resume mode", "resume must be %s; got %q.", oneOf([]string{ResumeManual, ResumeAuto}), s)
				}
				g.Resume = s
			}
		}
		if a := ib.attrs["clear_for"]; a != nil {
			g.ClearFor, _ = d.duration(a, 1e9)
		}
		if a := ib.attrs["announce"]; a != nil {
			g.Announce = l.reference(d, ib, "announce", "alertmanager")
		}
	}
	for i, am := range c.Alertmanagers {
		if am.PollInterval >= c.Guardian.StaleAfter {
			hb := b.ofType("alertmanager")[i]
			d.errorf(hb.DefRange, "Poll slower than stale_after", "alertmanager %q is polled every %s but guardian.stale_after is %s: it would look unreadable between polls and halt tumult. Poll at most every %s.",
				am.Name, FormatDuration(am.PollInterval), FormatDuration(c.Guardian.StaleAfter), FormatDuration(c.Guardian.StaleAfter/3))
		}
	}
	return c
}

func decodeDocker(d *diags, hb *hcl.Block) DockerEndpoint {
	ib := d.read(hb, blockSpec{attrs: []string{"host"}, blocks: []hcl.BlockHeaderSchema{{Type: "tls"}}})
	e := DockerEndpoint{Name: hb.Labels[0], Host: "unix:///var/run/docker.sock"}
	if a := ib.attrs["host"]; a != nil {
		if s, ok := d.str(a); ok {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "unix" && u.Scheme != "tcp" && u.Scheme != "http" && u.Scheme != "https") {
				d.errorf(a.Expr.Range(), "Invalid docker host", "host must be unix:///path/to/docker.sock or tcp://host:port; got %q.", s)
			}
			e.Host = s
		}
	}
	if tb := d.atMostOne(ib, "tls"); tb != nil {
		t := d.read(tb, blockSpec{attrs: []string{"ca_file", "cert_file", "key_file"}})
		e.TLS = &TLSFiles{}
		for name, dst := range map[string]*string{"ca_file": &e.TLS.CAFile, "cert_file": &e.TLS.CertFile, "key_file": &e.TLS.KeyFile} {
			if a := t.attrs[name]; a != nil {
				*dst, _ = d.str(a)
			}
		}
		if (e.TLS.CertFile == "") != (e.TLS.KeyFile == "") {
			d.errorf(tb.DefRange, "Incomplete TLS client key pair", "cert_file and key_file go together: set both or neither.")
		}
	}
	return e
}

// httpURL reads an http(s) base URL.
func (d *diags) httpURL(a *hcl.Attribute) (string, bool) {
	s, ok := d.str(a)
	if !ok {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		d.errorf(a.Expr.Range(), "Invalid address", "%s must be an http:// or https:// URL, e.g. \"http://127.0.0.1:9090\"; got %q.", a.Name, s)
		return s, false
	}
	return strings.TrimRight(s, "/"), true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// String describes where the config came from, for messages.
func (c *Config) String() string {
	if c.File == "" {
		return "built-in config"
	}
	return fmt.Sprintf("agent config %s", c.File)
}
