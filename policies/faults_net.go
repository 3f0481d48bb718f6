package policies

import (
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// The fault kinds that degrade a member instead of stopping it. Docker
// only: Nomad has no way to reach into an allocation's network namespace or
// cgroup.
const (
	FaultNetwork   FaultKind = "network"
	FaultPartition FaultKind = "partition"
	FaultStress    FaultKind = "stress"
)

// NetFault is what a network or partition fault does to the member's
// traffic. Percentages are 0–100.
type NetFault struct {
	// Delay is added to every packet the member sends (towards To).
	Delay time.Duration
	// Jitter varies Delay by up to ± this much; Correlation (percent) is
	// how much each packet's jitter follows the previous one's.
	Jitter      time.Duration
	Correlation float64
	// Loss, Corrupt and Duplicate are the percentages of packets dropped,
	// corrupted and sent twice.
	Loss, Corrupt, Duplicate float64
	// Rate caps the member's outgoing bandwidth, in bits per second; 0 is
	// no cap.
	Rate uint64
	// To limits the fault to traffic towards these destinations; nil is
	// every destination. Required for a partition.
	To *Destinations
}

// Destinations name where traffic goes: addresses, ports, and the
// containers carrying labels (whose addresses are resolved at injection).
// A packet matches when its peer address is in CIDRs or belongs to a
// labelled container (any address, when both are empty) and its peer port
// is in Ports (any port, when empty).
type Destinations struct {
	CIDRs  []netip.Prefix
	Ports  []int
	Labels map[string]string
}

// StressFault is what a stress fault consumes inside the member's cgroup.
type StressFault struct {
	// CPUWorkers busy threads, each at CPULoad percent of one CPU.
	CPUWorkers int
	CPULoad    int
	// Memory in bytes, allocated and touched, held for the duration.
	Memory uint64
}

var faultSpecsNet = map[FaultKind]blockSpec{
	FaultNetwork: {
		Attrs:    []string{"delay", "jitter", "correlation", "loss", "corrupt", "duplicate", "rate", "duration"},
		Required: []string{"duration"},
		Blocks:   []hcl.BlockHeaderSchema{{Type: "to"}},
	},
	FaultPartition: {
		Attrs:    []string{"duration"},
		Required: []string{"duration"},
		Blocks:   []hcl.BlockHeaderSchema{{Type: "to"}},
	},
	FaultStress: {
		Attrs:    []string{"cpu_workers", "cpu_load", "memory", "duration"},
		Required: []string{"duration"},
	},
}

// DefaultCPULoad is a stress worker's load when cpu_load is left out.
const DefaultCPULoad = 100

// decodeDegrade decodes the network, partition and stress kinds.
func decodeDegrade(d *diags, hb *hcl.Block, b *block, drv Driver, f *FaultSpec) {
	if drv == DriverNomad {
		d.Errorf(hb.DefRange, "Fault not supported by target",
			"A %s fault needs a docker target: tumult reaches into a container's network namespace or cgroup through the Docker engine, which Nomad does not offer.", f.Kind)
	}
	if a := b.Attrs["duration"]; a != nil {
		f.Duration, _ = d.Duration(a, time.Second)
	}
	switch f.Kind {
	case FaultNetwork:
		n := &NetFault{}
		if a := b.Attrs["delay"]; a != nil {
			n.Delay, _ = d.Duration(a, time.Millisecond)
		}
		if a := b.Attrs["jitter"]; a != nil {
			n.Jitter, _ = d.Duration(a, 0)
			if b.Attrs["delay"] == nil {
				d.Errorf(a.NameRange, "Jitter without delay", "jitter varies the delay; set delay too.")
			}
		}
		if a := b.Attrs["correlation"]; a != nil {
			n.Correlation, _ = percentAttr(d, a)
			if b.Attrs["jitter"] == nil {
				d.Errorf(a.NameRange, "Correlation without jitter", "correlation says how much each packet's jitter follows the last one's; set jitter too.")
			}
		}
		for name, dst := range map[string]*float64{"loss": &n.Loss, "corrupt": &n.Corrupt, "duplicate": &n.Duplicate} {
			if a := b.Attrs[name]; a != nil {
				*dst, _ = percentAttr(d, a)
			}
		}
		if a := b.Attrs["rate"]; a != nil {
			if s, ok := d.Str(a); ok {
				r, err := ParseRate(s)
				if err != nil {
					d.Errorf(a.Expr.Range(), "Invalid rate", "rate: %s.", err)
				}
				n.Rate = r
			}
		}
		if n.Delay == 0 && n.Loss == 0 && n.Corrupt == 0 && n.Duplicate == 0 && n.Rate == 0 {
			_, any := b.Attrs["delay"]
			for _, k := range []string{"loss", "corrupt", "duplicate", "rate"} {
				_, has := b.Attrs[k]
				any = any || has
			}
			if !any {
				d.Errorf(hb.DefRange, "Network fault does nothing", "Set at least one of delay, loss, corrupt, duplicate or rate, e.g. delay = \"300ms\".")
			}
		}
		if to := d.AtMostOne(b, "to"); to != nil {
			n.To = decodeDestinations(d, to)
		}
		f.Network = n
	case FaultPartition:
		to := d.AtMostOne(b, "to")
		if to == nil {
			d.Errorf(hb.DefRange, "Missing to block", "A partition cuts the member off from named destinations; add to { cidrs = [\"10.1.0.0/16\"] } or to { labels = { \"app\" = \"payments-api\" } }.")
			f.Network = &NetFault{}
			return
		}
		f.Network = &NetFault{To: decodeDestinations(d, to)}
		if f.Network.To != nil && len(f.Network.To.CIDRs) == 0 && len(f.Network.To.Labels) == 0 {
			d.Errorf(to.DefRange, "Partition from everything", "A partition's to block needs cidrs or labels: cutting a member off from every address is a stop, not a partition.")
		}
	case FaultStress:
		s := &StressFault{CPULoad: DefaultCPULoad}
		if a := b.Attrs["cpu_workers"]; a != nil {
			s.CPUWorkers, _ = d.Integer(a, 1)
		}
		if a := b.Attrs["cpu_load"]; a != nil {
			if v, ok := d.Integer(a, 1); ok {
				if v > 100 {
					d.Errorf(a.Expr.Range(), "Percentage out of range", "cpu_load is a percentage of one CPU per worker, from 1 to 100; got %d.", v)
				}
				s.CPULoad = v
			}
			if b.Attrs["cpu_workers"] == nil {
				d.Errorf(a.NameRange, "cpu_load without cpu_workers", "cpu_load is the load of each CPU worker; set cpu_workers too.")
			}
		}
		if a := b.Attrs["memory"]; a != nil {
			if str, ok := d.Str(a); ok {
				m, err := ParseBytes(str)
				if err != nil {
					d.Errorf(a.Expr.Range(), "Invalid memory size", "memory: %s.", err)
				}
				s.Memory = m
			}
		}
		if b.Attrs["cpu_workers"] == nil && b.Attrs["memory"] == nil {
			d.Errorf(hb.DefRange, "Stress fault does nothing", "Set cpu_workers, memory or both, e.g. cpu_workers = 2 or memory = \"256MiB\".")
		}
		f.Stress = s
	}
}

func decodeDestinations(d *diags, hb *hcl.Block) *Destinations {
	b := d.Read(hb, blockSpec{Attrs: []string{"cidrs", "ports", "labels"}})
	to := &Destinations{}
	if a := b.Attrs["cidrs"]; a != nil {
		if list, ok := d.StringList(a); ok {
			for _, s := range list {
				p, err := ParseCIDR(s)
				if err != nil {
					d.Errorf(a.Expr.Range(), "Invalid CIDR", "cidrs: %s.", err)
					continue
				}
				to.CIDRs = append(to.CIDRs, p)
			}
		}
	}
	if a := b.Attrs["ports"]; a != nil {
		if v, ok := d.Value(a, cty.List(cty.Number)); ok {
			for _, e := range v.AsValueSlice() {
				f, _ := e.AsBigFloat().Float64()
				if f != math.Trunc(f) || f < 1 || f > 65535 {
					d.Errorf(a.Expr.Range(), "Invalid port", "ports must be whole numbers from 1 to 65535; got %g.", f)
					continue
				}
				to.Ports = append(to.Ports, int(f))
			}
		}
	}
	if a := b.Attrs["labels"]; a != nil {
		if m, ok := d.StringMap(a); ok {
			if len(m) == 0 {
				d.Errorf(a.Expr.Range(), "Invalid value", "labels must name at least one label; leave it out to mean no container.")
			}
			to.Labels = m
		}
	}
	if len(b.Attrs) == 0 {
		d.Errorf(hb.DefRange, "Empty to block", "A to block needs cidrs, ports or labels.")
	}
	return to
}

// percent decodes a percentage from 0 to 100.
func percentAttr(d *diags, a *hcl.Attribute) (float64, bool) {
	f, ok := d.Number(a)
	if !ok {
		return 0, false
	}
	if f < 0 || f > 100 {
		d.Errorf(a.Expr.Range(), "Percentage out of range", "%s is a percentage from 0 to 100; got %g.", a.Name, f)
		return 0, false
	}
	return f, true
}

// ParseCIDR reads "10.1.0.0/16", "fd00::/8" or a single address
// ("10.1.2.3", which means /32).
func ParseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not an address range such as \"10.1.0.0/16\"", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or an address range such as \"10.1.0.0/16\"", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

var rateUnits = map[string]float64{
	"bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
	"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9, "tbps": 8e12,
}

var ratePattern = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)\s*$`)

// ParseRate reads a bandwidth as tc writes it: "1mbit", "500kbit",
// "10mbps" (bytes per second). It returns bits per second.
func ParseRate(s string) (uint64, error) {
	m := ratePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a bandwidth; write a number and a unit, e.g. \"1mbit\" or \"500kbit\"", s)
	}
	mult, ok := rateUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("unknown rate unit %q in %q; use %s", m[2], s, oneOf(sortedUnits(rateUnits)))
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	bits := n * mult
	if bits < 8 || bits > math.MaxUint32*8 {
		return 0, fmt.Errorf("%q is out of range: from 8bit to 34gbit", s)
	}
	return uint64(bits), nil
}

// FormatRate prints bits per second as "1mbit", "500kbit".
func FormatRate(bits uint64) string {
	for _, u := range []struct {
		n string
		v uint64
	}{{"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}} {
		if bits >= u.v && bits%u.v == 0 {
			return fmt.Sprintf("%d%s", bits/u.v, u.n)
		}
	}
	return fmt.Sprintf("%dbit", bits)
}

var byteUnits = map[string]float64{
	"b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30,
}

// ParseBytes reads a size such as "256MiB", "1GiB" or "500MB".
func ParseBytes(s string) (uint64, error) {
	m := ratePattern.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a size; write a number and a unit, e.g. \"256MiB\" or \"1GiB\"", s)
	}
	mult, ok := byteUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("unknown size unit %q in %q; use %s", m[2], s, oneOf([]string{"B", "KB", "MB", "GB", "KiB", "MiB", "GiB"}))
	}
	n, _ := strconv.ParseFloat(m[1], 64)
	v := n * mult
	if v < 1<<20 || v > 1<<40 {
		return 0, fmt.Errorf("%q is out of range: from 1MiB to 1TiB", s)
	}
	return uint64(v), nil
}

// FormatBytes prints a size as "256MiB".
func FormatBytes(n uint64) string {
	for _, u := range []struct {
		n string
		v uint64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.v && n%u.v == 0 {
			return fmt.Sprintf("%d%s", n/u.v, u.n)
		}
	}
	return fmt.Sprintf("%dB", n)
}

func sortedUnits(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if m[out[i]] != m[out[j]] {
			return m[out[i]] < m[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

// Describe says what the network fault does, for people: "delay 300ms ±50ms,
// loss 5% to 10.1.0.0/16 port 5432".
func (n *NetFault) Describe(kind FaultKind) string {
	if n == nil {
		return ""
	}
	var parts []string
	if kind == FaultPartition {
		parts = append(parts, "drop all")
	}
	if n.Delay > 0 {
		s := "delay " + FormatDuration(n.Delay)
		if n.Jitter > 0 {
			s += " ±" + FormatDuration(n.Jitter)
		}
		parts = append(parts, s)
	}
	for _, p := range []struct {
		n string
		v float64
	}{{"loss", n.Loss}, {"corrupt", n.Corrupt}, {"duplicate", n.Duplicate}} {
		if p.v > 0 {
			parts = append(parts, fmt.Sprintf("%s %g%%", p.n, p.v))
		}
	}
	if n.Rate > 0 {
		parts = append(parts, "rate "+FormatRate(n.Rate))
	}
	s := strings.Join(parts, ", ")
	if n.To != nil {
		s += " to " + n.To.String()
	}
	return s
}

func (t *Destinations) String() string {
	var parts []string
	for _, c := range t.CIDRs {
		parts = append(parts, c.String())
	}
	if len(t.Labels) > 0 {
		keys := make([]string, 0, len(t.Labels))
		for k := range t.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+t.Labels[k])
		}
		parts = append(parts, "{"+strings.Join(kv, ",")+"}")
	}
	s := strings.Join(parts, " ")
	if s == "" {
		s = "any"
	}
	if len(t.Ports) > 0 {
		ps := make([]string, len(t.Ports))
		for i, p := range t.Ports {
			ps[i] = strconv.Itoa(p)
		}
		s += " port " + strings.Join(ps, ",")
	}
	return s
}

// Describe says what the stress fault consumes: "2 CPU workers at 90%,
// memory 256MiB".
func (s *StressFault) Describe() string {
	if s == nil {
		return ""
	}
	var parts []string
	if s.CPUWorkers > 0 {
		parts = append(parts, fmt.Sprintf("%d CPU workers at %d%%", s.CPUWorkers, s.CPULoad))
	}
	if s.Memory > 0 {
		parts = append(parts, "memory "+FormatBytes(s.Memory))
	}
	return strings.Join(parts, ", ")
}

// netJSON and stressJSON are the stored forms, with durations, rates and
// sizes as people write them.
type netJSON struct {
	Delay       string    `json:"delay,omitempty"`
	Jitter      string    `json:"jitter,omitempty"`
	Correlation float64   `json:"correlation,omitempty"`
	Loss        float64   `json:"loss,omitempty"`
	Corrupt     float64   `json:"corrupt,omitempty"`
	Duplicate   float64   `json:"duplicate,omitempty"`
	Rate        string    `json:"rate,omitempty"`
	To          *destJSON `json:"to,omitempty"`
}

type destJSON struct {
	CIDRs  []string          `json:"cidrs,omitempty"`
	Ports  []int             `json:"ports,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

type stressJSON struct {
	CPUWorkers int    `json:"cpu_workers,omitempty"`
	CPULoad    int    `json:"cpu_load,omitempty"`
	Memory     string `json:"memory,omitempty"`
}

func optDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// MarshalJSON writes durations, rates and addresses as strings.
func (n NetFault) MarshalJSON() ([]byte, error) {
	j := netJSON{Delay: optDuration(n.Delay), Jitter: optDuration(n.Jitter), Correlation: n.Correlation,
		Loss: n.Loss, Corrupt: n.Corrupt, Duplicate: n.Duplicate}
	if n.Rate > 0 {
		j.Rate = FormatRate(n.Rate)
	}
	if n.To != nil {
		j.To = &destJSON{Ports: n.To.Ports, Labels: n.To.Labels}
		for _, c := range n.To.CIDRs {
			j.To.CIDRs = append(j.To.CIDRs, c.String())
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (n *NetFault) UnmarshalJSON(b []byte) error {
	var j netJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := NetFault{Correlation: j.Correlation, Loss: j.Loss, Corrupt: j.Corrupt, Duplicate: j.Duplicate}
	var err error
	if j.Delay != "" {
		if out.Delay, err = time.ParseDuration(j.Delay); err != nil {
			return fmt.Errorf("delay: %w", err)
		}
	}
	if j.Jitter != "" {
		if out.Jitter, err = time.ParseDuration(j.Jitter); err != nil {
			return fmt.Errorf("jitter: %w", err)
		}
	}
	if j.Rate != "" {
		if out.Rate, err = ParseRate(j.Rate); err != nil {
			return fmt.Errorf("rate: %w", err)
		}
	}
	if j.To != nil {
		out.To = &Destinations{Ports: j.To.Ports, Labels: j.To.Labels}
		for _, c := range j.To.CIDRs {
			p, err := ParseCIDR(c)
			if err != nil {
				return fmt.Errorf("to: %w", err)
			}
			out.To.CIDRs = append(out.To.CIDRs, p)
		}
	}
	*n = out
	return nil
}

// MarshalJSON writes the memory size as a string.
func (s StressFault) MarshalJSON() ([]byte, error) {
	j := stressJSON{CPUWorkers: s.CPUWorkers, CPULoad: s.CPULoad}
	if s.Memory > 0 {
		j.Memory = FormatBytes(s.Memory)
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (s *StressFault) UnmarshalJSON(b []byte) error {
	var j stressJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	out := StressFault{CPUWorkers: j.CPUWorkers, CPULoad: j.CPULoad}
	if j.Memory != "" {
		m, err := ParseBytes(j.Memory)
		if err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		out.Memory = m
	}
	*s = out
	return nil
}
