// Package targets owns the Target interface that fault drivers implement,
// the member and fault vocabulary they share, error classes the scheduler
// can act on, and the dry-run wrapper. Drivers live in targets/docker and
// targets/nomad; this package imports neither.
package targets
