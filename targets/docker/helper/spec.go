package helper

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Names of what the helper adds, so that Clean finds exactly them.
const (
	// TableName is the nftables table (family inet) holding every rule.
	TableName = "tumult"
	// QdiscMajor is the handle major number of every qdisc added ("tu").
	QdiscMajor = 0x7475
	// QueueNum is the NFQUEUE number of the delay stage. Queues are per
	// network namespace, so a fixed number is safe.
	QueueNum = 7475
)

// Mechanisms a network fault can use; the Ready line names one.
const (
	MechNetem     = "netem"
	MechNetfilter = "netfilter"
	MechCgroup    = "cgroup"
)

// NetSpec is what a network or partition fault does, as the helper gets it.
type NetSpec struct {
	// Partition drops all traffic to and from the destinations.
	Partition bool `json:"partition,omitempty"`
	// Delay, Jitter in nanoseconds; Correlation, Loss, Corrupt, Duplicate
	// in percent.
	Delay       time.Duration `json:"delay,omitempty"`
	Jitter      time.Duration `json:"jitter,omitempty"`
	Correlation float64       `json:"correlation,omitempty"`
	Loss        float64       `json:"loss,omitempty"`
	Corrupt     float64       `json:"corrupt,omitempty"`
	Duplicate   float64       `json:"duplicate,omitempty"`
	// Rate in bits per second; 0 is none.
	Rate uint64 `json:"rate,omitempty"`
	// Filtered says the fault applies only to traffic matching CIDRs and
	// Ports. A filter whose label selector matched no container has no
	// CIDRs and Filtered set: it matches nothing.
	Filtered bool           `json:"filtered,omitempty"`
	CIDRs    []netip.Prefix `json:"cidrs,omitempty"`
	Ports    []int          `json:"ports,omitempty"`
	// ForceNetfilter skips the netem probe (tests of the fallback path on
	// kernels that have netem).
	ForceNetfilter bool `json:"force_netfilter,omitempty"`
	// Until is when the helper undoes the fault by itself if tumult has not
	// stopped it by then (tumult down for good): a dead man's switch.
	Until time.Time `json:"until"`
}

// StressSpec is what a stress fault consumes.
type StressSpec struct {
	CPUWorkers int       `json:"cpu_workers,omitempty"`
	CPULoad    int       `json:"cpu_load,omitempty"`
	Memory     uint64    `json:"memory,omitempty"`
	Until      time.Time `json:"until"`
}

// Lines the helper prints on stdout for tumult to read from the log.
const (
	readyPrefix  = "tumult-helper ready "
	failedPrefix = "tumult-helper failed: "
	cleanPrefix  = "tumult-helper cleaned "
)

// Ready is the line printed once the fault is in place.
func Ready(mechanism string) string { return readyPrefix + mechanism }

// Failed is the line printed when the fault could not be put in place.
func Failed(err error) string { return failedPrefix + oneLine(err.Error()) }

// Cleaned is the line printed after Clean: how many things it removed.
func Cleaned(removed int) string { return fmt.Sprintf("%s%d", cleanPrefix, removed) }

// Status is what a helper's log says so far.
type Status struct {
	// Mechanism is set once the helper printed its Ready line.
	Mechanism string
	// Err is set when it printed a Failed line.
	Err string
	// Cleaned is how many things a clean removed, -1 when no Cleaned line.
	Cleaned int
}

// ParseLog reads a helper's stdout.
func ParseLog(out string) Status {
	st := Status{Cleaned: -1}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, readyPrefix):
			st.Mechanism = strings.TrimPrefix(line, readyPrefix)
		case strings.HasPrefix(line, failedPrefix):
			st.Err = strings.TrimPrefix(line, failedPrefix)
		case strings.HasPrefix(line, cleanPrefix):
			var n int
			if _, err := fmt.Sscanf(strings.TrimPrefix(line, cleanPrefix), "%d", &n); err == nil {
				st.Cleaned = n
			}
		}
	}
	return st
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Encode and decode specs for the helper's command line.
func Encode(v any) string {
	b, _ := json.Marshal(v) // plain structs: cannot fail
	return string(b)
}

func decode(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("decode spec: %w", err)
	}
	return nil
}
