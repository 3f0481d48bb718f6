package docker

import (
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/inferensys/tumult/targets"
)

// Reasons a member is excluded, as Member.Excluded and the scheduler's
// skip reasons show them.
const (
	excludedNotOptedIn = "not opted in"
	excludedProtected  = "protected"
	excludedSelf       = "tumult itself"
)

// matchLabels reports whether have carries every pair of want.
func matchLabels(have, want map[string]string) bool {
	for k, v := range want {
		got, ok := have[k]
		if !ok || got != v {
			return false
		}
	}
	return true
}

// primaryName is a container's own name without the leading slash. The
// engine also lists link aliases ("/web/db"); those contain a second slash.
func primaryName(names []string) string {
	for _, n := range names {
		n = strings.TrimPrefix(n, "/")
		if !strings.Contains(n, "/") {
			return n
		}
	}
	if len(names) > 0 {
		return strings.TrimPrefix(names[0], "/")
	}
	return ""
}

// exclusion says why tumult must never touch a container, or "" when it
// may. Being tumult itself is checked first: it is the reason that must
// hold even if someone opts tumult's container in.
func exclusion(labels map[string]string, id, optIn string, protect map[string]string, selfID string) string {
	if isSelf(id, selfID) {
		return excludedSelf
	}
	if labels[optIn] != "true" {
		return excludedNotOptedIn
	}
	for k, v := range protect {
		if got, ok := labels[k]; ok && got == v {
			return excludedProtected
		}
	}
	return ""
}

// isSelf matches a container ID against tumult's own, which may be given
// abbreviated (a hostname holds 12 characters).
func isSelf(id, selfID string) bool {
	if selfID == "" || id == "" {
		return false
	}
	if len(selfID) >= 12 && strings.HasPrefix(id, selfID) {
		return true
	}
	return id == selfID
}

// healthFromStatus reads the health a list entry shows in its status line
// ("Up 3 minutes (healthy)"). The list endpoint has no structured health
// field before API 1.52, and inspecting every container would make List N
// times slower; this text has been stable since health checks came.
// It returns "" for a container without health check.
func healthFromStatus(status string) string {
	switch {
	case strings.Contains(status, "(unhealthy)"):
		return string(container.Unhealthy)
	case strings.Contains(status, "(health: starting)"):
		return string(container.Starting)
	case strings.Contains(status, "(healthy)"):
		return string(container.Healthy)
	}
	return ""
}

// isHealthy: running, not paused, and healthy where there is a check.
func isHealthy(state, health string) bool {
	return state == string(container.StateRunning) && (health == "" || health == string(container.Healthy))
}

// statusWord is docker's state word, with the health when there is a check.
func statusWord(state, health string) string {
	if health == "" || state != string(container.StateRunning) {
		return state
	}
	return state + " (" + health + ")"
}

// containerState is what the driver reads from one inspection.
type containerState struct {
	ID         string
	Labels     map[string]string
	State      string // docker's word: created, running, paused, restarting, removing, exited, dead
	Running    bool   // docker's Running: true while paused and restarting too
	Paused     bool
	Restarting bool
	Health     string // "" without health check
	StartedAt  time.Time
	FinishedAt time.Time
	Pid        int
	Restarts   int
}

func stateOf(info container.InspectResponse) containerState {
	st := containerState{ID: info.ID, State: string(info.State.Status), Running: info.State.Running,
		Paused: info.State.Paused, Restarting: info.State.Restarting, Pid: info.State.Pid, Restarts: info.RestartCount}
	if info.Config != nil {
		st.Labels = info.Config.Labels
	}
	if h := info.State.Health; h != nil && h.Status != container.NoHealthcheck {
		st.Health = string(h.Status)
	}
	st.StartedAt = parseTime(info.State.StartedAt)
	st.FinishedAt = parseTime(info.State.FinishedAt)
	return st
}

// parseTime reads the engine's RFC 3339 times; "0001-01-01T00:00:00Z"
// and "" are the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// up: running, and neither paused nor waiting for its restart policy.
func (s containerState) up() bool { return s.Running && !s.Paused && !s.Restarting }

func (s containerState) status() string { return statusWord(s.State, s.Health) }

func (s containerState) public() targets.State {
	return targets.State{
		Exists:    true,
		Running:   s.Running && !s.Restarting,
		Paused:    s.Paused,
		Healthy:   isHealthy(s.State, s.Health) && s.up(),
		Status:    s.status(),
		StartedAt: s.StartedAt,
	}
}
