package policies

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/inferensys/tumult/internal/hclread"
)

var policyBlockSchema = []hcl.BlockHeaderSchema{{Type: "policy", LabelNames: []string{"name"}}}

var policySpec = blockSpec{
	Attrs: []string{"description", "enabled", "dry_run"},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "target", LabelNames: []string{"driver"}},
		{Type: "fault", LabelNames: []string{"kind"}},
		{Type: "window"},
		{Type: "freeze"},
		{Type: "every"},
		{Type: "limits"},
		{Type: "steady_state"},
		{Type: "halt_on"},
	},
}

var policyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// decodePolicy decodes one policy block. It returns nil when the block has
// errors; they are in d.
func (l *loader) decodePolicy(d *diags, hb *hcl.Block) *Policy {
	before := len(d.List.Errs())
	b := d.Read(hb, policySpec)
	p := &Policy{Name: hb.Labels[0], Enabled: true, DeclRange: hb.DefRange}
	if !policyName.MatchString(p.Name) {
		d.Errorf(hb.LabelRanges[0], "Invalid policy name", "Policy name %q must start with a letter or digit and hold only letters, digits, '_', '-' and '.'.", p.Name)
	}
	if a := b.Attrs["description"]; a != nil {
		p.Description, _ = d.Str(a)
	}
	if a := b.Attrs["enabled"]; a != nil {
		p.Enabled, _ = d.Bool(a)
	}
	if a := b.Attrs["dry_run"]; a != nil {
		p.DryRun, _ = d.Bool(a)
	}

	target := d.ExactlyOne(b, "target", `target "docker" { labels = { "app" = "api" } }`)
	if target != nil {
		p.Target = l.decodeTarget(d, target)
	}
	fault := d.ExactlyOne(b, "fault", `fault "kill" { restore_after = "2m" }`)
	if fault != nil {
		p.Fault = decodeFault(d, fault, p.Target.Driver)
	}
	windows := b.OfType("window")
	if len(windows) == 0 {
		d.Errorf(b.Def, "Missing window block", `A policy needs at least one window block, e.g. window { cron = "0 9 * * MON-FRI" duration = "8h" }.`)
	}
	for _, w := range windows {
		if win, ok := decodeWindow(d, w); ok {
			p.Windows = append(p.Windows, win)
		}
	}
	for _, f := range b.OfType("freeze") {
		if fr, ok := decodeFreeze(d, f); ok {
			p.Freezes = append(p.Freezes, fr)
		}
	}
	if every := d.ExactlyOne(b, "every", `every { mean = "45m" }`); every != nil {
		p.Every = decodeEvery(d, every)
	}
	p.Limits = Limits{MaxDisrupted: Quantity{Count: 1}, MinHealthy: 1}
	if lim := d.AtMostOne(b, "limits"); lim != nil {
		p.Limits = decodeLimits(d, lim)
	}
	if ss := d.AtMostOne(b, "steady_state"); ss != nil {
		p.SteadyState = l.decodeSteadyState(d, ss)
	}
	if ho := d.AtMostOne(b, "halt_on"); ho != nil {
		p.HaltOn = l.decodeHaltOn(d, ho)
	}
	if len(d.List.Errs()) > before {
		return nil
	}
	l.warnPolicy(d, p, b)
	return p
}

var targetSpecs = map[Driver]blockSpec{
	DriverDocker: {Attrs: []string{"endpoint", "labels", "name"}},
	DriverNomad:  {Attrs: []string{"cluster", "namespace", "job", "group", "task"}, Required: []string{"job"}},
}

func (l *loader) decodeTarget(d *diags, hb *hcl.Block) Selector {
	drv := Driver(hb.Labels[0])
	spec, ok := targetSpecs[drv]
	if !ok {
		d.Errorf(hb.LabelRanges[0], "Unknown target driver", "Target driver %q is not known; use %s.", hb.Labels[0], oneOf([]string{"docker", "nomad"}))
		return Selector{}
	}
	b := d.Read(hb, spec)
	sel := Selector{Driver: drv}
	switch drv {
	case DriverDocker:
		sel.Endpoint = l.reference(d, b, "endpoint", "docker")
		l.decodeDockerSelector(d, b, &sel)
	case DriverNomad:
		sel.Endpoint = l.reference(d, b, "cluster", "nomad")
		sel.Namespace = "default"
		for name, dst := range map[string]*string{"namespace": &sel.Namespace, "job": &sel.Job, "group": &sel.Group, "task": &sel.Task} {
			if a := b.Attrs[name]; a != nil {
				if s, ok := d.Str(a); ok {
					*dst = s
				}
			}
		}
		checkNomadSelector(d, b, &sel)
	}
	return sel
}

var faultSpecs = map[FaultKind]blockSpec{
	FaultKill:    {Attrs: []string{"signal", "restore_after"}},
	FaultStop:    {Attrs: []string{"timeout", "restore_after"}},
	FaultPause:   {Attrs: []string{"duration"}, Required: []string{"duration"}},
	FaultRestart: {Attrs: []string{"timeout"}},
	FaultSignal:  {Attrs: []string{"signal"}, Required: []string{"signal"}},
}

// Fault defaults.
const (
	DefaultRestoreAfter = 5 * time.Minute
	DefaultStopTimeout  = 10 * time.Second
)

func decodeFault(d *diags, hb *hcl.Block, drv Driver) FaultSpec {
	kind := FaultKind(hb.Labels[0])
	spec, ok := faultSpecs[kind]
	if !ok {
		spec, ok = faultSpecsNet[kind]
	}
	if !ok {
		words := make([]string, len(FaultKinds))
		for i, k := range FaultKinds {
			words[i] = string(k)
		}
		d.Errorf(hb.LabelRanges[0], "Unknown fault kind", "Fault kind %q is not known; use %s.", hb.Labels[0], oneOf(words))
		return FaultSpec{}
	}
	b := d.Read(hb, spec)
	f := FaultSpec{Kind: kind}
	switch kind {
	case FaultKill:
		f.Signal, f.RestoreAfter = "SIGKILL", DefaultRestoreAfter
	case FaultStop:
		f.Timeout, f.RestoreAfter = DefaultStopTimeout, DefaultRestoreAfter
	case FaultRestart:
		f.Timeout = DefaultStopTimeout
	case FaultPause:
		if drv == DriverNomad {
			d.Errorf(hb.DefRange, "Fault not supported by target", "A pause fault needs a docker target: Nomad cannot pause an allocation.")
		}
	}
	if f.Degrades() {
		decodeDegrade(d, hb, b, drv, &f)
		return f
	}
	if a := b.Attrs["signal"]; a != nil {
		if s, ok := d.Str(a); ok {
			if sig, ok := NormalizeSignal(s); ok {
				f.Signal = sig
			} else {
				d.Errorf(a.Expr.Range(), "Unknown signal", "%q is not a signal name; use one such as \"SIGKILL\", \"SIGTERM\" or \"SIGHUP\".", s)
			}
		}
	}
	if a := b.Attrs["restore_after"]; a != nil {
		f.RestoreAfter, _ = d.Duration(a, time.Second)
	}
	if a := b.Attrs["timeout"]; a != nil {
		f.Timeout, _ = d.Duration(a, 0)
	}
	if a := b.Attrs["duration"]; a != nil {
		f.Duration, _ = d.Duration(a, time.Second)
	}
	return f
}

func decodeWindow(d *diags, hb *hcl.Block) (Window, bool) {
	b := d.Read(hb, blockSpec{Attrs: []string{"cron", "duration", "timezone"}, Required: []string{"cron", "duration"}})
	loc := time.UTC
	ok := true
	if a := b.Attrs["timezone"]; a != nil {
		if s, good := d.Str(a); good {
			l, err := LoadLocation(s)
			if err != nil {
				d.Errorf(a.Expr.Range(), "Unknown timezone", "%q is not an IANA time zone name such as \"Europe/Berlin\" or \"America/New_York\".", s)
				ok = false
			}
			loc = l
		} else {
			ok = false
		}
	}
	var dur time.Duration
	if a := b.Attrs["duration"]; a != nil {
		var good bool
		if dur, good = d.Duration(a, time.Minute); !good {
			ok = false
		}
	}
	var expr string
	if a := b.Attrs["cron"]; a != nil {
		var good bool
		if expr, good = d.Str(a); !good {
			return Window{}, false
		}
		if _, err := ParseCron(expr); err != nil {
			d.Errorf(a.Expr.Range(), "Invalid cron expression", "%q: %s.", expr, err)
			return Window{}, false
		}
	}
	if !ok || expr == "" || dur == 0 {
		return Window{}, false
	}
	w, err := NewWindow(expr, dur, loc)
	if err != nil {
		d.Errorf(hb.DefRange, "Invalid window", "%s.", err)
		return Window{}, false
	}
	return w, true
}

// LoadLocation loads an IANA zone. "UTC" and "Local" are not accepted as
// "Local" would depend on the machine tumult happens to run on.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("unknown time zone %q", name)
	}
	return time.LoadLocation(name)
}

func decodeFreeze(d *diags, hb *hcl.Block) (Freeze, bool) {
	b := d.Read(hb, blockSpec{Attrs: []string{"from", "to", "reason"}, Required: []string{"from", "to"}})
	var f Freeze
	ok := true
	parse := func(name string) time.Time {
		a := b.Attrs[name]
		if a == nil {
			ok = false
			return time.Time{}
		}
		s, good := d.Str(a)
		if !good {
			ok = false
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			d.Errorf(a.Expr.Range(), "Invalid time", "%s must be an RFC 3339 time with its offset, e.g. \"2026-12-20T00:00:00+01:00\"; got %q.", name, s)
			ok = false
		}
		return t
	}
	f.From, f.To = parse("from"), parse("to")
	if a := b.Attrs["reason"]; a != nil {
		f.Reason, _ = d.Str(a)
	}
	if ok && !f.To.After(f.From) {
		d.Errorf(b.Attrs["to"].Expr.Range(), "Empty freeze", "to (%s) must be after from (%s).", f.To.Format(time.RFC3339), f.From.Format(time.RFC3339))
		ok = false
	}
	return f, ok
}

func decodeEvery(d *diags, hb *hcl.Block) Cadence {
	b := d.Read(hb, blockSpec{Attrs: []string{"mean", "min"}, Required: []string{"mean"}})
	var c Cadence
	if a := b.Attrs["mean"]; a != nil {
		c.Mean, _ = d.Duration(a, time.Second)
	}
	if a := b.Attrs["min"]; a != nil {
		var ok bool
		if c.Min, ok = d.Duration(a, 0); ok && c.Mean > 0 && c.Min > c.Mean {
			d.Errorf(a.Expr.Range(), "Minimum gap above mean", "min (%s) must not exceed mean (%s): gaps average mean and are never shorter than min.", FormatDuration(c.Min), FormatDuration(c.Mean))
		}
	}
	return c
}

var percent = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$`)

func decodeLimits(d *diags, hb *hcl.Block) Limits {
	b := d.Read(hb, blockSpec{Attrs: []string{"max_disrupted", "min_healthy", "max_per_day"}})
	l := Limits{MaxDisrupted: Quantity{Count: 1}, MinHealthy: 1}
	if a := b.Attrs["max_disrupted"]; a != nil {
		l.MaxDisrupted, _ = decodeQuantity(d, a)
	}
	if a := b.Attrs["min_healthy"]; a != nil {
		l.MinHealthy, _ = d.Integer(a, 0)
	}
	if a := b.Attrs["max_per_day"]; a != nil {
		l.MaxPerDay, _ = d.Integer(a, 1)
	}
	return l
}

// decodeQuantity reads an integer or a percentage string such as "25%".
func decodeQuantity(d *diags, a *hcl.Attribute) (Quantity, bool) {
	v, ds := a.Expr.Value(nil)
	if ds.HasErrors() {
		d.Add(ds...)
		return Quantity{}, false
	}
	if v.Type().FriendlyName() == "string" && !v.IsNull() {
		s := v.AsString()
		m := percent.FindStringSubmatch(s)
		if m == nil {
			d.Errorf(a.Expr.Range(), "Invalid quantity", "%s must be a whole number or a percentage such as \"25%%\"; got %q.", a.Name, s)
			return Quantity{}, false
		}
		var p float64
		fmt.Sscanf(m[1], "%g", &p)
		if p > 100 {
			d.Errorf(a.Expr.Range(), "Percentage over 100%", "%s is %s; a percentage of the fleet can be at most 100%%.", a.Name, s)
			return Quantity{}, false
		}
		return Quantity{Percent: p, IsPercent: true}, true
	}
	n, ok := d.Integer(a, 0)
	return Quantity{Count: n}, ok
}

func (l *loader) decodeSteadyState(d *diags, hb *hcl.Block) *SteadyState {
	b := d.Read(hb, blockSpec{Attrs: []string{"prometheus", "query", "min", "max", "recover_within"}, Required: []string{"query"}})
	s := &SteadyState{RecoverWithin: 5 * time.Minute}
	s.Prometheus = l.reference(d, b, "prometheus", "prometheus")
	if a := b.Attrs["query"]; a != nil {
		if q, ok := d.Str(a); ok {
			if strings.TrimSpace(q) == "" {
				d.Errorf(a.Expr.Range(), "Empty query", "query must be a PromQL expression.")
			}
			s.Query = q
		}
	}
	for name, dst := range map[string]**float64{"min": &s.Min, "max": &s.Max} {
		if a := b.Attrs[name]; a != nil {
			if v, ok := d.Number(a); ok {
				*dst = &v
			}
		}
	}
	if b.Attrs["min"] == nil && b.Attrs["max"] == nil {
		d.Errorf(hb.DefRange, "Missing bound", "A steady_state block needs min, max or both: the bounds the query must stay within.")
	}
	if s.Min != nil && s.Max != nil && *s.Min > *s.Max {
		d.Errorf(b.Attrs["min"].Expr.Range(), "Empty bounds", "min (%g) is above max (%g): no value could ever be in bounds.", *s.Min, *s.Max)
	}
	if a := b.Attrs["recover_within"]; a != nil {
		s.RecoverWithin, _ = d.Duration(a, time.Second)
	}
	return s
}

// DecodeHaltOn decodes a halt_on block: in a policy, or in the agent
// config's guardian block. References to alertmanager and prometheus
// blocks are checked against refs (nil: not checked).
func DecodeHaltOn(d *hclread.Diags, hb *hcl.Block, refs Refs) HaltOn {
	return (&loader{cfg: refs}).decodeHaltOn(d, hb)
}

func (l *loader) decodeHaltOn(d *diags, hb *hcl.Block) HaltOn {
	b := d.Read(hb, blockSpec{Blocks: []hcl.BlockHeaderSchema{
		{Type: "alert"}, {Type: "slo", LabelNames: []string{"name"}}, {Type: "consul_service"},
	}})
	var h HaltOn
	for _, ab := range b.OfType("alert") {
		ib := d.Read(ab, blockSpec{Attrs: []string{"alertmanager", "matchers"}, Required: []string{"matchers"}})
		w := AlertWire{Alertmanager: l.reference(d, ib, "alertmanager", "alertmanager")}
		if a := ib.Attrs["matchers"]; a != nil {
			if ms, ok := d.StringList(a); ok {
				if len(ms) == 0 {
					d.Errorf(a.Expr.Range(), "No matchers", "matchers must hold at least one matcher, e.g. [\"severity=\\\"critical\\\"\"]; an empty list would match every alert.")
				}
				for _, s := range ms {
					m, err := ParseMatcher(s)
					if err != nil {
						d.Errorf(a.Expr.Range(), "Invalid matcher", "%q: %s.", s, err)
						continue
					}
					w.Matchers = append(w.Matchers, m)
				}
			}
		}
		h.Alerts = append(h.Alerts, w)
	}
	for _, sb := range b.OfType("slo") {
		h.SLOs = append(h.SLOs, l.decodeSLO(d, sb))
	}
	for _, cb := range b.OfType("consul_service") {
		ib := d.Read(cb, blockSpec{Attrs: []string{"service"}, Required: []string{"service"}})
		var w ConsulServiceWire
		if a := ib.Attrs["service"]; a != nil {
			w.Service, _ = d.Str(a)
		}
		if l.cfg != nil && !l.cfg.HasConsul() {
			d.Errorf(cb.DefRange, "No consul block", "A consul_service trip wire needs a consul block in the agent config %s.", l.cfg.Path())
		}
		h.ConsulServices = append(h.ConsulServices, w)
	}
	return h
}

func (l *loader) decodeSLO(d *diags, hb *hcl.Block) SLOWire {
	b := d.Read(hb, blockSpec{
		Attrs:    []string{"prometheus", "error_ratio", "objective", "min_budget_left", "period"},
		Required: []string{"error_ratio", "objective"},
		Blocks:   []hcl.BlockHeaderSchema{{Type: "burn"}},
	})
	w := SLOWire{Name: hb.Labels[0], Period: 30 * 24 * time.Hour}
	w.Prometheus = l.reference(d, b, "prometheus", "prometheus")
	if a := b.Attrs["error_ratio"]; a != nil {
		if s, ok := d.Str(a); ok {
			w.ErrorRatio = s
			if !strings.Contains(s, "$window") {
				d.Warnf(a.Expr.Range(), "error_ratio without $window", "error_ratio has no $window, so the long and short windows of every burn pair read the same series.")
			}
		}
	}
	if a := b.Attrs["objective"]; a != nil {
		if v, ok := d.Number(a); ok {
			if v <= 0 || v >= 1 {
				d.Errorf(a.Expr.Range(), "Invalid objective", "objective must be between 0 and 1 (exclusive), e.g. 0.999; got %g.", v)
			}
			w.Objective = v
		}
	}
	if a := b.Attrs["min_budget_left"]; a != nil {
		if v, ok := d.Number(a); ok {
			if v < 0 || v > 1 {
				d.Errorf(a.Expr.Range(), "Invalid budget", "min_budget_left is a fraction of the error budget, between 0 and 1; got %g.", v)
			}
			w.MinBudgetLeft = &v
		}
	}
	if a := b.Attrs["period"]; a != nil {
		w.Period, _ = d.Duration(a, time.Hour)
	}
	for _, bb := range b.OfType("burn") {
		ib := d.Read(bb, blockSpec{Attrs: []string{"long", "short", "factor"}, Required: []string{"long", "short", "factor"}})
		var p BurnPair
		var okL, okS bool
		if a := ib.Attrs["long"]; a != nil {
			p.Long, okL = d.Duration(a, time.Minute)
		}
		if a := ib.Attrs["short"]; a != nil {
			p.Short, okS = d.Duration(a, time.Minute)
		}
		if a := ib.Attrs["factor"]; a != nil {
			if v, ok := d.Number(a); ok {
				if v <= 0 {
					d.Errorf(a.Expr.Range(), "Invalid factor", "factor must be positive; got %g.", v)
				}
				p.Factor = v
			}
		}
		if okL && okS && p.Short >= p.Long {
			d.Errorf(ib.Attrs["short"].Expr.Range(), "Short window not shorter", "short (%s) must be shorter than long (%s).", FormatDuration(p.Short), FormatDuration(p.Long))
		}
		w.Burns = append(w.Burns, p)
	}
	if len(w.Burns) == 0 {
		w.Burns = append([]BurnPair(nil), DefaultBurnPairs...)
	}
	return w
}
