package docker

import (
	"context"
	"errors"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// Restore brings the member back now if the fault still holds it down, and
// says how it came back. A pause is undone at once, without an inspect
// (see unpauseFirst); when the engine says the container is not paused,
// and for every other kind, it inspects the container and then, whatever
// the fault kind, since a container may have gone down in more ways than
// the fault meant (a kill's restart policy, a person, an OOM), and
// restore's promise is that the member is up again however it went down:
//
//	not found, or being removed           → Gone, no error
//	paused                                → unpause             → Restored
//	restarting (its restart policy's      → wait up to RestartWait until
//	  back-off)                              it is up             → Recovered
//	not running (created, exited, dead)   → start               → Restored
//	running, and tumult restored it before
//	  (StartedAt is the one tumult saw
//	  after its own start or unpause)     → the same answer as then
//	running, fault kind restart           → Recovered (the restart itself
//	                                         brought it back; Inject waited)
//	running, StartedAt differs from before
//	  the fault                           → Recovered (a restart policy, an
//	                                         orchestrator or a person)
//	running, same StartedAt as before:
//	  pause                               → Recovered (unpaused by others)
//	  kill, stop, signal                  → Unaffected (it never went down)
//
// "Before the fault" is remembered by Inject in memory. After tumult
// restarts it is unknown and inspect alone decides: pause → Recovered;
// signal → Unaffected; kill, stop → Recovered when the container has
// exited before and started again since (FinishedAt set, StartedAt after
// it), else Unaffected.
//
// Docker's quirk (seen with Docker 20.10 and later): a kill or stop
// through the API, with any signal, marks the container as stopped by
// hand, so its restart policy does not bring it back and Restore starts
// it (Restored). A crash (the main process killed
// from the host) lets the restart policy act: Recovered.
//
// Restore honours ctx; callers that restore on halt should pass a context
// detached from the cancelled one (context.WithoutCancel plus a timeout).
func (t *Target) Restore(ctx context.Context, m targets.Member, f policies.FaultSpec) (targets.Outcome, error) {
	if err := t.own(m, "restore"); err != nil {
		return targets.Outcome{}, err
	}
	if f.Degrades() {
		return t.restoreDegrade(ctx, m, f)
	}
	if f.Kind == policies.FaultPause {
		if out, done, err := t.unpauseFirst(ctx, m); done {
			return out, err
		}
	}
	// Bounded: each pass either returns or waits out a restart once.
	for range 3 {
		info, err := t.inspect(ctx, m)
		if t.gone(m, err) {
			return targets.Outcome{How: targets.Gone}, nil
		}
		if err != nil {
			return targets.Outcome{}, err
		}
		st := stateOf(info)
		rec, known := t.recall(m.ID)
		act, how := decide(f.Kind, st, rec, known)
		switch act {
		case actDone:
			return targets.Outcome{How: how}, nil
		case actUnpause:
			if err := t.call(ctx, 0, func(ctx context.Context) error { return t.cli.ContainerUnpause(ctx, m.ID) }); err != nil {
				return targets.Outcome{}, t.fail(op("unpause", m), err)
			}
			// Unpausing leaves StartedAt as it was: no second inspect.
			return t.settled(m, st.StartedAt, targets.Restored), nil
		case actStart:
			if err := t.call(ctx, 0, func(ctx context.Context) error {
				return t.cli.ContainerStart(ctx, m.ID, container.StartOptions{})
			}); err != nil {
				return targets.Outcome{}, t.fail(op("start", m), err)
			}
			info, err := t.inspect(ctx, m)
			if t.gone(m, err) {
				return targets.Outcome{How: targets.Gone}, nil
			}
			if err != nil {
				return targets.Outcome{}, err
			}
			return t.settled(m, stateOf(info).StartedAt, targets.Restored), nil
		case actWait:
			now, err := t.wait(ctx, m, t.opts.RestartWait, "come back by its restart policy", func(s containerState) bool {
				return !s.Restarting
			})
			if t.gone(m, err) {
				return targets.Outcome{How: targets.Gone}, nil
			}
			if err != nil {
				return targets.Outcome{}, err
			}
			if now.up() {
				return targets.Outcome{How: targets.Recovered}, nil
			}
			// The policy gave up (or it was paused meanwhile): decide again.
		}
	}
	return targets.Outcome{}, &targets.Error{Driver: driverName, Endpoint: t.opts.Name, Op: op("restore", m),
		Err: errors.New("container keeps changing state; not restored")}
}

// unpauseFirst restores a pause from what the caller knows (the ledger
// says it paused the member) without an inspect first: at a halt of many
// members that inspect is a third of the engine's work. Any refusal but
// "no such container" — the container is not paused (a crash between the
// record and the pause, someone unpaused it; engines answer that with a
// conflict or, older ones, a 500), or the engine is failing — leaves done
// false, and Restore's inspecting path decides: it tells how a member came
// back, and returns the engine's error for a retry when it cannot.
func (t *Target) unpauseFirst(ctx context.Context, m targets.Member) (out targets.Outcome, done bool, err error) {
	err = t.call(ctx, 0, func(ctx context.Context) error { return t.cli.ContainerUnpause(ctx, m.ID) })
	switch {
	case err == nil:
		// Unpausing leaves StartedAt as it was before the pause, when
		// Inject saw it; after a restart of tumult it is unknown.
		rec, _ := t.recall(m.ID)
		return t.settled(m, rec.before, targets.Restored), true, nil
	case cerrdefs.IsNotFound(err):
		t.forget(m.ID)
		return targets.Outcome{How: targets.Gone}, true, nil
	case ctx.Err() != nil:
		return targets.Outcome{}, true, t.fail(op("unpause", m), err)
	}
	t.log.Debug("unpause refused; inspecting", "member", m.Short(), "error", err)
	return targets.Outcome{}, false, nil
}

// gone forgets m when err says its container is gone, and reports
// whether it did.
func (t *Target) gone(m targets.Member, err error) bool {
	if !errors.Is(err, targets.ErrGone) {
		return false
	}
	t.forget(m.ID)
	return true
}

// settled records tumult's restore with the StartedAt it left, so that a
// second Restore gives the same answer.
func (t *Target) settled(m targets.Member, startedAt time.Time, how targets.How) targets.Outcome {
	t.mu.Lock()
	rec := t.faults[m.ID]
	if rec == nil {
		rec = &faultRecord{at: t.opts.Now()}
		t.faults[m.ID] = rec
	}
	rec.restored, rec.restoredStart, rec.how = true, startedAt, how
	t.mu.Unlock()
	t.log.Debug("restored member", "member", m.Short(), "container_id", targets.ShortID(m.ID), "how", how)
	return targets.Outcome{How: how}
}

type action int

const (
	actDone    action = iota // nothing to do; the How says why
	actUnpause               // unpause, then Restored
	actStart                 // start, then Restored
	actWait                  // its restart policy is at work: wait, then Recovered
)

// decide is Restore's table (see Restore) as a pure function.
func decide(kind policies.FaultKind, st containerState, rec faultRecord, known bool) (action, targets.How) {
	switch {
	case st.State == string(container.StateRemoving):
		return actDone, targets.Gone
	case st.Paused:
		return actUnpause, targets.Restored
	case st.Restarting:
		return actWait, targets.Recovered
	case !st.Running:
		return actStart, targets.Restored
	case known && rec.restored && (rec.restoredStart.IsZero() || st.StartedAt.Equal(rec.restoredStart)):
		// A zero restoredStart: tumult unpaused it without knowing its
		// StartedAt (restarted since the pause); its answer stands.
		return actDone, rec.how
	case kind == policies.FaultRestart:
		return actDone, targets.Recovered
	case known && !st.StartedAt.Equal(rec.before):
		return actDone, targets.Recovered
	case kind == policies.FaultPause:
		return actDone, targets.Recovered
	case known:
		return actDone, targets.Unaffected
	case kind == policies.FaultSignal:
		return actDone, targets.Unaffected
	case !st.FinishedAt.IsZero() && st.StartedAt.After(st.FinishedAt):
		return actDone, targets.Recovered
	}
	return actDone, targets.Unaffected
}

// faultRecord is what Inject and Restore remember about one container.
type faultRecord struct {
	at            time.Time // when the fault was injected
	before        time.Time // StartedAt before the fault
	restored      bool      // tumult started or unpaused it
	restoredStart time.Time // StartedAt after tumult's restore
	how           targets.How
}

// recordTTL bounds the memory of faults: far longer than any restore_after,
// short enough that containers long gone do not pile up.
const recordTTL = 24 * time.Hour

func (t *Target) remember(id string, before time.Time) {
	now := t.opts.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, r := range t.faults {
		if now.Sub(r.at) > recordTTL {
			delete(t.faults, k)
		}
	}
	t.faults[id] = &faultRecord{at: now, before: before}
}

func (t *Target) recall(id string) (faultRecord, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.faults[id]
	if !ok {
		return faultRecord{}, false
	}
	return *r, true
}

func (t *Target) forget(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.faults, id)
}
