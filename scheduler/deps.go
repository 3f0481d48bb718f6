package scheduler

import (
	"context"
	"time"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// Ledger is the part of the ledger the scheduler writes to: fault
// records. It reads the control state but never writes it (Control does).
type Ledger interface {
	Control(ctx context.Context) (ledger.Control, error)
	Begin(ctx context.Context, r ledger.Record) error
	Update(ctx context.Context, id string, fn func(*ledger.Record) error) (ledger.Record, error)
	UpdateMany(ctx context.Context, ups []ledger.RecordUpdate) ([]ledger.Record, []error)
	Active(ctx context.Context) ([]ledger.Record, error)
	CountSince(ctx context.Context, policy string, since time.Time) (int, error)
}

// Control changes the control state on the scheduler's behalf; the
// guardian's controller implements it.
type Control interface {
	// PauseFailed pauses policy after one of its experiments failed, for
	// reason; a halted policy stays halted.
	PauseFailed(ctx context.Context, policy, reason string) error
}

// Targets finds the target that serves a driver endpoint.
type Targets interface {
	Target(driver policies.Driver, endpoint string) (targets.Target, error)
}

// Guard tells whether the guardian allows a new fault of the policy now.
// It fails closed: a source it cannot read does not allow.
type Guard interface {
	Allow(ctx context.Context, p *policies.Policy) (ok bool, reason string)
}

// SteadyState reads a steady-state query. An error, no data or NaN is
// reported as an error, never as a value.
type SteadyState interface {
	Query(ctx context.Context, prometheus, query string) (float64, error)
}

// EventKind names what happened to a fault.
type EventKind string

const (
	EventSkipped  EventKind = "skipped"
	EventInjected EventKind = "injected"
	EventRestored EventKind = "restored"
	EventFinished EventKind = "finished"
)

// Event is what the engine tells its observer.
type Event struct {
	Kind   EventKind
	Record ledger.Record
	// Took is, for restored events, how long the restore took.
	Took time.Duration
}

// Observer hears about the engine's work, e.g. to keep metrics. It must
// not block.
type Observer interface {
	Observe(Event)
}

type nopObserver struct{}

func (nopObserver) Observe(Event) {}

type allowAll struct{}

func (allowAll) Allow(context.Context, *policies.Policy) (bool, string) { return true, "" }
