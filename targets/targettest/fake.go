// Package targettest is an in-memory fleet that implements targets.Target,
// for tests of the scheduler and the agent. It checks the invariants a
// real fleet cannot: it remembers the most members ever down at once.
// It imports targets and policies only, never a driver.
package targettest

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// Fake is an in-memory fleet on one endpoint.
type Fake struct {
	Driver   policies.Driver
	Endpoint string

	mu      sync.Mutex
	members map[string]*member
	order   []string
	// InjectErr, when set, fails every injection.
	InjectErr error
	// RestoreErrs fails that many restores before they succeed.
	RestoreErrs int
	// Mechanism, when set, is noted for network, partition and stress
	// faults, as the Docker driver notes netem or netfilter.
	Mechanism string
	// ListErr, when set, fails every listing.
	ListErr error
	// BeforeInject, when set, is called by each Inject before the fault
	// takes hold, outside the fake's lock and whatever happens to ctx
	// meanwhile (as an engine that carries out a call its client gave up
	// on): a test can hold an injection in flight.
	BeforeInject func()

	injections  int
	restores    int
	maxDown     int
	downBy      map[string]int // policy label → down now (for reports)
	injectedIDs []string
}

type member struct {
	targets.Member
	down   bool // stopped, killed or paused by a fault
	broken bool // unhealthy by itself
	gone   bool
	self   bool // tumult itself
}

// New returns an empty fleet.
func New(driver policies.Driver, endpoint string) *Fake {
	return &Fake{Driver: driver, Endpoint: endpoint, members: map[string]*member{}, downBy: map[string]int{}}
}

// Add puts a healthy member into the fleet.
func (f *Fake) Add(id string, labels map[string]string, excluded string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[id] = &member{Member: targets.Member{Driver: f.Driver, Endpoint: f.Endpoint, ID: id, Name: id, Labels: labels, Excluded: excluded}}
	f.order = append(f.order, id)
}

// AddSelf puts tumult's own container into the fleet: like a driver, List
// leaves it out and counts it in Fleet.Self.
func (f *Fake) AddSelf(id string, labels map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[id] = &member{Member: targets.Member{Driver: f.Driver, Endpoint: f.Endpoint, ID: id, Name: id, Labels: labels, Excluded: "tumult itself"}, self: true}
	f.order = append(f.order, id)
}

// SetBroken makes a member unhealthy (or healthy again) by itself.
func (f *Fake) SetBroken(id string, broken bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[id].broken = broken
}

// Remove makes a member disappear, as if deleted by hand.
func (f *Fake) Remove(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.members[id].gone = true
}

// Down returns the IDs of members held down by a fault now.
func (f *Fake) Down() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, id := range f.order {
		if m := f.members[id]; m.down && !m.gone {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Stats returns injections, restores and the most members ever down at
// once.
func (f *Fake) Stats() (injections, restores, maxDown int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injections, f.restores, f.maxDown
}

// Injected returns the member IDs injected, in order.
func (f *Fake) Injected() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.injectedIDs...)
}

var _ targets.Target = (*Fake)(nil)

func (f *Fake) List(ctx context.Context, sel policies.Selector) (targets.Fleet, error) {
	if err := ctx.Err(); err != nil {
		return targets.Fleet{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ListErr != nil {
		return targets.Fleet{}, &targets.Error{Driver: string(f.Driver), Endpoint: f.Endpoint, Op: "list", Class: targets.ErrUnreachable, Err: f.ListErr}
	}
	var fl targets.Fleet
	for _, id := range f.order {
		m := f.members[id]
		if m.gone || !matches(m.Labels, sel.Labels) || (sel.Name != nil && !sel.Name.MatchString(m.Name)) {
			continue
		}
		if m.self {
			fl.Self++
			continue
		}
		mm := m.Member
		mm.Healthy = !m.down && !m.broken
		mm.Status = status(m)
		fl.Members = append(fl.Members, mm)
	}
	fl.Size = len(fl.Members)
	return fl, nil
}

func matches(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func status(m *member) string {
	switch {
	case m.gone:
		return "gone"
	case m.down:
		return "down"
	case m.broken:
		return "unhealthy"
	}
	return "running"
}

func (f *Fake) Inject(ctx context.Context, tm targets.Member, spec policies.FaultSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if f.BeforeInject != nil {
		f.BeforeInject()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.members[tm.ID]
	if !ok || m.gone {
		return &targets.Error{Driver: string(f.Driver), Endpoint: f.Endpoint, Op: "inject " + tm.ID, Class: targets.ErrGone, Err: fmt.Errorf("no such member")}
	}
	if m.Excluded != "" {
		return &targets.Error{Driver: string(f.Driver), Endpoint: f.Endpoint, Op: "inject " + tm.ID, Class: targets.ErrRefused, Err: fmt.Errorf("member is %s", m.Excluded)}
	}
	if f.InjectErr != nil {
		return f.InjectErr
	}
	f.injections++
	f.injectedIDs = append(f.injectedIDs, tm.ID)
	if spec.Degrades() && f.Mechanism != "" {
		targets.NoteMechanism(ctx, f.Mechanism)
	}
	switch spec.Kind {
	case policies.FaultKill, policies.FaultStop, policies.FaultPause:
		m.down = true
	}
	down := 0
	for _, x := range f.members {
		if x.down && !x.gone {
			down++
		}
	}
	f.maxDown = max(f.maxDown, down)
	return nil
}

func (f *Fake) Restore(ctx context.Context, tm targets.Member, spec policies.FaultSpec) (targets.Outcome, error) {
	if err := ctx.Err(); err != nil {
		return targets.Outcome{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.RestoreErrs > 0 {
		f.RestoreErrs--
		return targets.Outcome{}, &targets.Error{Driver: string(f.Driver), Endpoint: f.Endpoint, Op: "restore " + tm.ID, Class: targets.ErrUnreachable, Err: fmt.Errorf("engine busy")}
	}
	m, ok := f.members[tm.ID]
	if !ok || m.gone {
		return targets.Outcome{How: targets.Gone}, nil
	}
	f.restores++
	if m.down {
		m.down = false
		return targets.Outcome{How: targets.Restored}, nil
	}
	if spec.Kind == policies.FaultSignal || spec.Kind == policies.FaultRestart {
		return targets.Outcome{How: targets.Unaffected}, nil
	}
	return targets.Outcome{How: targets.Recovered}, nil
}

func (f *Fake) State(ctx context.Context, tm targets.Member) (targets.State, error) {
	if err := ctx.Err(); err != nil {
		return targets.State{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.members[tm.ID]
	if !ok || m.gone {
		return targets.State{Status: "gone"}, nil
	}
	return targets.State{Exists: true, Running: !m.down, Healthy: !m.down && !m.broken, Status: status(m)}, nil
}

// Set is a Targets lookup over fakes, by driver and endpoint.
type Set map[string]targets.Target

// Target implements the scheduler's lookup.
func (s Set) Target(d policies.Driver, endpoint string) (targets.Target, error) {
	t, ok := s[string(d)+"/"+endpoint]
	if !ok {
		return nil, fmt.Errorf("no %s endpoint %q", d, endpoint)
	}
	return t, nil
}

// Add registers a fake in the set.
func (s Set) Add(f *Fake) Set {
	s[string(f.Driver)+"/"+f.Endpoint] = f
	return s
}
