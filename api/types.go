package api

import (
	"time"

	"github.com/inferensys/tumult/ledger"
)

// PauseRequest is the body of POST /v1/pause.
type PauseRequest struct {
	Reason string `json:"reason"`
	// Policy pauses one policy; empty pauses everything.
	Policy string `json:"policy,omitempty"`
	// For makes the pause expire, e.g. "2h"; empty means until resumed.
	For string `json:"for,omitempty"`
	// Restore ends running faults at once instead of letting them run out.
	Restore bool `json:"restore,omitempty"`
}

// ResumeRequest is the body of POST /v1/resume.
type ResumeRequest struct {
	Reason string `json:"reason"`
	Policy string `json:"policy,omitempty"`
}

// HaltRequest is the body of POST /v1/halt.
type HaltRequest struct {
	Reason string `json:"reason"`
}

// ReloadResult answers POST /v1/reload.
type ReloadResult struct {
	OK       bool     `json:"ok"`
	Policies int      `json:"policies"`
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

// Status answers GET /v1/status.
type Status struct {
	State  ledger.State `json:"state"`
	Actor  string       `json:"actor,omitempty"`
	Reason string       `json:"reason,omitempty"`
	Source string       `json:"source,omitempty"`
	Since  time.Time    `json:"since,omitzero"`
	Until  time.Time    `json:"until,omitzero"`
	DryRun bool         `json:"dry_run"`
	// Leader is true when this replica schedules (always, without Consul).
	Leader   bool            `json:"leader"`
	Replica  string          `json:"replica,omitempty"`
	Policies []PolicyStatus  `json:"policies"`
	Sources  []SourceStatus  `json:"sources"`
	Faults   []ledger.Record `json:"faults"`
	// Endpoints are the config's docker and nomad blocks and whether each
	// answers.
	Endpoints []EndpointStatus `json:"endpoints"`
	// LastReload is the result of the last policy load: at start, on
	// SIGHUP, on a file change or by POST /v1/reload.
	LastReload *ReloadStatus `json:"last_reload,omitempty"`
}

// Endpoint states in EndpointStatus.State.
const (
	EndpointUp        = "up"        // answered the last check
	EndpointDown      = "down"      // did not answer the last check
	EndpointUnchecked = "unchecked" // used by a policy, not checked yet
	EndpointUnused    = "unused"    // no enabled policy uses it: never contacted
)

// EndpointStatus is one Docker engine or Nomad cluster of the config.
type EndpointStatus struct {
	// Name is "docker/local" or "nomad/prod".
	Name     string `json:"name"`
	Driver   string `json:"driver"`
	Endpoint string `json:"endpoint"`
	// State is up, down, unchecked or unused (see the constants).
	State string `json:"state"`
	// Since is when the endpoint entered State (first check, or change).
	Since time.Time `json:"since,omitzero"`
	// Checked is the last check's time.
	Checked time.Time `json:"checked,omitzero"`
	Error   string    `json:"error,omitempty"`
	// Policies are the enabled policies that target it.
	Policies []string `json:"policies,omitempty"`
}

// ReloadStatus is the last policy load's result.
type ReloadStatus struct {
	At time.Time `json:"at"`
	// Trigger is what asked for it: "start", "sighup", "file change" or
	// "api".
	Trigger string `json:"trigger"`
	ReloadResult
}

// PolicyStatus is one policy in the status.
type PolicyStatus struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	DryRun  bool   `json:"dry_run"`
	Target  string `json:"target"` // "docker/local", "nomad/prod"
	Fault   string `json:"fault"`
	// WindowOpen is whether faults may happen now (window open, no freeze).
	WindowOpen bool `json:"window_open"`
	// Closes is when the current open span ends; NextOpen when the next
	// one starts (zero when none within a year).
	Closes   time.Time `json:"closes,omitzero"`
	NextOpen time.Time `json:"next_open,omitzero"`
	Frozen   string    `json:"frozen,omitempty"` // reason of the freeze in force
	// State is the control state that governs this policy.
	State       ledger.State `json:"state"`
	StateReason string       `json:"state_reason,omitempty"`
	StateActor  string       `json:"state_actor,omitempty"`
	StateUntil  time.Time    `json:"state_until,omitzero"`
	Active      int          `json:"active"`
	Today       int          `json:"today"`
	// Last is the policy's last decision, e.g. "skipped: min_healthy".
	Last   string    `json:"last,omitempty"`
	LastAt time.Time `json:"last_at,omitzero"`
	NextAt time.Time `json:"next_at,omitzero"`
}

// SourceStatus is one guardian source in the status.
type SourceStatus struct {
	Name string `json:"name"`
	// Kind: "alert", "slo", "consul_service", "steady_state".
	Kind string `json:"kind"`
	// Scope is "global" or the policy the trip wire belongs to.
	Scope    string    `json:"scope"`
	Up       bool      `json:"up"`
	Tripped  bool      `json:"tripped"`
	LastRead time.Time `json:"last_read,omitzero"`
	Error    string    `json:"error,omitempty"`
	Detail   string    `json:"detail,omitempty"`
}
