package alerting

import (
	"time"
)

// Announcement is an alert tumult posts to Alertmanager so that on-call sees
// chaos next to real alerts. What it says (its labels and annotations) is
// the guardian's business; this package only posts it.
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
