package targets

import (
	"context"
	"time"

	"github.com/inferensys/tumult/policies"
)

// Target is one endpoint of one driver: a Docker engine or a Nomad cluster.
//
// Every method takes a context and must return when it is cancelled.
type Target interface {
	// List returns the fleet the selector matches, healthy or not, with the
	// members the driver must never touch marked by Member.Excluded.
	List(ctx context.Context, sel policies.Selector) (Fleet, error)
	// Inject applies the fault to the member.
	Inject(ctx context.Context, m Member, f policies.FaultSpec) error
	// Restore brings the member back now if the fault still holds it down,
	// and says how it came back. It is idempotent: a member that is already
	// back, was removed or was replaced is not an error.
	Restore(ctx context.Context, m Member, f policies.FaultSpec) (Outcome, error)
	// State reports the member's current state.
	State(ctx context.Context, m Member) (State, error)
}

// Fleet is what a selector matched at one moment.
type Fleet struct {
	Members []Member
	// Size is the fleet's intended size: for Docker the number of matched
	// containers, for Nomad the task group's count. Percentages in limits
	// are of this size.
	Size int
	// Self counts the matched members that are tumult itself. They are in
	// neither Members nor Size: tumult is not capacity of the service it
	// disrupts, so it must count in no limit (a fleet of tumult and one
	// real member with min_healthy = 1 has no member to spare).
	Self int
}

// Healthy counts members that are healthy now.
func (f Fleet) Healthy() int {
	n := 0
	for _, m := range f.Members {
		if m.Healthy {
			n++
		}
	}
	return n
}

// Member is one container or allocation.
type Member struct {
	Driver   policies.Driver `json:"driver"`
	Endpoint string          `json:"endpoint"`
	// ID is the container ID or allocation ID.
	ID   string `json:"id"`
	Name string `json:"name"`

	// Nomad placement; empty for Docker.
	Namespace string `json:"namespace,omitempty"`
	Job       string `json:"job,omitempty"`
	Group     string `json:"group,omitempty"`
	Task      string `json:"task,omitempty"`

	Labels  map[string]string `json:"labels,omitempty"`
	Healthy bool              `json:"healthy"`
	// Status is the driver's word for the member's state ("running",
	// "paused", "exited", …), for people.
	Status string `json:"status,omitempty"`
	// Excluded says why the driver will never touch this member ("not
	// opted in", "protected", "tumult itself"); empty when it may.
	Excluded string `json:"excluded,omitempty"`
}

// Key identifies the member across drivers and endpoints.
func (m Member) Key() string { return string(m.Driver) + "/" + m.Endpoint + "/" + m.ID }

// Short is the member's name, or its ID when it has none, for messages.
func (m Member) Short() string {
	if m.Name != "" {
		return m.Name
	}
	return ShortID(m.ID)
}

// ShortID abbreviates long IDs to 12 characters, as Docker does.
func ShortID(id string) string { return Abbrev(id, 12) }

// Abbrev cuts id to its first n characters, as drivers print IDs (Docker
// 12, Nomad 8).
func Abbrev(id string, n int) string {
	if len(id) > n {
		return id[:n]
	}
	return id
}

// State is a member's state at one moment.
type State struct {
	Exists  bool   `json:"exists"`
	Running bool   `json:"running"`
	Paused  bool   `json:"paused"`
	Healthy bool   `json:"healthy"`
	Status  string `json:"status"`
	// StartedAt is when the member last started; it tells a member that
	// came back by itself after a fault from one that never went down.
	StartedAt time.Time `json:"started_at,omitempty"`
}

// How a member came back from a fault.
type How string

const (
	// Restored: tumult brought it back (start, unpause).
	Restored How = "restored"
	// Recovered: it came back by itself (restart policy, orchestrator).
	Recovered How = "recovered"
	// Replaced: the orchestrator replaced it; Outcome.Replacement names the
	// new member.
	Replaced How = "replaced"
	// Gone: it no longer exists and nothing replaced it.
	Gone How = "gone"
	// Unaffected: the fault left nothing to undo (signal).
	Unaffected How = "unaffected"
)

// Outcome says how a restore ended.
type Outcome struct {
	How         How    `json:"how"`
	Replacement string `json:"replacement,omitempty"`
}
