package docker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// Inject applies the fault:
//
//	kill     kill with f.Signal (default SIGKILL); for other signals, wait
//	         up to DownWait for the container to go down
//	stop     stop, killing it after f.Timeout (engine default when 0)
//	pause    pause (the cgroup freezer); the scheduler unpauses after
//	         f.Duration through Restore
//	restart  restart with f.Timeout
//	signal   kill with f.Signal, which is required
//
// It refuses (targets.ErrRefused) a member that is excluded, by the
// listing or by its labels inspected right before the fault, and one that
// is not up: faulting a container that is already down would be counted
// as damage tumult did not do.
func (t *Target) Inject(ctx context.Context, m targets.Member, f policies.FaultSpec) error {
	verb := injectVerb(f.Kind)
	if err := t.own(m, verb); err != nil {
		return err
	}
	refuse := func(format string, a ...any) error {
		return &targets.Error{Driver: driverName, Endpoint: t.opts.Name, Op: op(verb, m), Class: targets.ErrRefused,
			Err: fmt.Errorf(format, a...)}
	}
	if m.Excluded != "" {
		return refuse("member is excluded: %s", m.Excluded)
	}
	signal := f.Signal
	switch f.Kind {
	case policies.FaultKill:
		if signal == "" {
			signal = "SIGKILL"
		}
	case policies.FaultSignal:
		if signal == "" {
			return refuse("signal fault without a signal")
		}
	case policies.FaultStop, policies.FaultPause, policies.FaultRestart:
	case policies.FaultNetwork, policies.FaultPartition, policies.FaultStress:
	default:
		return refuse("unknown fault kind %q", f.Kind)
	}

	// Defence in depth: the labels may have changed since the listing.
	info, err := t.inspect(ctx, m)
	if err != nil {
		return err
	}
	st := stateOf(info)
	if reason := exclusion(st.Labels, st.ID, t.opts.OptInLabel, t.opts.Protect, t.opts.SelfID); reason != "" {
		return refuse("member is excluded now: %s", reason)
	}
	if !st.up() {
		return refuse("container is not up: %s", st.status())
	}
	if f.Degrades() {
		return t.injectDegrade(ctx, m, f, info, st)
	}
	// Remember before the fault, so that a Restore after a half-done
	// Inject still knows what "before" was.
	t.remember(st.ID, st.StartedAt)

	t.log.Debug("injecting fault", "member", m.Short(), "container_id", targets.ShortID(m.ID), "kind", f.Kind, "signal", signal)
	switch f.Kind {
	case policies.FaultKill:
		if err := t.call(ctx, 0, func(ctx context.Context) error { return t.cli.ContainerKill(ctx, m.ID, signal) }); err != nil {
			return t.fail(op(verb, m)+" with "+signal, err)
		}
		if !isSIGKILL(signal) {
			// The engine waits for SIGKILL to take effect but not for other
			// signals; wait here so that a Restore right after Inject does
			// not find it still running and call it unaffected.
			_, err := t.wait(ctx, m, t.opts.DownWait, "go down after "+signal, func(now containerState) bool {
				return !now.Running || now.Restarting || !now.StartedAt.Equal(st.StartedAt)
			})
			if err != nil && !errors.Is(err, targets.ErrGone) {
				// The fault was delivered; a process that shrugs off its
				// signal is a finding, not a failed injection.
				t.log.Warn("container still up after kill signal", "member", m.Short(), "signal", signal, "error", err)
			}
		}
	case policies.FaultSignal:
		if err := t.call(ctx, 0, func(ctx context.Context) error { return t.cli.ContainerKill(ctx, m.ID, signal) }); err != nil {
			return t.fail(op(verb, m)+" with "+signal, err)
		}
	case policies.FaultStop:
		if err := t.call(ctx, f.Timeout, func(ctx context.Context) error {
			return t.cli.ContainerStop(ctx, m.ID, container.StopOptions{Timeout: seconds(f.Timeout)})
		}); err != nil {
			return t.fail(op(verb, m), err)
		}
	case policies.FaultPause:
		if err := t.call(ctx, 0, func(ctx context.Context) error { return t.cli.ContainerPause(ctx, m.ID) }); err != nil {
			return t.fail(op(verb, m), err)
		}
	case policies.FaultRestart:
		if err := t.call(ctx, f.Timeout, func(ctx context.Context) error {
			return t.cli.ContainerRestart(ctx, m.ID, container.StopOptions{Timeout: seconds(f.Timeout)})
		}); err != nil {
			return t.fail(op(verb, m), err)
		}
	}
	return nil
}

// call runs one engine call bounded by CallTimeout plus extra (the time
// the engine itself may wait, as for stop).
func (t *Target) call(ctx context.Context, extra time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout+extra)
	defer cancel()
	return fn(ctx)
}

func injectVerb(k policies.FaultKind) string {
	switch k {
	case policies.FaultSignal:
		return "signal"
	case "":
		return "fault"
	}
	return string(k)
}

// seconds is a stop timeout for the engine, rounded up to whole seconds;
// nil lets the engine use the container's own stop timeout.
func seconds(d time.Duration) *int {
	if d <= 0 {
		return nil
	}
	s := int(math.Ceil(d.Seconds()))
	return &s
}

func isSIGKILL(s string) bool {
	s = strings.ToUpper(strings.TrimSpace(s))
	return s == "SIGKILL" || s == "KILL" || s == "9"
}
