package docker

import (
	"regexp"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

const (
	idA = "4f1c0a9e2b3d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7"
	idB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func TestMatchLabels(t *testing.T) {
	tests := []struct {
		name       string
		have, want map[string]string
		match      bool
	}{
		{"no selector labels match anything", map[string]string{"a": "1"}, nil, true},
		{"all pairs present", map[string]string{"app": "web", "tier": "fe", "x": "y"}, map[string]string{"app": "web", "tier": "fe"}, true},
		{"one value differs", map[string]string{"app": "web", "tier": "be"}, map[string]string{"app": "web", "tier": "fe"}, false},
		{"key missing", map[string]string{"app": "web"}, map[string]string{"app": "web", "tier": "fe"}, false},
		{"empty value must be present", map[string]string{}, map[string]string{"flag": ""}, false},
		{"empty value present", map[string]string{"flag": ""}, map[string]string{"flag": ""}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.match, matchLabels(tt.have, tt.want))
		})
	}
}

func TestPrimaryName(t *testing.T) {
	require.Equal(t, "web-1", primaryName([]string{"/web-1"}))
	require.Equal(t, "db", primaryName([]string{"/web/db", "/db"}))
	require.Equal(t, "web/db", primaryName([]string{"/web/db"}))
	require.Equal(t, "", primaryName(nil))
}

func TestExclusion(t *testing.T) {
	protect := map[string]string{"role": "infra"}
	tests := []struct {
		name   string
		labels map[string]string
		id     string
		selfID string
		want   string
	}{
		{"opted in", map[string]string{"tumult.enable": "true"}, idA, "", ""},
		{"no label", map[string]string{}, idA, "", excludedNotOptedIn},
		{"label not true", map[string]string{"tumult.enable": "yes"}, idA, "", excludedNotOptedIn},
		{"protected", map[string]string{"tumult.enable": "true", "role": "infra"}, idA, "", excludedProtected},
		{"other role", map[string]string{"tumult.enable": "true", "role": "app"}, idA, "", ""},
		{"self by full id", map[string]string{"tumult.enable": "true"}, idA, idA, excludedSelf},
		{"self by short id", map[string]string{"tumult.enable": "true"}, idA, idA[:12], excludedSelf},
		{"self wins over not opted in", map[string]string{}, idA, idA, excludedSelf},
		{"someone else", map[string]string{"tumult.enable": "true"}, idB, idA, ""},
		{"too short a prefix is no match", map[string]string{"tumult.enable": "true"}, idA, idA[:4], ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, exclusion(tt.labels, tt.id, "tumult.enable", protect, tt.selfID))
		})
	}
}

func TestHealth(t *testing.T) {
	tests := []struct {
		state, status string
		health        string
		healthy       bool
		word          string
	}{
		{"running", "Up 3 minutes", "", true, "running"},
		{"running", "Up 3 minutes (healthy)", "healthy", true, "running (healthy)"},
		{"running", "Up 3 seconds (health: starting)", "starting", false, "running (starting)"},
		{"running", "Up 3 minutes (unhealthy)", "unhealthy", false, "running (unhealthy)"},
		{"paused", "Up 3 minutes (Paused)", "", false, "paused"},
		{"exited", "Exited (137) 2 seconds ago", "", false, "exited"},
		{"restarting", "Restarting (1) 1 second ago", "", false, "restarting"},
	}
	for _, tt := range tests {
		t.Run(tt.status, func(t *testing.T) {
			h := healthFromStatus(tt.status)
			require.Equal(t, tt.health, h)
			require.Equal(t, tt.healthy, isHealthy(tt.state, h))
			require.Equal(t, tt.word, statusWord(tt.state, h))
		})
	}
}

func TestMemberSelection(t *testing.T) {
	tg := newTarget(Options{Name: "local", SelfID: idB, Protect: map[string]string{"role": "infra"}}, nil)
	sum := func(id, name, state, status string, labels map[string]string) container.Summary {
		return container.Summary{ID: id, Names: []string{"/" + name}, State: container.ContainerState(state), Status: status, Labels: labels}
	}
	sel := policies.Selector{Driver: policies.DriverDocker, Labels: map[string]string{"app": "web"}, Name: regexp.MustCompile(`^web-\d+$`)}

	m, ok := tg.member(sum(idA, "web-1", "running", "Up 1 minute (healthy)", map[string]string{"app": "web", "tumult.enable": "true"}), sel)
	require.True(t, ok)
	require.Equal(t, targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: idA, Name: "web-1",
		Labels: map[string]string{"app": "web", "tumult.enable": "true"}, Healthy: true, Status: "running (healthy)"}, m)

	_, ok = tg.member(sum(idA, "web-canary", "running", "Up", map[string]string{"app": "web"}), sel)
	require.False(t, ok, "name regexp must filter")
	_, ok = tg.member(sum(idA, "web-2", "running", "Up", map[string]string{"app": "api"}), sel)
	require.False(t, ok, "labels must filter")

	m, ok = tg.member(sum(idB, "web-3", "running", "Up", map[string]string{"app": "web", "tumult.enable": "true"}), sel)
	require.True(t, ok)
	require.Equal(t, excludedSelf, m.Excluded)

	m, ok = tg.member(sum(idA, "web-4", "paused", "Up (Paused)", map[string]string{"app": "web", "tumult.enable": "true", "role": "infra"}), sel)
	require.True(t, ok)
	require.Equal(t, excludedProtected, m.Excluded)
	require.False(t, m.Healthy)
	require.Equal(t, "paused", m.Status)
}

func TestDetectSelfID(t *testing.T) {
	mountinfo := "1203 1180 0:52 /var/lib/docker/containers/" + idA + "/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw\n"
	tests := []struct {
		name                        string
		mountinfo, cgroup, hostname string
		dockerenv                   bool
		want                        string
	}{
		{"mountinfo", mountinfo, "0::/\n", "web", true, idA},
		{"cgroup v1", "", "12:pids:/docker/" + idB + "\n", "web", true, idB},
		{"systemd cgroup", "", "0::/system.slice/docker-" + idB + ".scope\n", "", false, idB},
		{"hostname inside a container", "", "0::/\n", idA[:12] + "\n", true, idA[:12]},
		{"hex hostname on a host is not a container", "", "0::/\n", idA[:12], false, ""},
		{"not in a container", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n", "0::/user.slice\n", "laptop", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, detectSelfID(tt.mountinfo, tt.cgroup, tt.hostname, tt.dockerenv))
		})
	}
}

func TestSeconds(t *testing.T) {
	require.Nil(t, seconds(0))
	require.Equal(t, 10, *seconds(10 * time.Second))
	require.Equal(t, 2, *seconds(1500 * time.Millisecond))
}

func TestIsSIGKILL(t *testing.T) {
	for _, s := range []string{"SIGKILL", "KILL", "kill", "9"} {
		require.True(t, isSIGKILL(s), s)
	}
	for _, s := range []string{"SIGTERM", "SIGHUP", "15"} {
		require.False(t, isSIGKILL(s), s)
	}
}
