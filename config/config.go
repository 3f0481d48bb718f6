package config

import (
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/inferensys/tumult/policies"
)

// Config is the agent config (tumult.hcl).
type Config struct {
	DataDir   string
	PolicyDir string
	LogLevel  string
	LogJSON   bool
	DryRun    bool
	Seed      int64

	HTTP          HTTPConfig
	Docker        []DockerEndpoint
	Nomad         []NomadCluster
	Consul        *ConsulConfig
	Alertmanagers []AlertmanagerSource
	Prometheus    []PrometheusSource
	Safety        Safety
	Guardian      GuardianConfig

	// File is where the config was read from; empty for built-in configs.
	File string
	// PolicyDirAt is where policy_dir is written in File, so that a
	// directory that cannot be read is reported there; zero when the
	// default is used.
	PolicyDirAt hcl.Range
}

// HTTPConfig is the API listener.
type HTTPConfig struct {
	Address    string
	TokensFile string
}

// TLSFiles are PEM files for a TLS client.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// DockerEndpoint is one Docker engine.
type DockerEndpoint struct {
	Name string
	Host string
	TLS  *TLSFiles
	// HelperImage is the image of tumult's helper containers (network,
	// partition and stress faults), present on the engine; empty: tumult
	// builds its own there from its binary.
	HelperImage string
}

// NomadCluster is one Nomad cluster.
type NomadCluster struct {
	Name     string
	Address  string
	Region   string
	TokenEnv string
}

// ConsulConfig enables the shared ledger and leader election.
type ConsulConfig struct {
	Address  string
	Prefix   string
	TokenEnv string
	// SessionTTL, LivenessTTL and LockDelay tune leader election: a
	// killed leader's lock is free LivenessTTL after its last liveness
	// check update, and a follower leads LockDelay after that.
	// LockDelay is at least LivenessTTL + FenceMargin (checked on
	// decoding); see DefaultLockDelay for why.
	SessionTTL  time.Duration
	LivenessTTL time.Duration
	LockDelay   time.Duration
}

// AlertmanagerSource is one Alertmanager that tumult polls and announces to.
type AlertmanagerSource struct {
	Name         string
	Address      string
	PollInterval time.Duration
}

// PrometheusSource is one Prometheus that tumult queries.
type PrometheusSource struct {
	Name    string
	Address string
}

// Safety holds the rules no policy can override.
type Safety struct {
	// OptInLabel is the Docker label / Nomad job meta key that must be
	// "true" on a member for tumult to touch it.
	OptInLabel string
	// Protect: members carrying any of these label values are never touched.
	Protect map[string]string
}

// Resume modes of the guardian.
const (
	ResumeManual = "manual"
	ResumeAuto   = "auto"
)

// GuardianConfig holds global trip wires and how the guardian behaves.
type GuardianConfig struct {
	HaltOn     policies.HaltOn
	StaleAfter time.Duration
	Resume     string
	ClearFor   time.Duration
	Announce   string
}

// Defaults of the agent config, applied where an attribute is left out.
// The consul block's defaults are the shared ledger's and election's too
// (package ledger/consul takes them from here).
const (
	DefaultDataDir      = "/var/lib/tumult"
	DefaultPolicyDir    = "/etc/tumult/policies"
	DefaultHTTPAddress  = "127.0.0.1:8742"
	DefaultOptInLabel   = "tumult.enable"
	DefaultPollInterval = time.Second
	DefaultStaleAfter   = 15 * time.Second
	DefaultClearFor     = 10 * time.Minute

	DefaultDockerHost    = "unix:///var/run/docker.sock"
	DefaultNomadAddress  = "http://127.0.0.1:4646"
	DefaultNomadTokenEnv = "NOMAD_TOKEN"

	DefaultConsulAddress  = "127.0.0.1:8500"
	DefaultConsulTokenEnv = "CONSUL_HTTP_TOKEN"
	// DefaultConsulPrefix is where the shared ledger lives in Consul's KV
	// store; replicas sharing a prefix share the ledger.
	DefaultConsulPrefix = "tumult/"
	// DefaultSessionTTL is Consul's smallest session TTL by default
	// (session_ttl_min). It is the backstop, not what notices a crash:
	// sessions are tied to the liveness check (LivenessTTL), which Consul
	// turns critical, invalidating the session, much sooner. Alone —
	// when the check cannot be registered — Consul invalidates a session
	// only up to twice the TTL after its last renewal.
	DefaultSessionTTL = 10 * time.Second
	// DefaultLivenessTTL is the TTL of each replica's liveness check,
	// updated four times per TTL. A killed leader's check turns critical
	// one LivenessTTL after its last update, and Consul invalidates its
	// session then; a leader that cannot update its check stops leading
	// (it fences itself) one LivenessTTL after the last update it sent
	// that succeeded. 1.5s leaves a busy replica ~1.1s of missed updates
	// before it loses the lock for nothing.
	DefaultLivenessTTL = 1500 * time.Millisecond
	// DefaultLockDelay is how long Consul keeps the lock from being taken
	// after the holder's session was invalidated (a crash, a partition, a
	// destroy; not a clean release). It must outlast the old leader's
	// own fence, LivenessTTL after its last successful check update,
	// whatever invalidated the session:
	//
	//   - The update was sent at s (leader's clock) and reached the Consul
	//     agent at r ≥ s, whose TTL timer starts then; with the two
	//     clocks' rates within ρ of each other, the check turns critical
	//     at real time ≥ s + TTL·(1−ρ), and the leader stops at
	//     ≤ s + TTL·(1+ρ). On the crash path the fence so comes first
	//     but for 2ρ·TTL (NTP slews at most 500 ppm: 1.5 ms here).
	//   - Anything else may invalidate the session at any moment i after
	//     s (its node's agent dies, the agent restarts and forgets the
	//     check, an operator destroys it) without the leader hearing of
	//     it if it cannot reach Consul: the fence is then at most
	//     TTL·(1+ρ) after i. A leader that can reach Consul hears of it
	//     within a round trip, from its blocking query on the lock.
	//
	// So a new leader, which acts at i + LockDelay at the earliest (the
	// server's clock), never overlaps the old one if LockDelay ≥
	// LivenessTTL·(1+ρ) + what the old leader has in flight when it stops
	// (a Docker call already sent). FenceMargin covers the latter two.
	// Wall-clock steps do not matter: every one of these intervals is
	// measured on monotonic clocks. Not covered by any timeout: a leader
	// process frozen (SIGSTOP, a VM pause) between its fenced write and
	// its Docker call for longer than LockDelay.
	//
	// A killed leader's faults are so back after at most LivenessTTL +
	// LockDelay, plus a lock retry (≤ 250ms) and the restores: ≈ 3.5–4s.
	DefaultLockDelay = DefaultLivenessTTL + FenceMargin
	// FenceMargin is how much longer than LivenessTTL the lock-delay must
	// be (see DefaultLockDelay).
	FenceMargin = 500 * time.Millisecond
)

// Known reports whether the config has a block of kind ("docker",
// "nomad", "alertmanager", "prometheus") labelled name; when not, have
// says what it has, for messages: `it has "a" or "b"`, or `it has none`.
func (c *Config) Known(kind, name string) (ok bool, have string) {
	return policies.Known(c, kind, name)
}

// The config is what policies check their references against.
var _ policies.Refs = (*Config)(nil)

// HasConsul reports whether the config has a consul block.
func (c *Config) HasConsul() bool { return c.Consul != nil }

// Path is the file the config was read from, for messages.
func (c *Config) Path() string { return c.File }

// OptIn is the safety block's opt-in label (its default when unset) and
// protected pairs, for selector checks in policies.
func (c *Config) OptIn() (string, map[string]string) {
	if c.Safety.OptInLabel == "" {
		return DefaultOptInLabel, c.Safety.Protect
	}
	return c.Safety.OptInLabel, c.Safety.Protect
}

// Names lists the labels of the config's blocks of one kind, in config
// order, for reference checks in policies.
func (c *Config) Names(kind string) []string {
	var out []string
	switch kind {
	case "docker":
		for _, d := range c.Docker {
			out = append(out, d.Name)
		}
	case "nomad":
		for _, n := range c.Nomad {
			out = append(out, n.Name)
		}
	case "alertmanager":
		for _, a := range c.Alertmanagers {
			out = append(out, a.Name)
		}
	case "prometheus":
		for _, p := range c.Prometheus {
			out = append(out, p.Name)
		}
	}
	return out
}
