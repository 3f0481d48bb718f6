package docker

import (
	"os"
	"regexp"
	"strings"
)

var (
	// A container's /etc/hostname, /etc/hosts and /etc/resolv.conf are
	// bind mounts from the engine's containers/<id>/ directory; mountinfo
	// shows their source, with cgroup v1 and v2 alike.
	mountinfoID = regexp.MustCompile(`/containers/([0-9a-f]{64})/(?:hostname|hosts|resolv\.conf)\b`)
	// cgroup v1 paths name the container: /docker/<id>, docker-<id>.scope.
	cgroupID = regexp.MustCompile(`docker[-/]([0-9a-f]{64})(?:\.scope)?\b`)
	// Docker's default hostname is the short ID.
	shortHex = regexp.MustCompile(`^[0-9a-f]{12}$`)
)

// DetectSelfID returns the ID of the container this process runs in, or ""
// when it does not run in a Docker container or cannot tell. Best effort:
// Options.SelfID is the reliable way.
func DetectSelfID() string {
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			return ""
		}
		return string(b)
	}
	host, _ := os.Hostname()
	_, err := os.Stat("/.dockerenv")
	return detectSelfID(read("/proc/self/mountinfo"), read("/proc/self/cgroup"), host, err == nil)
}

// detectSelfID is DetectSelfID over the files' contents. A 12-hex hostname
// only counts inside a container (dockerenv), since a host may be named so.
func detectSelfID(mountinfo, cgroup, hostname string, dockerenv bool) string {
	if m := mountinfoID.FindStringSubmatch(mountinfo); m != nil {
		return m[1]
	}
	if m := cgroupID.FindStringSubmatch(cgroup); m != nil {
		return m[1]
	}
	if dockerenv && shortHex.MatchString(strings.TrimSpace(hostname)) {
		return strings.TrimSpace(hostname)
	}
	return ""
}
