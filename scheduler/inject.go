package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/targets"
)

// Errors of Inject; test for them with errors.Is.
var (
	// ErrRefused: a gate said no (halted, paused, guardian, steady state,
	// blast radius, no eligible member, ...). The error says which and why.
	ErrRefused = errors.New("refused")
	// ErrUnknownPolicy: no loaded policy has that name.
	ErrUnknownPolicy = errors.New("unknown policy")
	// ErrUnknownMember: the member named is not in the policy's fleet.
	ErrUnknownMember = errors.New("unknown member")
)

// InjectRequest asks for one experiment now.
type InjectRequest struct {
	Policy string
	// Member, when set, is the member to disrupt: a container or
	// allocation ID, a unique ID prefix, or a name. Empty: one eligible
	// member chosen at random.
	Member string
	// Actor and Reason are recorded with the experiment.
	Actor, Reason string
}

// Inject runs one experiment of the policy now, outside its windows and
// freezes, and whether the policy is enabled or not, but under every other
// gate, in the scheduler's own order: control state (halted, paused),
// guardian, steady state, fleet listing, max_disrupted, min_healthy,
// max_per_day, and an eligible member (opted in, not protected, healthy,
// not already disrupted). It returns the record written: the injected
// fault, whose run goes on after Inject returns, or the skipped decision,
// recorded with its actor like any other. A refusal is ErrRefused (or
// ErrUnknownMember) wrapped with the gate's reason.
func (e *Engine) Inject(ctx context.Context, req InjectRequest) (ledger.Record, error) {
	p, ok := e.Policy(req.Policy)
	if !ok {
		return ledger.Record{}, fmt.Errorf("%w %q", ErrUnknownPolicy, req.Policy)
	}
	if strings.TrimSpace(req.Reason) == "" {
		return ledger.Record{}, errors.New("inject: a reason is required")
	}
	return e.decide(ctx, p, e.opts.Clock.Now(), request{
		actor: req.Actor, reason: req.Reason, member: strings.TrimSpace(req.Member), anyTime: true,
	})
}

// pick finds the member named by id (ID, unique ID prefix of at least 4
// characters, or name) and returns its index if it is eligible. Otherwise
// it returns -1 with why it is not eligible, or with "" when no member of
// the fleet has that name.
func (t tally) pick(f targets.Fleet, id string) (int, string) {
	found := -1
	for i, m := range f.Members {
		name := strings.TrimPrefix(m.Name, "/")
		if m.ID == id || name == id || (len(id) >= 4 && strings.HasPrefix(m.ID, id)) {
			if found >= 0 && m.ID != f.Members[found].ID {
				return -1, fmt.Sprintf("%q names more than one member; give more of the ID", id)
			}
			found = i
		}
	}
	if found < 0 {
		return -1, ""
	}
	for _, i := range t.eligible {
		if i == found {
			return i, ""
		}
	}
	m := f.Members[found]
	switch {
	case t.held[m.Key()]:
		return -1, "it is already disrupted"
	case !m.Healthy:
		return -1, fmt.Sprintf("it is not healthy (%s)", cmp.Or(m.Status, "-"))
	case m.Excluded != "":
		return -1, m.Excluded
	}
	return -1, "it is not eligible"
}
