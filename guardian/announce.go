package guardian

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/inferensys/tumult/ledger"
)

// Defaults of the announcement loop.
const (
	DefaultAnnounceEvery = 30 * time.Second
	DefaultAnnounceCheck = 5 * time.Second
)

// AnnouncementKind is what an announcement tells.
type AnnouncementKind string

const (
	// AnnounceFault: a fault is running on a member (ChaosExperimentActive).
	AnnounceFault AnnouncementKind = "fault"
	// AnnounceHalted: tumult is halted (TumultHalted).
	AnnounceHalted AnnouncementKind = "halted"
)

// Announcement is chaos that on-call should see next to real alerts.
// Alertmanager tells alerts apart by their labels, so two announcements
// with the same Key are the same alert.
type Announcement struct {
	Kind AnnouncementKind
	// For AnnounceFault.
	Policy string
	Target string // driver/endpoint, e.g. docker/local
	Member string // the member's name
	Fault  string // the fault kind
	// Reason is why tumult is halted (AnnounceHalted).
	Reason string
	Since  time.Time
}

// Key identifies the alert the announcement stands for.
func (a Announcement) Key() string {
	if a.Kind == AnnounceHalted {
		return string(AnnounceHalted)
	}
	return fmt.Sprintf("%s|%s|%s|%s|%s", a.Kind, a.Policy, a.Target, a.Member, a.Fault)
}

// Labels are the labels of the alert the announcement is posted as.
// Alertmanager tells alerts apart by their labels, so a halt's reason is
// not one of them: a changed reason must not make a second alert.
func (a Announcement) Labels() map[string]string {
	if a.Kind == AnnounceHalted {
		return map[string]string{
			"alertname":       AlertHalted,
			"severity":        "info",
			LabelAnnouncement: "true",
		}
	}
	return map[string]string{
		"alertname":       AlertChaosActive,
		"policy":          a.Policy,
		"target":          a.Target,
		"member":          a.Member,
		"fault":           a.Fault,
		"severity":        "info",
		LabelAnnouncement: "true",
	}
}

// Annotations are the annotations of the alert the announcement is
// posted as: what on-call reads.
func (a Announcement) Annotations() map[string]string {
	if a.Kind == AnnounceHalted {
		return map[string]string{
			"summary":     "tumult is halted: no chaos runs until it is resumed",
			"description": "tumult halted: " + a.Reason,
			"reason":      a.Reason,
		}
	}
	return map[string]string{
		"summary":     fmt.Sprintf("tumult: %s fault on %s (policy %s)", a.Fault, a.Member, a.Policy),
		"description": fmt.Sprintf("tumult policy %q is running a %s fault on member %q of %s target. This is planned chaos; tumult restores the member by itself.", a.Policy, a.Fault, a.Member, a.Target),
	}
}

// Announcer posts announcements to an Alertmanager and resolves them.
type Announcer interface {
	// Announce posts active announcements; posting one again keeps it
	// from timing out.
	Announce(ctx context.Context, anns []Announcement) error
	// Resolve ends announcements.
	Resolve(ctx context.Context, anns []Announcement) error
}

// FaultAnnouncement is the announcement of an active fault record.
func FaultAnnouncement(r ledger.Record) Announcement {
	since := r.Injected
	if since.IsZero() {
		since = r.Decided
	}
	return Announcement{
		Kind:   AnnounceFault,
		Policy: r.Policy,
		Target: string(r.Member.Driver) + "/" + r.Member.Endpoint,
		Member: r.Member.Short(),
		Fault:  string(r.Fault.Kind),
		Since:  since,
	}
}

// Nudge makes the announcer look for changes now instead of at its next
// check; the agent calls it when a fault starts or ends. It never blocks.
func (w *Watcher) Nudge() {
	select {
	case w.nudge <- struct{}{}:
	default:
	}
}

// announcer is the announcement loop's state; only its goroutine uses it.
type announcer struct {
	w *Watcher
	// posted holds the announcements Alertmanager has, by Key.
	posted   map[string]Announcement
	lastFull time.Time
}

func (w *Watcher) announceLoop(ctx context.Context) {
	a := &announcer{w: w, posted: map[string]Announcement{}}
	for {
		a.once(ctx)
		tick, stop := w.clk.After(w.opts.AnnounceCheck)
		select {
		case <-ctx.Done():
			stop()
			return
		case <-tick:
		case <-w.nudge:
			stop()
		}
	}
}

// wanted lists the announcements that should be active now. ok is false
// when it could not tell; nothing is resolved then.
func (a *announcer) wanted(ctx context.Context) (map[string]Announcement, bool) {
	w := a.w
	want := map[string]Announcement{}
	if w.opts.ActiveFaults != nil {
		recs, err := w.opts.ActiveFaults(ctx)
		if err != nil {
			w.log.Warn("announce: list active faults", "error", err)
			return nil, false
		}
		for _, r := range recs {
			if r.DryRun || !r.Active() {
				continue
			}
			an := FaultAnnouncement(r)
			want[an.Key()] = an
		}
	}
	if w.opts.Ledger != nil {
		c, err := w.opts.Ledger.Control(ctx)
		if err != nil {
			w.log.Warn("announce: read control state", "error", err)
			return nil, false
		}
		if g := c.Global(w.clk.Now()); g.State == ledger.Halted {
			an := Announcement{Kind: AnnounceHalted, Reason: g.Reason, Since: g.Since}
			want[an.Key()] = an
		}
	}
	return want, true
}

// once posts new announcements (all of them every AnnounceEvery) and
// resolves those no longer wanted. Failures are logged and retried at the
// next check; they never stop anything.
func (a *announcer) once(ctx context.Context) {
	w := a.w
	want, ok := a.wanted(ctx)
	if !ok {
		return
	}
	now := w.clk.Now()
	full := a.lastFull.IsZero() || now.Sub(a.lastFull) >= w.opts.AnnounceEvery
	var post, gone []Announcement
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if _, had := a.posted[k]; full || !had {
			post = append(post, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a.posted)) {
		if _, still := want[k]; !still {
			gone = append(gone, a.posted[k])
		}
	}
	if len(post) > 0 {
		if err := w.opts.Announcer.Announce(ctx, post); err != nil {
			w.log.Warn("announce chaos", "count", len(post), "error", err)
			full = false // try everything again at the next check
		} else {
			for _, an := range post {
				a.posted[an.Key()] = an
			}
		}
	}
	if full {
		a.lastFull = now
	}
	if len(gone) > 0 {
		if err := w.opts.Announcer.Resolve(ctx, gone); err != nil {
			w.log.Warn("resolve announcements", "count", len(gone), "error", err)
			return
		}
		for _, an := range gone {
			delete(a.posted, an.Key())
		}
	}
}
