package guardian

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
)

// Source kinds, as the status shows them.
const (
	KindAlert  = "alert"
	KindSLO    = "slo"
	KindConsul = "consul_service"
)

// ScopeGlobal is the scope of the guardian block's trip wires in status.
const ScopeGlobal = "global"

// Alert is one firing alert, from a poll or a webhook delivery: the one
// alert type of tumult (policies.Alert), as alerting reports it.
type Alert = policies.Alert

// alertKey identifies the alert: its fingerprint, or its sorted labels.
func alertKey(a Alert) string {
	if a.Fingerprint != "" {
		return a.Fingerprint
	}
	names := make([]string, 0, len(a.Labels))
	for n := range a.Labels {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%q,", n, a.Labels[n])
	}
	return b.String()
}

// AlertSource lists the alerts that count as trip wires on one
// Alertmanager: active, not silenced, not inhibited.
type AlertSource interface {
	Alerts(ctx context.Context) ([]Alert, error)
}

// SLOReading is what one read of an SLO trip wire found.
type SLOReading struct {
	// Tripped when a burn-rate pair crossed its factor.
	Tripped bool
	// Detail describes the burn rates, for status and halt reasons.
	Detail string
	// GateBlocked when the wire's min_budget_left start gate holds new
	// faults back (too little budget left, or the budget is unknown).
	GateBlocked bool
	GateDetail  string
}

// SLOSource reads the burn rates of an SLO wire from one Prometheus. A
// query that fails, has no data or is NaN is an error, never a calm
// reading.
type SLOSource interface {
	Burn(ctx context.Context, wire policies.SLOWire) (SLOReading, error)
}

// ConsulHealth reports the critical checks of a Consul service.
type ConsulHealth interface {
	// Critical returns the names of the service's checks that are
	// critical; none means healthy.
	Critical(ctx context.Context, service string) ([]string, error)
}

// ControlReader reads the control state; a ControlLedger is one.
type ControlReader interface {
	Control(ctx context.Context) (ledger.Control, error)
}

// SourceStatus is one trip wire and the source it reads, for tumult status.
// A source shared by several wires (one Alertmanager read for all alert
// wires on it) appears once per wire.
type SourceStatus struct {
	// Name is the source's stable name: alertmanager/main,
	// slo/checkout-availability, consul/checkout.
	Name string
	// Kind is KindAlert, KindSLO or KindConsul.
	Kind string
	// Scope is ScopeGlobal or the policy the wire belongs to.
	Scope string
	// Up when the last read succeeded.
	Up bool
	// Tripped when the wire trips, unreadable for stale_after included.
	Tripped bool
	// LastRead is the last successful read.
	LastRead  time.Time
	LastError string
	Detail    string
}

// reading is the last successful read of a source.
type reading struct {
	alerts   []Alert
	slo      SLOReading
	critical []string
}

// source is one thing the watcher reads on its own schedule.
type source struct {
	name  string // alertmanager/main
	kind  string
	label string // "alertmanager main", for messages
	// interval between reads; read does one. Both change with reloads and
	// are read under the watcher's lock.
	interval time.Duration
	read     func(ctx context.Context) (reading, error)
	// def tells whether a reloaded wire still reads the same thing.
	def string

	created time.Time
	lastOK  time.Time
	everOK  bool
	lastErr error
	reading reading

	// cancel stops the source's reader while it runs.
	cancel context.CancelFunc
}

// readOK reports whether the last read succeeded.
func (s *source) readOK() bool { return s.everOK && s.lastErr == nil }

// staleFor reports how long the source has gone without a successful
// read (since it was added, when it never had one).
func (s *source) staleFor(now time.Time) time.Duration {
	since := s.created
	if s.everOK {
		since = s.lastOK
	}
	return now.Sub(since)
}

func (s *source) errText() string {
	if s.lastErr != nil {
		return s.lastErr.Error()
	}
	if !s.lastOK.IsZero() {
		return "no read since " + s.lastOK.UTC().Format("15:04:05")
	}
	return "no answer yet"
}

// wire is one trip wire in one scope.
type wire struct {
	scope string // "" for the guardian block's wires, else a policy name
	kind  string
	src   *source
	// alert wires
	matchers []policies.Matcher
	// slo wires
	slo policies.SLOWire
	// consul wires
	service string

	// held indexes the webhook alerts an alert wire matches (held.go).
	held *heldIndex

	// Kept across reloads while the wire is unchanged.
	tripped    bool
	clearSince time.Time // start of the current clear stretch; zero when not clear
}

func (w *wire) key() string {
	return w.scope + "|" + w.kind + "|" + w.src.name + "|" + matcherText(w.matchers)
}

func (w *wire) scopeName() string {
	if w.scope == "" {
		return ScopeGlobal
	}
	return w.scope
}

func matcherText(ms []policies.Matcher) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.String()
	}
	return strings.Join(parts, ", ")
}

// verdict is what a wire says at one instant.
type verdict struct {
	tripped bool
	reason  string // why it trips
	// block says why the wire refuses new faults; empty allows them.
	block string
	// clear: read OK and not tripped, the condition for auto resume.
	clear  bool
	detail string
}

// judge evaluates one wire at now. It changes nothing.
func (w *Watcher) judge(wr *wire, now time.Time) verdict {
	s := wr.src
	if age := s.staleFor(now); age >= w.staleAfter {
		r := fmt.Sprintf("%s unreadable for %s: %s", s.label, policies.FormatDuration(age.Round(time.Second)), s.errText())
		return verdict{tripped: true, reason: r, block: r, detail: r}
	}
	var v verdict
	switch wr.kind {
	case KindAlert:
		v = w.judgeAlert(wr, now)
	case KindSLO:
		v = judgeSLO(wr)
	case KindConsul:
		v = judgeConsul(wr)
	}
	switch {
	case v.tripped:
		v.block = v.reason
		v.detail = v.reason
	case !s.everOK:
		v.block = s.label + " not read yet"
		if s.lastErr != nil {
			v.block += ": " + s.lastErr.Error()
		}
		v.detail = "not read yet"
	case s.lastErr != nil:
		v.block = fmt.Sprintf("%s: last read failed: %v", s.label, s.lastErr)
	}
	v.clear = !v.tripped && s.readOK()
	return v
}

// judgeAlert reads the wire's polled alerts and its index of webhook
// alerts (held.go): its cost grows with the alerts that match, not with
// the alerts held.
func (w *Watcher) judgeAlert(wr *wire, _ time.Time) verdict {
	var first string
	n := 0
	var polled map[string]bool
	for _, a := range wr.src.reading.alerts {
		if !alertTrips(a.Labels, wr.matchers) {
			continue
		}
		k := alertKey(a)
		if polled[k] {
			continue
		}
		if polled == nil {
			polled = map[string]bool{}
		}
		polled[k] = true
		if n == 0 {
			first = alertName(a)
		}
		n++
	}
	viaWebhook := false
	if wr.held != nil && len(wr.held.keys) > 0 {
		n += len(wr.held.keys)
		for k := range polled {
			if wr.held.keys[k] > 0 {
				n-- // counted once, as polled
			}
		}
		if first == "" {
			first, viaWebhook = wr.held.firstHit().name, true
		}
	}
	if n == 0 {
		return verdict{detail: "no alert matches " + matcherText(wr.matchers)}
	}
	r := fmt.Sprintf("%s: alert %s firing", wr.src.label, first)
	if viaWebhook {
		r += " (webhook)"
	}
	if n > 1 {
		r += fmt.Sprintf(" and %d more", n-1)
	}
	if len(wr.matchers) > 0 {
		r += ", matches " + matcherText(wr.matchers)
	}
	return verdict{tripped: true, reason: r}
}

func judgeSLO(wr *wire) verdict {
	rd := wr.src.reading.slo
	v := verdict{detail: rd.Detail}
	if rd.Tripped {
		v.tripped = true
		v.reason = fmt.Sprintf("%s burning error budget too fast", wr.src.label)
		if rd.Detail != "" {
			v.reason += ": " + rd.Detail
		}
		return v
	}
	if rd.GateBlocked && wr.src.readOK() {
		v.block = rd.GateDetail
		if v.block == "" {
			v.block = fmt.Sprintf("error budget of %s below min_budget_left", wr.slo.Name)
		}
	}
	if rd.GateDetail != "" {
		v.detail = strings.TrimPrefix(v.detail+"; "+rd.GateDetail, "; ")
	}
	return v
}

func judgeConsul(wr *wire) verdict {
	crit := wr.src.reading.critical
	if len(crit) == 0 {
		return verdict{detail: "no critical check"}
	}
	return verdict{tripped: true, reason: fmt.Sprintf("%s has critical checks: %s", wr.src.label, strings.Join(crit, ", "))}
}

func alertName(a Alert) string {
	if n := a.Labels["alertname"]; n != "" {
		return n
	}
	return "{" + strings.TrimSuffix(alertKey(a), ",") + "}"
}
