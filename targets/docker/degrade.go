package docker

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
	"github.com/inferensys/tumult/targets/docker/helper"
)

// deadMansGrace is how long past its duration a helper keeps its fault if
// tumult never comes back to stop it; then it undoes the fault by itself.
const deadMansGrace = time.Minute

// injectDegrade puts a network, partition or stress fault in place through
// a helper container and notes the mechanism it used in ctx.
func (t *Target) injectDegrade(ctx context.Context, m targets.Member, f policies.FaultSpec, info container.InspectResponse, st containerState) error {
	verb := injectVerb(f.Kind)
	refuse := func(err error) error {
		return &targets.Error{Driver: driverName, Endpoint: t.opts.Name, Op: op(verb, m), Class: targets.ErrRefused, Err: err}
	}
	fail := func(err error) error {
		return &targets.Error{Driver: driverName, Endpoint: t.opts.Name, Op: op(verb, m), Class: classify(err), Err: err}
	}
	if t.hcli == nil {
		return refuse(errors.New("this endpoint has no client for helper containers"))
	}
	if st.Paused {
		return refuse(errors.New("container is paused"))
	}
	t.sweepOnce.Do(func() { t.sweepHelpers(ctx) })
	until := t.opts.Now().Add(f.Duration + deadMansGrace)
	var run helperRun
	switch f.Kind {
	case policies.FaultNetwork, policies.FaultPartition:
		if f.Network == nil {
			return refuse(fmt.Errorf("%s fault without its settings", f.Kind))
		}
		spec, err := t.netSpec(ctx, m, f, until)
		if err != nil {
			return refuse(err)
		}
		run = helperRun{kind: string(f.Kind), cmd: []string{"net", helper.Encode(spec)}, network: true}
	case policies.FaultStress:
		if f.Stress == nil {
			return refuse(errors.New("stress fault without its settings"))
		}
		cg, err := t.memberCgroup(ctx, info)
		if err != nil {
			return refuse(err)
		}
		spec := helper.StressSpec{CPUWorkers: f.Stress.CPUWorkers, CPULoad: f.Stress.CPULoad, Memory: f.Stress.Memory, Until: until}
		run = helperRun{kind: string(f.Kind), cmd: []string{"stress", helper.Encode(spec)}, cgroup: cg}
	}
	began := t.opts.Now()
	id, mech, err := t.startHelper(ctx, m, st, run)
	if err != nil {
		var no *helperRefusal
		if errors.As(err, &no) {
			return refuse(err) // the kernel or the member cannot take this fault
		}
		return fail(err)
	}
	targets.NoteMechanism(ctx, mech)
	t.log.Info("fault in place through helper", "member", m.Short(), "kind", f.Kind, "mechanism", mech,
		"helper_id", targets.ShortID(id), "took", t.opts.Now().Sub(began).Round(time.Millisecond))
	return nil
}

// netSpec turns the fault into the helper's spec, resolving the labels of
// its to block into the current addresses of the containers carrying them.
func (t *Target) netSpec(ctx context.Context, m targets.Member, f policies.FaultSpec, until time.Time) (helper.NetSpec, error) {
	n := f.Network
	spec := helper.NetSpec{
		Partition: f.Kind == policies.FaultPartition,
		Delay:     n.Delay, Jitter: n.Jitter, Correlation: n.Correlation,
		Loss: n.Loss, Corrupt: n.Corrupt, Duplicate: n.Duplicate, Rate: n.Rate,
		ForceNetfilter: t.opts.ForceNetfilter, Until: until,
	}
	if n.To == nil {
		return spec, nil
	}
	spec.Filtered = true
	spec.CIDRs = append(spec.CIDRs, n.To.CIDRs...)
	spec.Ports = n.To.Ports
	if len(n.To.Labels) > 0 {
		addrs, err := t.addressesOf(ctx, n.To.Labels, m.ID)
		if err != nil {
			return spec, err
		}
		if len(addrs) == 0 && len(n.To.CIDRs) == 0 {
			return spec, fmt.Errorf("to: no running container carries the labels %s, so the fault would reach nothing", labelString(n.To.Labels))
		}
		for _, a := range addrs {
			spec.CIDRs = append(spec.CIDRs, netip.PrefixFrom(a, a.BitLen()))
		}
		t.log.Debug("resolved the to block's labels", "member", m.Short(), "labels", labelString(n.To.Labels), "addresses", fmt.Sprint(addrs))
	}
	return spec, nil
}

// addressesOf returns the addresses, on every network, of the running
// containers carrying all labels, the member itself aside.
func (t *Target) addressesOf(ctx context.Context, labels map[string]string, self string) ([]netip.Addr, error) {
	args := filters.NewArgs()
	for k, v := range labels {
		args.Add("label", k+"="+v)
	}
	cctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	cs, err := t.cli.ContainerList(cctx, container.ListOptions{Filters: args})
	if err != nil {
		return nil, fmt.Errorf("to: list containers with labels %s: %w", labelString(labels), err)
	}
	var out []netip.Addr
	for _, c := range cs {
		if c.ID == self || c.NetworkSettings == nil {
			continue
		}
		for _, ep := range c.NetworkSettings.Networks {
			if ep == nil {
				continue
			}
			for _, s := range []string{ep.IPAddress, ep.GlobalIPv6Address} {
				if a, err := netip.ParseAddr(s); err == nil {
					out = append(out, a)
				}
			}
		}
	}
	return out, nil
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var kv []string
	for _, k := range keys {
		kv = append(kv, k+"="+m[k])
	}
	return "{" + strings.Join(kv, ",") + "}"
}

// memberCgroup is the cgroup parent that puts a helper inside the member's
// own cgroup, so its limits bound the stressors: with the cgroupfs driver,
// <the member's parent, default /docker>/<member ID>.
func (t *Target) memberCgroup(ctx context.Context, info container.InspectResponse) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	sys, err := t.hcli.Info(cctx)
	if err != nil {
		return "", fmt.Errorf("read the engine's cgroup driver: %w", err)
	}
	if sys.CgroupDriver != "cgroupfs" {
		return "", fmt.Errorf("stress faults need the engine's cgroupfs cgroup driver, this engine uses %q", sys.CgroupDriver)
	}
	parent := "/docker"
	if info.HostConfig != nil && info.HostConfig.CgroupParent != "" {
		parent = info.HostConfig.CgroupParent
	}
	return strings.TrimSuffix(parent, "/") + "/" + info.ID, nil
}

// restoreDegrade stops the member's helpers (each undoes its fault on
// SIGTERM) and removes them. When a helper could not undo it cleanly (it
// died, or the fault was never confirmed) and the member still runs in
// the same network namespace, a clean helper removes what is left.
//
//	member gone                              → Gone (helpers removed)
//	member restarted since the fault         → Recovered: a fresh namespace
//	                                           (and cgroup) holds nothing
//	otherwise                                → Restored
func (t *Target) restoreDegrade(ctx context.Context, m targets.Member, f policies.FaultSpec) (targets.Outcome, error) {
	if t.hcli == nil {
		return targets.Outcome{}, &targets.Error{Driver: driverName, Endpoint: t.opts.Name, Op: op("restore", m),
			Class: targets.ErrRefused, Err: errors.New("this endpoint has no client for helper containers")}
	}
	t.sweepOnce.Do(func() { t.sweepHelpers(ctx) })
	helpers, err := t.helpersOf(ctx, m.ID)
	if err != nil {
		return targets.Outcome{}, t.fail(op("list helpers of", m), err)
	}
	var errs []error
	allClean := len(helpers) > 0
	removed := len(helpers)
	var faultStart string
	for _, h := range helpers {
		if h.Labels[labelHelper] == "clean" {
			t.removeHelper(ctx, h.ID)
			continue
		}
		faultStart = h.Labels[labelHelperStarted]
		clean, err := t.stopHelper(ctx, h.ID)
		if err != nil {
			errs = append(errs, err)
		}
		allClean = allClean && clean
		t.removeHelper(ctx, h.ID)
	}
	info, ierr := t.inspect(ctx, m)
	if errors.Is(ierr, targets.ErrGone) {
		return targets.Outcome{How: targets.Gone}, nil
	}
	if ierr != nil {
		return targets.Outcome{}, errors.Join(append(errs, ierr)...)
	}
	st := stateOf(info)
	restarted := faultStart != "" && faultStart != st.StartedAt.UTC().Format(time.RFC3339Nano)
	if !allClean && f.Kind != policies.FaultStress && st.Running && !st.Paused && !restarted {
		// Stressors die with their container; kernel state does not.
		n, err := t.runCleaner(ctx, m, st)
		if err != nil {
			errs = append(errs, fmt.Errorf("clean up after the helper: %w", err))
		}
		removed += n
	}
	if err := errors.Join(errs...); err != nil {
		return targets.Outcome{}, &targets.Error{Driver: driverName, Endpoint: t.opts.Name, Op: op("restore", m), Class: classify(err), Err: err}
	}
	if restarted {
		return targets.Outcome{How: targets.Recovered}, nil
	}
	if removed == 0 {
		return targets.Outcome{How: targets.Unaffected}, nil
	}
	return targets.Outcome{How: targets.Restored}, nil
}

// sweepHelpers removes the helper containers that hold no fault: those
// that have exited (their fault undone, or dead) and those whose member
// no longer exists. A crash between a helper's end and its removal, or a
// member removed by hand, leaves such containers behind. Running helpers
// of existing members hold faults: their records restore them. A helper
// of an existing member younger than helperSweepGrace is left alone too:
// another tumult on the same engine may be starting it or reading its
// log (a restore removes every helper of its member anyway). Best
// effort, once per Target: a failure is logged.
func (t *Target) sweepHelpers(ctx context.Context) {
	const helperSweepGrace = 10 * time.Minute
	args := filters.NewArgs()
	args.Add("label", labelHelper)
	cctx, cancel := context.WithTimeout(ctx, t.opts.CallTimeout)
	defer cancel()
	cs, err := t.hcli.ContainerList(cctx, container.ListOptions{All: true, Filters: args})
	if err != nil {
		t.log.Warn("list helper containers to sweep", "error", err)
		return
	}
	for _, c := range cs {
		member := c.Labels[labelHelperMember]
		memberGone := func() bool {
			_, err := t.hcli.ContainerInspect(cctx, member)
			return member == "" || (err != nil && errors.Is(classify(err), targets.ErrGone))
		}
		switch {
		case c.State == container.StateRunning && !memberGone():
			continue
		case time.Since(time.Unix(c.Created, 0)) < helperSweepGrace && !memberGone():
			// Young: another tumult on this engine may be starting it or
			// reading its log right now. Its own run removes it.
			continue
		}
		t.log.Info("removing leftover helper container", "helper_id", targets.ShortID(c.ID), "member_id", targets.ShortID(member), "state", c.State)
		t.removeHelper(ctx, c.ID)
	}
}
