package ledger

import "time"

// What a ledger keeps, the same whatever the storage.
const (
	// DefaultRetention is how long finished records are kept.
	DefaultRetention = 30 * 24 * time.Hour
	// DefaultMaxHistory caps the number of finished records kept.
	DefaultMaxHistory = 10000
	// MinIndexAge is how long injections stay countable whatever the
	// retention says: max_per_day looks back one calendar day (25 hours
	// across DST).
	MinIndexAge = 48 * time.Hour
)

// KeepDefaults fills the options every store shares where they are zero:
// retention (DefaultRetention), maxHistory (DefaultMaxHistory) and the
// clock (time.Now).
func KeepDefaults(retention *time.Duration, maxHistory *int, now *func() time.Time) {
	if *retention <= 0 {
		*retention = DefaultRetention
	}
	if *maxHistory <= 0 {
		*maxHistory = DefaultMaxHistory
	}
	if *now == nil {
		*now = time.Now
	}
}

// IndexCutoff is the instant before which injection index entries may be
// pruned at now: older than retention and than MinIndexAge.
func IndexCutoff(now time.Time, retention time.Duration) time.Time {
	return now.Add(-max(retention, MinIndexAge))
}
