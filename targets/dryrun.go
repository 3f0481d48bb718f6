package targets

import (
	"context"
	"sync"

	"github.com/inferensys/tumult/policies"
)

// DryRun wraps a Target: it lists and reads through the real target, so
// decisions are made on the live fleet, but injects and restores nothing.
// It keeps what it would have done, for tests and for people.
type DryRun struct {
	Target Target

	mu    sync.Mutex
	calls []DryRunCall
}

// DryRunCall is one fault or restore that a DryRun did not carry out.
type DryRunCall struct {
	Op     string // "inject" or "restore"
	Member Member
	Fault  policies.FaultSpec
}

var _ Target = (*DryRun)(nil)

func (d *DryRun) List(ctx context.Context, sel policies.Selector) (Fleet, error) {
	return d.Target.List(ctx, sel)
}

func (d *DryRun) State(ctx context.Context, m Member) (State, error) {
	return d.Target.State(ctx, m)
}

func (d *DryRun) Inject(_ context.Context, m Member, f policies.FaultSpec) error {
	d.record("inject", m, f)
	return nil
}

func (d *DryRun) Restore(_ context.Context, m Member, f policies.FaultSpec) (Outcome, error) {
	d.record("restore", m, f)
	return Outcome{How: Unaffected}, nil
}

func (d *DryRun) record(op string, m Member, f policies.FaultSpec) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, DryRunCall{Op: op, Member: m, Fault: f})
}

// Calls returns what the wrapper did not do, in order.
func (d *DryRun) Calls() []DryRunCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]DryRunCall(nil), d.calls...)
}
