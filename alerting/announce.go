package alerting

import (
	"fmt"
	"time"
)

// Announcement is an alert tumult posts to Alertmanager so that on-call sees
// chaos next to real alerts.
//
// Alertmanager resolves an alert posted without EndsAt after its
// resolve_timeout (5m by default), so whoever announces must post an
// active announcement again well within that time, as Prometheus does, and
// post it with EndsAt set (see Resolve) when it is over.
type Announcement struct {
	Labels      map[string]string
	Annotations map[string]string
	StartsAt    time.Time
	// EndsAt is zero while the announcement is active.
	EndsAt time.Time
}

// Resolve returns the announcement ended at now. Alertmanager identifies an
// alert by its labels, so the resolved copy keeps them unchanged.
func (a Announcement) Resolve(now time.Time) Announcement {
	a.EndsAt = now
	return a
}

// ChaosAlert announces one running fault on one member.
func ChaosAlert(policy, target, member, fault string, start time.Time) Announcement {
	return Announcement{
		Labels: map[string]string{
			"alertname":       AlertChaosActive,
			"policy":          policy,
			"target":          target,
			"member":          member,
			"fault":           fault,
			"severity":        "info",
			LabelAnnouncement: "true",
		},
		Annotations: map[string]string{
			"summary":     fmt.Sprintf("tumult: %s fault on %s (policy %s)", fault, member, policy),
			"description": fmt.Sprintf("tumult policy %q is running a %s fault on member %q of %s target. This is planned chaos; tumult restores the member by itself.", policy, fault, member, target),
		},
		StartsAt: start,
	}
}

// HaltedAlert announces that tumult is halted. The reason goes into an
// annotation, not a label, so that a changed reason does not make a second
// alert.
func HaltedAlert(reason string, since time.Time) Announcement {
	return Announcement{
		Labels: map[string]string{
			"alertname":       AlertHalted,
			"severity":        "info",
			LabelAnnouncement: "true",
		},
		Annotations: map[string]string{
			"summary":     "tumult is halted: no chaos runs until it is resumed",
			"description": "tumult halted: " + reason,
			"reason":      reason,
		},
		StartsAt: since,
	}
}
