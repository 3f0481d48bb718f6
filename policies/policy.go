package policies

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

var policyBlockSchema = []hcl.BlockHeaderSchema{{Type: "policy", LabelNames: []string{"name"}}}

var policySpec = blockSpec{
	attrs: []string{"description", "enabled", "dry_run"},
	blocks: []hcl.BlockHeaderSchema{
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
	before := len(d.list.Errs())
	b := d.read(hb, policySpec)
	p := &Policy{Name: hb.Labels[0], Enabled: true, DeclRange: hb.DefRange}
	if !policyName.MatchString(p.Name) {
		d.errorf(hb.LabelRanges[0], "Invalid policy name", "Policy name %q must start with a letter or digit and hold only letters, digits, '_', '-' and '.'.", p.Name)
	}
	if a := b.attrs["description"]; a != nil {
		p.Description, _ = d.str(a)
	}
	if a := b.attrs["enabled"]; a != nil {
		p.Enabled, _ = d.boolean(a)
	}
	if a := b.attrs["dry_run"]; a != nil {
		p.DryRun, _ = d.boolean(a)
	}

	target := d.exactlyOne(b, "target", `target "docker" { labels = { "app" = "api" } }`)
	if target != nil {
		p.Target = l.decodeTarget(d, target)
	}
	fault := d.exactlyOne(b, "fault", `fault "kill" { restore_after = "2m" }`)
	if fault != nil {
		p.Fault = decodeFault(d, fault, p.Target.Driver)
	}
	windows := b.ofType("window")
	if len(windows) == 0 {
		d.errorf(b.def, "Missing window block", `A policy needs at least one window block, e.g. window { cron = "0 9 * * MON-FRI" duration = "8h" }.`)
	}
	for _, w := range windows {
		if win, ok := decodeWindow(d, w); ok {
			p.Windows = append(p.Windows, win)
		}
	}
	for _, f := range b.ofType("freeze") {
		if fr, ok := decodeFreeze(d, f); ok {
			p.Freezes = append(p.Freezes, fr)
		}
	}
	if every := d.exactlyOne(b, "every", `every { mean = "45m" }`); every != nil {
		p.Every = decodeEvery(d, every)
	}
	p.Limits = Limits{MaxDisrupted: Quantity{Count: 1}, MinHealthy: 1}
	if lim := d.atMostOne(b, "limits"); lim != nil {
		p.Limits = decodeLimits(d, lim)
	}
	if ss := d.atMostOne(b, "steady_state"); ss != nil {
		p.SteadyState = l.decodeSteadyState(d, ss)
	}
	if ho := d.atMostOne(b, "halt_on"); ho != nil {
		p.HaltOn = l.decodeHaltOn(d, ho)
	}
	if len(d.list.Errs()) > before {
		return nil
	}
	l.warnPolicy(d, p, b)
	return p
}

var targetSpecs = map[Driver]blockSpec{
	DriverDocker: {attrs: []string{"endpoint", "labels", "name"}},
	DriverNomad:  {attrs: []string{"cluster", "namespace", "job", "group", "task"}, required: []string{"job"}},
}

func (l *loader) decodeTarget(d *diags, hb *hcl.Block) Selector {
	drv := Driver(hb.Labels[0])
	spec, ok := targetSpecs[drv]
	if !ok {
		d.errorf(hb.LabelRanges[0], "Unknown target driver", "Target driver %q is not known; use %s.", hb.Labels[0], oneOf([]string{"docker", "nomad"}))
		return Selector{}
	}
	b := d.read(hb, spec)
	sel := Selector{Driver: drv}
	switch drv {
	case DriverDocker:
		sel.Endpoint = l.reference(d, b, "endpoint", "docker")
		if a := b.attrs["labels"]; a != nil {
			sel.Labels, _ = d.stringMap(a)
		}
		if a := b.attrs["name"]; a != nil {
			if s, ok := d.str(a); ok {
				re, err := regexp.Compile(s)
				if err != nil {
					d.errorf(a.Expr.Range(), "Invalid name pattern", "name must be an RE2 regular expression: %s.", err)
				}
				sel.Name = re
			}
		}
		if len(sel.Labels) == 0 && b.attrs["name"] == nil {
			d.errorf(hb.DefRange, "Target too broad", "A docker target needs labels or name; without them it would match every opted-in container on the endpoint.")
		}
	case DriverNomad:
		sel.Endpoint = l.reference(d, b, "cluster", "nomad")
		sel.Namespace = "default"
		for name, dst := range map[string]*string{"namespace": &sel.Namespace, "job": &sel.Job, "group": &sel.Group, "task": &sel.Task} {
			if a := b.attrs[name]; a != nil {
				if s, ok := d.str(a); ok {
					if s == "" {
						d.errorf(a.Expr.Range(), "Invalid value", "%s must not be empty.", name)
					}
					*dst = s
				}
			}
		}
	}
	return sel
}

var faultSpecs = map[FaultKind]blockSpec{
	FaultKill:    {attrs: []string{"signal", "restore_after"}},
	FaultStop:    {attrs: []string{"timeout", "restore_after"}},
	FaultPause:   {attrs: []string{"duration"}, required: []string{"duration"}},
	FaultRestart: {attrs: []string{"timeout"}},
	FaultSignal:  {attrs: []string{"signal"}, required: []string{"signal"}},
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
		words := make([]string, len(FaultKinds))
		for i, k := range FaultKinds {
			words[i] = string(k)
		}
		d.errorf(hb.LabelRanges[0], "Unknown fault kind", "Fault kind %q is not known; use %s.", hb.Labels[0], oneOf(words))
		return FaultSpec{}
	}
	b := d.read(hb, spec)
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
			d.errorf(hb.DefRange, "Fault not supported by target", "A pause fault needs a docker target: Nomad cannot pause an allocation.")
		}
	}
	if a := b.attrs["signal"]; a != nil {
		if s, ok := d.str(a); ok {
			if sig, ok := NormalizeSignal(s); ok {
				f.Signal = sig
			} else {
				d.errorf(a.Expr.Range(), "Unknown signal", "%q is not a signal name; use one such as \"SIGKILL\", \"SIGTERM\" or \"SIGHUP\".", s)
			}
		}
	}
	if a := b.attrs["restore_after"]; a != nil {
		f.RestoreAfter, _ = d.duration(a, time.Second)
	}
	if a := b.attrs["timeout"]; a != nil {
		f.Timeout, _ = d.duration(a, 0)
	}
	if a := b.attrs["duration"]; a != nil {
		f.Duration, _ = d.duration(a, time.Second)
	}
	return f
}

func decodeWindow(d *diags, hb *hcl.Block) (Window, bool) {
	b := d.read(hb, blockSpec{attrs: []string{"cron", "duration", "timezone"}, required: []string{"cron", "duration"}})
	loc := time.UTC
	ok := true
	if a := b.attrs["timezone"]; a != nil {
		if s, good := d.str(a); good {
			l, err := LoadLocation(s)
			if err != nil {
				d.errorf(a.Expr.Range(), "Unknown timezone", "%q is not an IANA time zone name such as \"Europe/Berlin\" or \"America/New_York\".", s)
				ok = false
			}
			loc = l
		} else {
			ok = false
		}
	}
	var dur time.Duration
	if a := b.attrs["duration"]; a != nil {
		var good bool
		if dur, good = d.duration(a, time.Minute); !good {
			ok = false
		}
	}
	var expr string
	if a := b.attrs["cron"]; a != nil {
		var good bool
		if expr, good = d.str(a); !good {
			return Window{}, false
		}
		if _, err := cronParser.Parse(expr); err != nil {
			d.errorf(a.Expr.Range(), "Invalid cron expression", "%q: %s. Use 5 fields (minute hour day-of-month month day-of-week), e.g. \"0 9 * * MON-FRI\", or @daily, @weekly, …", expr, err)
			return Window{}, false
		} else if strings.HasPrefix(strings.TrimSpace(expr), "@every") {
			d.errorf(a.Expr.Range(), "Invalid cron expression", "%q is not a time of day; windows open at calendar times, e.g. \"0 9 * * MON-FRI\".", expr)
			return Window{}, false
		}
	}
	if !ok || expr == "" || dur == 0 {
		return Window{}, false
	}
	w, err := NewWindow(expr, dur, loc)
	if err != nil {
		d.errorf(hb.DefRange, "Invalid window", "%s.", err)
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
	b := d.read(hb, blockSpec{attrs: []string{"from", "to", "reason"}, required: []string{"from", "to"}})
	var f Freeze
	ok := true
	parse := func(name string) time.Time {
		a := b.attrs[name]
		if a == nil {
			ok = false
			return time.Time{}
		}
		s, good := d.str(a)
		if !good {
			ok = false
			return time.Time{}
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			d.errorf(a.Expr.Range(), "Invalid time", "%s must be an RFC 3339 time with its offset, e.g. \"2026-12-20T00:00:00+01:00\"; got %q.", name, s)
			ok = false
		}
		return t
	}
	f.From, f.To = parse("from"), parse("to")
	if a := b.attrs["reason"]; a != nil {
		f.Reason, _ = d.str(a)
	}
	if ok && !f.To.After(f.From) {
		d.errorf(b.attrs["to"].Expr.Range(), "Empty freeze", "to (%s) must be after from (%s).", f.To.Format(time.RFC3339), f.From.Format(time.RFC3339))
		ok = false
	}
	return f, ok
}

func decodeEvery(d *diags, hb *hcl.Block) Cadence {
	b := d.read(hb, blockSpec{attrs: []string{"mean", "min"}, required: []string{"mean"}})
	var c Cadence
	if a := b.attrs["mean"]; a != nil {
		c.Mean, _ = d.duration(a, time.Second)
	}
	if a := b.attrs["min"]; a != nil {
		var ok bool
		if c.Min, ok = d.duration(a, 0); ok && c.Mean > 0 && c.Min > c.Mean {
			d.errorf(a.Expr.Range(), "Minimum gap above mean", "min (%s) must not exceed mean (%s): gaps average mean and are never shorter than min.", FormatDuration(c.Min), FormatDuration(c.Mean))
		}
	}
	return c
}

var percent = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$`)

func decodeLimits(d *diags, hb *hcl.Block) Limits {
	b := d.read(hb, blockSpec{attrs: []string{"max_disrupted", "min_healthy", "max_per_day"}})
	l := Limits{MaxDisrupted: Quantity{Count: 1}, MinHealthy: 1}
	if a := b.attrs["max_disrupted"]; a != nil {
		l.MaxDisrupted, _ = decodeQuantity(d, a)
	}
	if a := b.attrs["min_healthy"]; a != nil {
		l.MinHealthy, _ = d.integer(a, 0)
	}
	if a := b.attrs["max_per_day"]; a != nil {
		l.MaxPerDay, _ = d.integer(a, 1)
	}
	return l
}

// decodeQuantity reads an integer or a percentage string such as "25%".
func decodeQuantity(d *diags, a *hcl.Attribute) (Quantity, bool) {
	v, ds := a.Expr.Value(nil)
	if ds.HasErrors() {
		d.add(ds...)
		return Quantity{}, false
	}
	if v.Type().FriendlyName() == "string" && !v.IsNull() {
		s := v.AsString()
		m := percent.FindStringSubmatch(s)
		if m == nil {
			d.errorf(a.Expr.Range(), "Invalid quantity", "%s must be a whole number or a percentage such as \"25%%\"; got %q.", a.Name, s)
			return Quantity{}, false
		}
		var p float64
		fmt.Sscanf(m[1], "%g", &p)
		if p > 100 {
			d.errorf(a.Expr.Range(), "Percentage over 100%", "%s is %s; a percentage of the fleet can be at most 100%%.", a.Name, s)
			return Quantity{}, false
		}
		return Quantity{Percent: p, IsPercent: true}, true
	}
	n, ok := d.integer(a, 0)
	return Quantity{Count: n}, ok
}

func (l *loader) decodeSteadyState(d *diags, hb *hcl.Block) *SteadyState {
	b := d.read(hb, blockSpec{attrs: []string{"prometheus", "query", "min", "max", "recover_within"}, required: []string{"query"}})
	s := &SteadyState{RecoverWithin: 5 * time.Minute}
	s.Prometheus = l.reference(d, b, "prometheus", "prometheus")
	if a := b.attrs["query"]; a != nil {
		if q, ok := d.str(a); ok {
			if strings.TrimSpace(q) == "" {
				d.errorf(a.Expr.Range(), "Empty query", "query must be a PromQL expression.")
			}
			s.Query = q
		}
	}
	for name, dst := range map[string]**float64{"min": &s.Min, "max": &s.Max} {
		if a := b.attrs[name]; a != nil {
			if v, ok := d.number(a); ok {
				*dst = &v
			}
		}
	}
	if b.attrs["min"] == nil && b.attrs["max"] == nil {
		d.errorf(hb.DefRange, "Missing bound", "A steady_state block needs min, max or both: the bounds the query must stay within.")
	}
	if s.Min != nil && s.Max != nil && *s.Min > *s.Max {
		d.errorf(b.attrs["min"].Expr.Range(), "Empty bounds", "min (%g) is above max (%g): no value could ever be in bounds.", *s.Min, *s.Max)
	}
	if a := b.attrs["recover_within"]; a != nil {
		s.RecoverWithin, _ = d.duration(a, time.Second)
	}
	return s
}

func (l *loader) decodeHaltOn(d *diags, hb *hcl.Block) HaltOn {
	b := d.read(hb, blockSpec{blocks: []hcl.BlockHeaderSchema{
		{Type: "alert"}, {Type: "slo", LabelNames: []string{"name"}}, {Type: "consul_service"},
	}})
	var h HaltOn
	for _, ab := range b.ofType("alert") {
		ib := d.read(ab, blockSpec{attrs: []string{"alertmanager", "matchers"}, required: []string{"matchers"}})
		w := AlertWire{Alertmanager: l.reference(d, ib, "alertmanager", "alertmanager")}
		if a := ib.attrs["matchers"]; a != nil {
			if ms, ok := d.stringList(a); ok {
				if len(ms) == 0 {
					d.errorf(a.Expr.Range(), "No matchers", "matchers must hold at least one matcher, e.g. [\"severity=\\\"critical\\\"\"]; an empty list would match every alert.")
				}
				for _, s := range ms {
					m, err := ParseMatcher(s)
					if err != nil {
						d.errorf(a.Expr.Range(), "Invalid matcher", "%q: %s.", s, err)
						continue
					}
					w.Matchers = append(w.Matchers, m)
				}
			}
		}
		h.Alerts = append(h.Alerts, w)
	}
	for _, sb := range b.ofType("slo") {
		h.SLOs = append(h.SLOs, l.decodeSLO(d, sb))
	}
	for _, cb := range b.ofType("consul_service") {
		ib := d.read(cb, blockSpec{attrs: []string{"service"}, required: []string{"service"}})
		var w ConsulServiceWire
		if a := ib.attrs["service"]; a != nil {
			w.Service, _ = d.str(a)
		}
		if l.cfg != nil && l.cfg.Consul == nil {
			d.errorf(cb.DefRange, "No consul block", "A consul_service trip wire needs a consul block in the agent config %s.", l.cfg.File)
		}
		h.ConsulServices = append(h.ConsulServices, w)
	}
	return h
}

func (l *loader) decodeSLO(d *diags, hb *hcl.Block) SLOWire {
	b := d.read(hb, blockSpec{
		attrs:    []string{"prometheus", "error_ratio", "objective", "min_budget_left", "period"},
		required: []string{"error_ratio", "objective"},
		blocks:   []hcl.BlockHeaderSchema{{Type: "burn"}},
	})
	w := SLOWire{Name: hb.Labels[0], Period: 30 * 24 * time.Hour}
	w.Prometheus = l.reference(d, b, "prometheus", "prometheus")
	if a := b.attrs["error_ratio"]; a != nil {
		if s, ok := d.str(a); ok {
			w.ErrorRatio = s
			if !strings.Contains(s, "$window") {
				d.warnf(a.Expr.Range(), "error_ratio without $window", "error_ratio has no $window, so the long and short windows of every burn pair read the same series.")
			}
		}
	}
	if a := b.attrs["objective"]; a != nil {
		if v, ok := d.number(a); ok {
			if v <= 0 || v >= 1 {
				d.errorf(a.Expr.Range(), "Invalid objective", "objective must be between 0 and 1 (exclusive), e.g. 0.999; got %g.", v)
			}
			w.Objective = v
		}
	}
	if a := b.attrs["min_budget_left"]; a != nil {
		if v, ok := d.number(a); ok {
			if v < 0 || v > 1 {
				d.errorf(a.Expr.Range(), "Invalid budget", "min_budget_left is a fraction of the error budget, between 0 and 1; got %g.", v)
			}
			w.MinBudgetLeft = &v
		}
	}
	if a := b.attrs["period"]; a != nil {
		w.Period, _ = d.duration(a, time.Hour)
	}
	for _, bb := range b.ofType("burn") {
		ib := d.read(bb, blockSpec{attrs: []string{"long", "short", "factor"}, required: []string{"long", "short", "factor"}})
		var p BurnPair
		var okL, okS bool
		if a := ib.attrs["long"]; a != nil {
			p.Long, okL = d.duration(a, time.Minute)
		}
		if a := ib.attrs["short"]; a != nil {
			p.Short, okS = d.duration(a, time.Minute)
		}
		if a := ib.attrs["factor"]; a != nil {
			if v, ok := d.number(a); ok {
				if v <= 0 {
					d.errorf(a.Expr.Range(), "Invalid factor", "factor must be positive; got %g.", v)
				}
				p.Factor = v
			}
		}
		if okL && okS && p.Short >= p.Long {
			d.errorf(ib.attrs["short"].Expr.Range(), "Short window not shorter", "short (%s) must be shorter than long (%s).", FormatDuration(p.Short), FormatDuration(p.Long))
		}
		w.Burns = append(w.Burns, p)
	}
	if len(w.Burns) == 0 {
		w.Burns = append([]BurnPair(nil), DefaultBurnPairs...)
	}
	return w
}
