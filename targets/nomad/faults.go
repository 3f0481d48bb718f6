package nomad

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// maxChain bounds how many NextAllocation links are followed: an
// allocation that keeps failing is rescheduled again and again.
const maxChain = 16

var errPause = errors.New("pause is not supported on nomad")

// Inject applies the fault. It reads the allocation and its job first, so
// that a member which lost its opt-in, became protected or ended since it
// was listed is not touched.
func (t *Target) Inject(ctx context.Context, m targets.Member, f policies.FaultSpec) error {
	op := faultOp(m, f)
	switch f.Kind {
	case policies.FaultKill, policies.FaultStop, policies.FaultRestart:
	case policies.FaultSignal:
		if f.Signal == "" {
			return t.fail(op, targets.ErrRefused, errors.New("the signal fault names no signal"))
		}
	case policies.FaultPause:
		return t.fail(op, targets.ErrRefused, errPause)
	default:
		return t.fail(op, targets.ErrRefused, fmt.Errorf("unknown fault kind %q", f.Kind))
	}

	a, err := t.allocInfo(ctx, m)
	if err != nil {
		return t.fail(op, classify(err), fmt.Errorf("read allocation: %w", err))
	}
	if !live(a.DesiredStatus, a.ClientStatus) || migrating(a) {
		return t.fail(op, targets.ErrGone, fmt.Errorf("allocation is %s, desired %s", a.ClientStatus, a.DesiredStatus))
	}
	if f.Kind != policies.FaultKill && f.Kind != policies.FaultStop && a.ClientStatus != api.AllocClientStatusRunning {
		return t.fail(op, targets.ErrRefused, fmt.Errorf("allocation is %s, not running", a.ClientStatus))
	}
	job, err := t.jobInfo(ctx, a.Namespace, a.JobID)
	if err != nil {
		return t.fail(op, classify(err), fmt.Errorf("read job %s/%s: %w", a.Namespace, a.JobID, err))
	}
	tg := findGroup(job, a.TaskGroup)
	if tg == nil {
		return t.fail(op, targets.ErrGone, fmt.Errorf("job %s no longer has task group %q", a.JobID, a.TaskGroup))
	}
	if m.Task != "" && !hasTask(tg, m.Task) {
		return t.fail(op, targets.ErrRefused, fmt.Errorf("task group %q has no task %q", a.TaskGroup, m.Task))
	}
	if reason := t.exclusion(a.ID, effectiveMeta(job, tg, m.Task)); reason != "" {
		return t.fail(op, targets.ErrRefused, fmt.Errorf("member is excluded: %s", reason))
	}

	q := t.query(ctx, a.Namespace)
	switch f.Kind {
	case policies.FaultKill, policies.FaultStop:
		// Nomad stops a task with its own kill_signal and kill_timeout; a
		// kill's signal and a stop's timeout have no say here.
		_, err = t.client.Allocations().Stop(a, q)
	case policies.FaultRestart:
		err = t.client.Allocations().Restart(a, m.Task, q)
	case policies.FaultSignal:
		err = t.client.Allocations().Signal(a, q, m.Task, f.Signal)
	}
	if err != nil {
		return t.fail(op, classify(err), err)
	}
	t.log.Info("injected fault", "fault", f.Kind, "member", m.Short(), "alloc_id", a.ID, "task", m.Task)
	return nil
}

// Restore waits for Nomad to bring the member back, bounded by ctx:
//   - kill, stop: until the group is back at its count with a running
//     replacement (Replaced); Gone when the job, the group or any
//     replacement is gone; Unaffected when the allocation was never
//     stopped.
//   - restart: until the allocation (or its task) runs again (Recovered).
//   - signal: the allocation still runs (Unaffected), or runs again
//     after the signal took it down (Recovered).
//
// A restart or signal that ended in Nomad rescheduling the allocation
// reports the replacement (Replaced). Restore only reads, so calling it
// again is safe.
func (t *Target) Restore(ctx context.Context, m targets.Member, f policies.FaultSpec) (targets.Outcome, error) {
	op := describe("restore", m)
	switch f.Kind {
	case policies.FaultPause:
		return targets.Outcome{How: targets.Unaffected}, nil // never injected on nomad
	case policies.FaultKill, policies.FaultStop:
		return t.poll(ctx, op, func() (targets.Outcome, bool, string, error) {
			return t.checkReplaced(ctx, m)
		})
	case policies.FaultRestart, policies.FaultSignal:
		how := targets.Recovered
		if f.Kind == policies.FaultSignal {
			how = targets.Unaffected
		}
		return t.poll(ctx, op, func() (targets.Outcome, bool, string, error) {
			out, done, waiting, err := t.checkRunning(ctx, m, how)
			how = targets.Recovered // whatever comes back after a wait came back by itself
			return out, done, waiting, err
		})
	}
	return targets.Outcome{}, t.fail(op, targets.ErrRefused, fmt.Errorf("unknown fault kind %q", f.Kind))
}

// poll runs check until it is done, PollInterval apart. check says what
// it is waiting for, so that a cancelled wait can say it.
func (t *Target) poll(ctx context.Context, op string, check func() (targets.Outcome, bool, string, error)) (targets.Outcome, error) {
	timer := time.NewTimer(t.opts.PollInterval)
	defer timer.Stop()
	waiting := "waiting"
	for {
		out, done, w, err := check()
		if err != nil {
			if ctx.Err() != nil {
				return targets.Outcome{}, t.fail(op, nil, fmt.Errorf("%s: %w", waiting, context.Cause(ctx)))
			}
			return targets.Outcome{}, t.fail(op, classify(err), err)
		}
		if done {
			return out, nil
		}
		waiting = w
		timer.Reset(t.opts.PollInterval)
		select {
		case <-ctx.Done():
			return targets.Outcome{}, t.fail(op, nil, fmt.Errorf("%s: %w", waiting, context.Cause(ctx)))
		case <-timer.C:
		}
	}
}

// checkReplaced looks once whether a stopped allocation's group is back
// at its count, and which allocation replaced it.
func (t *Target) checkReplaced(ctx context.Context, m targets.Member) (targets.Outcome, bool, string, error) {
	ns, jobID, group := namespaceOr(m.Namespace), m.Job, m.Group
	orig, err := t.allocInfo(ctx, m)
	switch {
	case classify(err) == targets.ErrGone:
		orig = nil // garbage-collected; find the replacement by name
	case err != nil:
		return targets.Outcome{}, false, "", fmt.Errorf("read allocation: %w", err)
	case live(orig.DesiredStatus, orig.ClientStatus) && !migrating(orig):
		return targets.Outcome{How: targets.Unaffected}, true, "", nil
	default:
		ns, jobID, group = orig.Namespace, orig.JobID, orig.TaskGroup
	}
	if jobID == "" {
		return targets.Outcome{How: targets.Gone}, true, "", nil
	}
	job, err := t.jobInfo(ctx, ns, jobID)
	if classify(err) == targets.ErrGone {
		return targets.Outcome{How: targets.Gone}, true, "", nil
	}
	if err != nil {
		return targets.Outcome{}, false, "", fmt.Errorf("read job %s/%s: %w", ns, jobID, err)
	}
	tg := findGroup(job, group)
	if deref(job.Stop) || tg == nil {
		return targets.Outcome{How: targets.Gone}, true, "", nil
	}
	stubs, _, err := t.client.Jobs().Allocations(jobID, false, t.query(ctx, ns))
	if err != nil {
		return targets.Outcome{}, false, "", fmt.Errorf("list allocations of job %s/%s: %w", ns, jobID, err)
	}
	want, running := deref(tg.Count), 0
	for _, s := range stubs {
		if s.TaskGroup == group && s.DesiredStatus == api.AllocDesiredStatusRun && s.ClientStatus == api.AllocClientStatusRunning {
			running++
		}
	}
	repl := replacementOf(orig, m, group, stubs)
	switch {
	case repl != nil && repl.ClientStatus == api.AllocClientStatusRunning && running >= want:
		t.log.Info("member replaced", "member", m.Short(), "alloc_id", m.ID, "replacement", repl.ID)
		return targets.Outcome{How: targets.Replaced, Replacement: repl.ID}, true, "", nil
	case repl == nil && running >= want:
		// The group is whole without a successor: it was scaled down.
		return targets.Outcome{How: targets.Gone}, true, "", nil
	}
	replacing := "none yet"
	if repl != nil {
		replacing = shortID(repl.ID) + " " + repl.ClientStatus
	}
	return targets.Outcome{}, false, fmt.Sprintf("waiting for group %s of job %s to be back at count %d (%d running; replacement %s)",
		group, jobID, want, running, replacing), nil
}

// replacementOf finds the allocation that took orig's place: the end of
// its NextAllocation chain, else the newest live allocation of the group
// placed after it, preferring one with the same name (Nomad keeps a
// replacement's name index). With orig garbage-collected, only the name
// is left to go by.
func replacementOf(orig *api.Allocation, m targets.Member, group string, stubs []*api.AllocationListStub) *api.AllocationListStub {
	byID := make(map[string]*api.AllocationListStub, len(stubs))
	for _, s := range stubs {
		byID[s.ID] = s
	}
	if orig != nil && orig.NextAllocation != "" {
		if cur := byID[orig.NextAllocation]; cur != nil {
			for range maxChain {
				next := byID[cur.NextAllocation]
				if next == nil {
					break
				}
				cur = next
			}
			return cur
		}
	}
	var best *api.AllocationListStub
	sameName := func(s *api.AllocationListStub) bool { return m.Name != "" && s.Name == m.Name }
	for _, s := range stubs {
		if s.TaskGroup != group || s.ID == m.ID || !live(s.DesiredStatus, s.ClientStatus) {
			continue
		}
		if orig != nil && s.CreateIndex <= orig.CreateIndex {
			continue
		}
		if orig == nil && m.Name != "" && !sameName(s) {
			continue
		}
		if best == nil || sameName(s) && !sameName(best) ||
			sameName(s) == sameName(best) && s.CreateIndex > best.CreateIndex {
			best = s
		}
	}
	return best
}

// checkRunning looks once whether the allocation (or its task) runs,
// following it to its replacement if Nomad rescheduled it.
func (t *Target) checkRunning(ctx context.Context, m targets.Member, how targets.How) (targets.Outcome, bool, string, error) {
	a, err := t.allocInfo(ctx, m)
	if classify(err) == targets.ErrGone {
		return targets.Outcome{How: targets.Gone}, true, "", nil
	}
	if err != nil {
		return targets.Outcome{}, false, "", fmt.Errorf("read allocation: %w", err)
	}
	replaced := false
	for i := 0; a.NextAllocation != "" && i < maxChain; i++ {
		next, err := t.allocByID(ctx, a.Namespace, a.NextAllocation)
		if classify(err) == targets.ErrGone {
			break
		}
		if err != nil {
			return targets.Outcome{}, false, "", fmt.Errorf("read replacement allocation: %w", err)
		}
		a, replaced = next, true
	}
	task := m.Task
	if replaced {
		task = "" // the whole replacement must run, not only one task
	}
	runs := a.DesiredStatus == api.AllocDesiredStatusRun && !migrating(a) &&
		a.ClientStatus == api.AllocClientStatusRunning && tasksRunning(a.TaskStates, task)
	switch {
	case runs && replaced:
		return targets.Outcome{How: targets.Replaced, Replacement: a.ID}, true, "", nil
	case runs:
		return targets.Outcome{How: how}, true, "", nil
	case live(a.DesiredStatus, a.ClientStatus) || migrating(a):
		// starting, restarting, or stopped and about to be replaced
	case a.DesiredStatus == api.AllocDesiredStatusRun && a.ClientStatus == api.AllocClientStatusFailed:
		// failed; Nomad's reschedule policy may still place a successor
	default:
		return targets.Outcome{How: targets.Gone}, true, "", nil
	}
	what := "allocation " + shortID(a.ID)
	if task != "" {
		what = "task " + task + " of " + what
	}
	return targets.Outcome{}, false, fmt.Sprintf("waiting for %s to run (now %s)", what, a.ClientStatus), nil
}

// faultOp names the operation for errors: "stop allocation web.api[0]
// (4f1c0a9e)", "send SIGHUP to task server of allocation …".
func faultOp(m targets.Member, f policies.FaultSpec) string {
	var verb string
	switch f.Kind {
	case policies.FaultKill, policies.FaultStop:
		verb = "stop"
	case policies.FaultRestart:
		verb = "restart"
	case policies.FaultSignal:
		verb = "send " + f.Signal + " to"
	default:
		verb = string(f.Kind)
	}
	if m.Task != "" && f.Kind != policies.FaultKill && f.Kind != policies.FaultStop {
		verb += " task " + m.Task + " of"
	}
	return describe(verb, m)
}
