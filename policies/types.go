package policies

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Driver names the kind of fleet a policy targets.
type Driver string

const (
	DriverDocker Driver = "docker"
	DriverNomad  Driver = "nomad"
)

// FaultKind is what tumult does to one member.
type FaultKind string

const (
	FaultKill    FaultKind = "kill"
	FaultStop    FaultKind = "stop"
	FaultPause   FaultKind = "pause"
	FaultRestart FaultKind = "restart"
	FaultSignal  FaultKind = "signal"
)

// FaultKinds lists every fault kind, in the order the docs present them.
var FaultKinds = []FaultKind{FaultKill, FaultStop, FaultPause, FaultRestart, FaultSignal, FaultNetwork, FaultPartition, FaultStress}

// Policy is one decoded and validated policy block.
type Policy struct {
	Name        string
	Description string
	Enabled     bool
	DryRun      bool

	Target      Selector
	Fault       FaultSpec
	Windows     []Window
	Freezes     []Freeze
	Every       Cadence
	Limits      Limits
	SteadyState *SteadyState
	HaltOn      HaltOn

	// DeclRange is where the policy block starts, for messages.
	DeclRange hcl.Range
}

// Selector says which members form a policy's fleet.
type Selector struct {
	Driver Driver
	// Endpoint is the docker block (for docker) or nomad block (for nomad)
	// of the agent config that the fleet lives on.
	Endpoint string

	// Docker.
	Labels map[string]string
	Name   *regexp.Regexp // nil: any name

	// Nomad.
	Namespace string
	Job       string
	Group     string
	Task      string
}

// FaultSpec is what to do to a chosen member and when to bring it back.
type FaultSpec struct {
	Kind FaultKind
	// Signal for kill (default SIGKILL) and signal faults.
	Signal string
	// Timeout for stop and restart: how long the member may take to stop
	// before it is killed.
	Timeout time.Duration
	// RestoreAfter for kill and stop: if the member is not back by then,
	// tumult brings it back.
	RestoreAfter time.Duration
	// Duration for pause, network, partition and stress: the fault is
	// undone after this long.
	Duration time.Duration
	// Network is set for network and partition faults.
	Network *NetFault
	// Stress is set for stress faults.
	Stress *StressFault
}

// Degrades reports whether the fault degrades the member (network,
// partition, stress) rather than stopping or freezing it: such a member
// keeps running and its restore undoes what a helper added.
func (f FaultSpec) Degrades() bool {
	return f.Kind == FaultNetwork || f.Kind == FaultPartition || f.Kind == FaultStress
}

// Hold is how long the fault keeps a member down before tumult restores it.
func (f FaultSpec) Hold() time.Duration {
	switch f.Kind {
	case FaultPause, FaultNetwork, FaultPartition, FaultStress:
		return f.Duration
	case FaultKill, FaultStop:
		return f.RestoreAfter
	default:
		return 0
	}
}

// Freeze is a span in which no fault happens.
type Freeze struct {
	From, To time.Time
	Reason   string
}

// Cadence is how often faults arrive inside open windows.
type Cadence struct {
	Mean time.Duration
	Min  time.Duration
}

// Quantity is an absolute count or a percentage of a fleet.
type Quantity struct {
	Count     int
	Percent   float64 // used when IsPercent
	IsPercent bool
}

// Of resolves the quantity against a fleet of size n. A percentage rounds
// down, so that "25%" of 3 members is 0: never more damage than written.
func (q Quantity) Of(n int) int {
	if !q.IsPercent {
		return q.Count
	}
	return int(math.Floor(q.Percent / 100 * float64(n)))
}

func (q Quantity) String() string {
	if q.IsPercent {
		return fmt.Sprintf("%g%%", q.Percent)
	}
	return fmt.Sprintf("%d", q.Count)
}

// Limits bound the blast radius of a policy.
type Limits struct {
	MaxDisrupted Quantity
	MinHealthy   int
	MaxPerDay    int // 0: no limit
}

// SteadyState is the hypothesis checked before each fault and after
// recovery: a Prometheus query whose value must stay within [Min, Max].
type SteadyState struct {
	Prometheus    string
	Query         string
	Min, Max      *float64
	RecoverWithin time.Duration
}

// InBounds reports whether v satisfies the hypothesis. NaN never does.
func (s SteadyState) InBounds(v float64) bool {
	if math.IsNaN(v) {
		return false
	}
	if s.Min != nil && v < *s.Min {
		return false
	}
	if s.Max != nil && v > *s.Max {
		return false
	}
	return true
}

// HaltOn holds trip wires. In a policy they halt that policy; in the
// guardian block they halt everything.
type HaltOn struct {
	Alerts         []AlertWire
	SLOs           []SLOWire
	ConsulServices []ConsulServiceWire
}

// Empty reports whether there is no trip wire at all.
func (h HaltOn) Empty() bool {
	return len(h.Alerts) == 0 && len(h.SLOs) == 0 && len(h.ConsulServices) == 0
}

// AlertWire trips while an active alert on Alertmanager matches every
// matcher.
type AlertWire struct {
	Alertmanager string
	Matchers     []Matcher
}

// MatchType is an Alertmanager matcher operator.
type MatchType string

const (
	MatchEqual     MatchType = "="
	MatchNotEqual  MatchType = "!="
	MatchRegexp    MatchType = "=~"
	MatchNotRegexp MatchType = "!~"
)

// Matcher is one Alertmanager-style label matcher.
type Matcher struct {
	Name  string
	Type  MatchType
	Value string
	re    *regexp.Regexp
}

// Alert is one firing alert, as a source reports it and as alert trip
// wires match it: Alertmanager's poll and webhook (package alerting) and
// the guardian's wires share this one type.
type Alert struct {
	Labels   map[string]string
	StartsAt time.Time
	// Fingerprint identifies the alert's label set; it is the same value
	// Alertmanager reports through its API and its webhook, so the two
	// paths can be correlated. Empty means "derive one from the labels".
	Fingerprint string
}

// Name is the alert's alertname label.
func (a Alert) Name() string { return a.Labels["alertname"] }

// MatchesAll reports whether labels satisfy every matcher; with none,
// every label set matches. Matchers must come from the policy decoder,
// ParseMatcher or NewMatcher, which compile regexps.
func MatchesAll(ms []Matcher, labels map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(labels) {
			return false
		}
	}
	return true
}

// Matches reports whether labels satisfy the matcher. A missing label
// counts as the empty string, as in Alertmanager.
func (m Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	switch m.Type {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re.MatchString(v)
	case MatchNotRegexp:
		return !m.re.MatchString(v)
	}
	return false
}

func (m Matcher) String() string { return fmt.Sprintf("%s%s%q", m.Name, m.Type, m.Value) }

// SLOWire trips when both burn rates of any pair exceed the pair's factor.
type SLOWire struct {
	Name       string
	Prometheus string
	// ErrorRatio is a PromQL expression with $window where the window goes.
	ErrorRatio string
	Objective  float64
	Burns      []BurnPair
	// MinBudgetLeft, when set, blocks new faults while less of the error
	// budget over Period remains.
	MinBudgetLeft *float64
	Period        time.Duration
}

// BurnPair is one multiwindow burn-rate alert.
type BurnPair struct {
	Long, Short time.Duration
	Factor      float64
}

// DefaultBurnPairs are the page-level pairs of the Google SRE workbook.
var DefaultBurnPairs = []BurnPair{
	{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4},
	{Long: 6 * time.Hour, Short: 30 * time.Minute, Factor: 6},
}

// ConsulServiceWire trips when any check of the service is critical.
type ConsulServiceWire struct {
	Service string
}

// faultJSON is FaultSpec's stored and served form: durations as strings
// such as "2m", so the API and the ledger read well.
type faultJSON struct {
	Kind         FaultKind    `json:"kind"`
	Signal       string       `json:"signal,omitempty"`
	Timeout      string       `json:"timeout,omitempty"`
	RestoreAfter string       `json:"restore_after,omitempty"`
	Duration     string       `json:"duration,omitempty"`
	Network      *NetFault    `json:"network,omitempty"`
	Stress       *StressFault `json:"stress,omitempty"`
}

// MarshalJSON writes durations as strings.
func (f FaultSpec) MarshalJSON() ([]byte, error) {
	s := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return FormatDuration(d)
	}
	return json.Marshal(faultJSON{Kind: f.Kind, Signal: f.Signal, Timeout: s(f.Timeout), RestoreAfter: s(f.RestoreAfter), Duration: s(f.Duration),
		Network: f.Network, Stress: f.Stress})
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (f *FaultSpec) UnmarshalJSON(b []byte) error {
	var j faultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := FaultSpec{Kind: j.Kind, Signal: j.Signal, Network: j.Network, Stress: j.Stress}
	for _, p := range []struct {
		s   string
		dst *time.Duration
	}{{j.Timeout, &out.Timeout}, {j.RestoreAfter, &out.RestoreAfter}, {j.Duration, &out.Duration}} {
		if p.s == "" {
			continue
		}
		d, err := ParseDuration(p.s)
		if err != nil {
			return fmt.Errorf("fault %s: %w", j.Kind, err)
		}
		*p.dst = d
	}
	*f = out
	return nil
}
