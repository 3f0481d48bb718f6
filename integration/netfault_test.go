//go:build integration

package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/integration/harness"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
	"github.com/inferensys/tumult/targets/docker"
)

// These tests put network, partition and stress faults on real containers
// and measure their effect from the host (through ports published on
// 127.0.0.1) and from inside the member (its /dial endpoint, towards peers
// on an internal network the test creates). On this kernel (no netem) the
// network faults take the netfilter path; the tests check that too.

// nfWorld is one test's fleet: a member under test and two peers, all on
// an internal network, each with its port published on 127.0.0.1.
type nfWorld struct {
	cli          *client.Client
	tg           *docker.Target
	member       targets.Member
	self, a, b   harness.Container
	aLabels      map[string]string
	memberLabels map[string]string
	run          string
}

// peer names the labels of one of this world's peers, for to blocks.
func (w *nfWorld) peer(role string) map[string]string {
	return map[string]string{runLabel: w.run, "role": role}
}

func newNFWorld(ctx context.Context, t *testing.T, cpus float64) *nfWorld {
	t.Helper()
	cli := harness.RequireDocker(t)
	net := harness.CreateNetwork(ctx, t, cli, "tumult-nf")
	run := harness.Unique("nf")
	w := &nfWorld{cli: cli}
	w.memberLabels = map[string]string{runLabel: run, "tumult.enable": "true", "role": "member"}
	w.aLabels = map[string]string{runLabel: run, "role": "peer-a"}
	w.run = run
	start := func(name string, labels map[string]string, cpus float64) harness.Container {
		return harness.StartFleet(ctx, t, cli, harness.FleetOptions{Prefix: run + "-" + name, N: 1, Labels: labels,
			PublishPorts: true, Networks: []string{net}, CPUs: cpus, Parallel: 1})[0]
	}
	w.self = start("m", w.memberLabels, cpus)
	w.a = start("a", w.aLabels, 0)
	w.b = start("b", map[string]string{runLabel: run, "role": "peer-b"}, 0)
	w.tg = newDockerTarget(t, docker.Options{HelperBinary: harness.TumultBinary(t)})
	fleet, err := w.tg.List(ctx, policies.Selector{Driver: policies.DriverDocker, Labels: w.memberLabels})
	require.NoError(t, err)
	require.Len(t, fleet.Members, 1)
	w.member = fleet.Members[0]
	for _, c := range []harness.Container{w.self, w.a, w.b} {
		require.Eventually(t, func() bool { _, err := httpGet(ctx, c.URL()+"/health", 2*time.Second); return err == nil },
			10*time.Second, 50*time.Millisecond, "%s should answer", c.Name)
	}
	return w
}

// inject puts f on the member and returns the mechanism the driver noted.
func (w *nfWorld) inject(ctx context.Context, t *testing.T, f policies.FaultSpec) string {
	t.Helper()
	ictx, notes := targets.WithNotes(ctx)
	require.NoError(t, w.tg.Inject(ictx, w.member, f))
	return notes.Mechanism()
}

// httpGet returns the body and how long the request took.
func httpGet(ctx context.Context, url string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	// A fresh connection each time, so every request pays the handshake
	// through the fault as a new client would.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	began := time.Now()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	took := time.Since(began)
	if resp.StatusCode != http.StatusOK {
		return took, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return took, nil
}

// medianGet is the median time of n requests to the member's /health.
func medianGet(ctx context.Context, t *testing.T, c harness.Container, n int) time.Duration {
	t.Helper()
	var ds []time.Duration
	for range n {
		d, err := httpGet(ctx, c.URL()+"/health", 10*time.Second)
		require.NoError(t, err)
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[n/2]
}

// dial asks the member to open a TCP connection to peer (by name, on the
// internal network) and reports how long it took or the error.
func dial(ctx context.Context, self, peer harness.Container, timeout time.Duration) (time.Duration, error) {
	began := time.Now()
	_, err := httpGet(ctx, fmt.Sprintf("%s/dial?addr=%s:%d&timeout=%s", self.URL(), peer.Name, harness.FleetPort, timeout), timeout+5*time.Second)
	return time.Since(began), err
}

func medianDial(ctx context.Context, t *testing.T, self, peer harness.Container, n int) time.Duration {
	t.Helper()
	var ds []time.Duration
	for range n {
		d, err := dial(ctx, self, peer, 5*time.Second)
		require.NoError(t, err, "dial %s from %s", peer.Name, self.Name)
		ds = append(ds, d)
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[n/2]
}

// helpersLeft lists helper containers still working on the member.
func helpersLeft(ctx context.Context, t *testing.T, cli *client.Client, memberID string) []string {
	t.Helper()
	args := filters.NewArgs()
	args.Add("label", "tumult.helper.member="+memberID)
	cs, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: args})
	require.NoError(t, err)
	var out []string
	for _, c := range cs {
		out = append(out, c.Names...)
	}
	return out
}

// kernelLeftovers runs `tumult helper check` in the member's network
// namespace and returns its line: "tumult-helper found 0" means no table
// and no qdisc of tumult's. It looks through the helper image, since the
// host may have neither nft nor tc.
func kernelLeftovers(ctx context.Context, t *testing.T, cli *client.Client, memberID string) string {
	t.Helper()
	prog, err := os.ReadFile(harness.TumultBinary(t))
	require.NoError(t, err)
	// The container inherits the image's tumult.helper label, so any
	// agent's sweep on this engine takes it for a helper and removes it
	// once it has exited, or at once if it names no existing member. It
	// names the member, and its output is read through an attachment made
	// before it starts, so that such a removal loses nothing.
	created, err := cli.ContainerCreate(ctx, &container.Config{Image: docker.HelperImageTag(prog), Cmd: []string{"check"},
		AttachStdout: true, AttachStderr: true, Labels: map[string]string{"tumult.helper.member": memberID}},
		&container.HostConfig{NetworkMode: container.NetworkMode("container:" + memberID), CapAdd: []string{"NET_ADMIN"}}, nil, nil, "")
	require.NoError(t, err)
	// Removed before returning: it names the member, so a test listing
	// the member's helpers afterwards must not find it.
	defer harness.RemoveContainer(t, cli, created.ID)
	att, err := cli.ContainerAttach(ctx, created.ID, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
	require.NoError(t, err)
	defer att.Close()
	var out, errOut strings.Builder
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&out, &errOut, att.Reader)
		copied <- err
	}()
	require.NoError(t, cli.ContainerStart(ctx, created.ID, container.StartOptions{}))
	timer := time.NewTimer(20 * time.Second)
	defer timer.Stop()
	select {
	case err := <-copied:
		require.NoError(t, err, "read the output of tumult helper check")
	case <-timer.C:
		t.Fatalf("tumult helper check in %s did not end within 20s", memberID[:12])
	}
	return strings.TrimSpace(out.String() + errOut.String())
}

func netFault(d time.Duration, n policies.NetFault) policies.FaultSpec {
	return policies.FaultSpec{Kind: policies.FaultNetwork, Duration: d, Network: &n}
}

func TestNetworkDelayMeasuredAndRestored(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	w := newNFWorld(ctx, t, 0)
	base := medianGet(ctx, t, w.self, 5)
	const delay = 200 * time.Millisecond

	mech := w.inject(ctx, t, netFault(time.Minute, policies.NetFault{Delay: delay}))
	require.Contains(t, []string{"netem", "netfilter"}, mech)
	during := medianGet(ctx, t, w.self, 5)
	t.Logf("GET /health median: %s before, %s during a %s delay (mechanism %s)", base, during, delay, mech)
	require.GreaterOrEqual(t, during, base+delay, "every request should take at least the delay longer")

	out, err := w.tg.Restore(ctx, w.member, netFault(time.Minute, policies.NetFault{Delay: delay}))
	require.NoError(t, err)
	require.Equal(t, targets.Restored, out.How)
	after := medianGet(ctx, t, w.self, 5)
	t.Logf("GET /health median after restore: %s", after)
	require.Less(t, after, base+delay/2, "requests should be fast again after restore")
	require.Empty(t, helpersLeft(ctx, t, w.cli, w.member.ID))
	require.Equal(t, "tumult-helper found 0", kernelLeftovers(ctx, t, w.cli, w.member.ID))

	// Idempotent: a second restore finds nothing to undo.
	out, err = w.tg.Restore(ctx, w.member, netFault(time.Minute, policies.NetFault{Delay: delay}))
	require.NoError(t, err)
	require.Equal(t, targets.Unaffected, out.How)
}

func TestNetworkDelayToOnlyTheNamedPeer(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	w := newNFWorld(ctx, t, 0)
	const delay = 300 * time.Millisecond
	f := netFault(time.Minute, policies.NetFault{Delay: delay, To: &policies.Destinations{Labels: w.peer("peer-a")}})
	baseA, baseB := medianDial(ctx, t, w.self, w.a, 3), medianDial(ctx, t, w.self, w.b, 3)
	w.inject(ctx, t, f)
	toA, toB := medianDial(ctx, t, w.self, w.a, 3), medianDial(ctx, t, w.self, w.b, 3)
	host := medianGet(ctx, t, w.self, 3)
	t.Logf("dial from the member: peer-a %s → %s, peer-b %s → %s; host GET during: %s", baseA, toA, baseB, toB, host)
	require.GreaterOrEqual(t, toA, baseA+delay, "the named peer should see the delay")
	// Compared with the named peer, not with a baseline: a dial includes a
	// name lookup through Docker's resolver, slow at times on a busy host.
	require.Less(t, toB, toA-delay/2, "another peer should not")
	require.Less(t, host, delay/2, "traffic back to the host should not")
	_, err := w.tg.Restore(ctx, w.member, f)
	require.NoError(t, err)
	require.Less(t, medianDial(ctx, t, w.self, w.a, 3), baseA+delay/2)
}

func TestNetworkLossNearItsPercent(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	w := newNFWorld(ctx, t, 0)
	const loss, probes = 30.0, 80
	f := netFault(time.Minute, policies.NetFault{Loss: loss, To: &policies.Destinations{Labels: w.peer("peer-b")}})
	w.inject(ctx, t, f)
	// A dial fails when its SYN is lost: the kernel retries only after 1s,
	// past the probe's timeout.
	failed := 0
	for range probes {
		if _, err := dial(ctx, w.self, w.b, 400*time.Millisecond); err != nil {
			failed++
		}
	}
	share := 100 * float64(failed) / probes
	t.Logf("%d of %d probes failed (%.0f%%) under %.0f%% loss", failed, probes, share, loss)
	require.InDelta(t, loss, share, 15, "the share of failed probes should be near the loss")
	_, err := w.tg.Restore(ctx, w.member, f)
	require.NoError(t, err)
	for range 10 {
		_, err := dial(ctx, w.self, w.b, 2*time.Second)
		require.NoError(t, err, "no loss after restore")
	}
}

func TestPartitionCutsTheNamedPeerOnly(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	w := newNFWorld(ctx, t, 0)
	f := policies.FaultSpec{Kind: policies.FaultPartition, Duration: time.Minute,
		Network: &policies.NetFault{To: &policies.Destinations{Labels: w.peer("peer-a")}}}
	mech := w.inject(ctx, t, f)
	require.Equal(t, "netfilter", mech)
	_, errA := dial(ctx, w.self, w.a, time.Second)
	require.Error(t, errA, "the member should not reach the named peer")
	_, errB := dial(ctx, w.self, w.b, time.Second)
	require.NoError(t, errB, "the member should still reach another peer")
	// Both ways: the peer cannot reach the member either.
	_, errBack := dial(ctx, w.a, w.self, time.Second)
	require.Error(t, errBack, "the named peer should not reach the member")

	out, err := w.tg.Restore(ctx, w.member, f)
	require.NoError(t, err)
	require.Equal(t, targets.Restored, out.How)
	for _, p := range []harness.Container{w.a, w.b} {
		_, err := dial(ctx, w.self, p, time.Second)
		require.NoError(t, err, "after restore the member should reach %s", p.Name)
	}
	_, err = dial(ctx, w.a, w.self, time.Second)
	require.NoError(t, err)
}

func TestNetworkFaultsTheKernelCannotDoAreRefused(t *testing.T) {
	ctx := testCtx(t, 2*time.Minute)
	w := newNFWorld(ctx, t, 0)
	f := netFault(time.Minute, policies.NetFault{Corrupt: 5})
	// Where the kernel has netem, corrupt works; force the netfilter path
	// so the refusal is tested on any kernel.
	tg := newDockerTarget(t, docker.Options{HelperBinary: harness.TumultBinary(t), ForceNetfilter: true})
	err := tg.Inject(ctx, w.member, f)
	require.ErrorIs(t, err, targets.ErrRefused)
	require.ErrorContains(t, err, "corrupt and duplicate need the kernel's netem qdisc")
	require.Empty(t, helpersLeft(ctx, t, w.cli, w.member.ID), "a refused fault leaves no helper")
	require.Equal(t, "tumult-helper found 0", kernelLeftovers(ctx, t, w.cli, w.member.ID), "and no kernel state")
}

func TestNetworkFaultOnAMemberRestartedMeanwhile(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	w := newNFWorld(ctx, t, 0)
	f := netFault(time.Minute, policies.NetFault{Delay: 300 * time.Millisecond})
	w.inject(ctx, t, f)
	timeout := 1
	require.NoError(t, w.cli.ContainerRestart(ctx, w.member.ID, container.StopOptions{Timeout: &timeout}))
	harness.WaitFor(ctx, t, w.cli, w.member.ID, 20*time.Second, "run again", harness.Running)
	out, err := w.tg.Restore(ctx, w.member, f)
	require.NoError(t, err)
	require.Equal(t, targets.Recovered, out.How, "a restarted member has a fresh namespace")
	require.Empty(t, helpersLeft(ctx, t, w.cli, w.member.ID))
	// The restart may publish the port anew.
	info := inspect(ctx, t, w.cli, w.member.ID)
	bindings := info.NetworkSettings.Ports[nat.Port(fmt.Sprintf("%d/tcp", harness.FleetPort))]
	require.NotEmpty(t, bindings)
	w.self.HostPort, _ = strconv.Atoi(bindings[0].HostPort)
	require.Eventually(t, func() bool {
		d, err := httpGet(ctx, w.self.URL()+"/health", 2*time.Second)
		return err == nil && d < 150*time.Millisecond
	}, 20*time.Second, 100*time.Millisecond, "the member answers undelayed")
	require.Equal(t, "tumult-helper found 0", kernelLeftovers(ctx, t, w.cli, w.member.ID))
}

func TestNetworkFaultOnAMemberGoneMeanwhile(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	w := newNFWorld(ctx, t, 0)
	f := netFault(time.Minute, policies.NetFault{Loss: 10})
	w.inject(ctx, t, f)
	require.NoError(t, w.cli.ContainerRemove(ctx, w.member.ID, container.RemoveOptions{Force: true}))
	out, err := w.tg.Restore(ctx, w.member, f)
	require.NoError(t, err)
	require.Equal(t, targets.Gone, out.How)
	require.Empty(t, helpersLeft(ctx, t, w.cli, w.member.ID))
}

// cpuShare is the container's CPU use over one second, in CPUs (1.0 = one
// full CPU), from the engine's stats as docker stats computes them.
func cpuShare(ctx context.Context, t *testing.T, cli *client.Client, id string) float64 {
	t.Helper()
	read := func() (uint64, time.Time) {
		r, err := cli.ContainerStatsOneShot(ctx, id)
		require.NoError(t, err)
		defer r.Body.Close()
		var s container.StatsResponse
		require.NoError(t, json.NewDecoder(r.Body).Decode(&s))
		return s.CPUStats.CPUUsage.TotalUsage, s.Read
	}
	u0, t0 := read()
	timer := time.NewTimer(time.Second)
	<-timer.C
	u1, t1 := read()
	return float64(u1-u0) / float64(t1.Sub(t0).Nanoseconds())
}

func TestStressRaisesCPUToTheQuotaThenFalls(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	// A small quota, so that the stressors reach it even on a busy
	// machine: the point is that the member's own limit bounds them.
	const quota = 0.1
	w := newNFWorld(ctx, t, quota)
	before := cpuShare(ctx, t, w.cli, w.member.ID)
	f := policies.FaultSpec{Kind: policies.FaultStress, Duration: time.Minute, Stress: &policies.StressFault{CPUWorkers: 2, CPULoad: 100}}
	require.Equal(t, "cgroup", w.inject(ctx, t, f))
	var during float64
	require.Eventually(t, func() bool {
		during = cpuShare(ctx, t, w.cli, w.member.ID)
		return during >= 0.7*quota
	}, 20*time.Second, 10*time.Millisecond, "the member's CPU should rise to its quota")
	t.Logf("member CPU: %.2f before, %.2f during stress (quota %.2f)", before, during, quota)
	require.LessOrEqual(t, during, quota*1.3, "the member's own quota bounds the stressors")
	_, err := w.tg.Restore(ctx, w.member, f)
	require.NoError(t, err)
	var after float64
	require.Eventually(t, func() bool {
		after = cpuShare(ctx, t, w.cli, w.member.ID)
		return after < quota/3
	}, 20*time.Second, 10*time.Millisecond, "the member's CPU should fall after restore")
	t.Logf("member CPU after restore: %.2f", after)
	require.Empty(t, helpersLeft(ctx, t, w.cli, w.member.ID))
}

func TestLeftoverHelpersAreSweptBeforeTheFirstHelperWork(t *testing.T) {
	ctx := testCtx(t, 3*time.Minute)
	w := newNFWorld(ctx, t, 0)
	// A leftover: a helper whose member is long gone, as a crash between
	// a fault's end and its helper's removal would leave.
	prog, err := os.ReadFile(harness.TumultBinary(t))
	require.NoError(t, err)
	gone := strings.Repeat("f", 64)
	created, err := w.cli.ContainerCreate(ctx, &container.Config{Image: docker.HelperImageTag(prog), Cmd: []string{"clean"},
		Labels: map[string]string{"tumult.helper": "network", "tumult.helper.member": gone}},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	require.NoError(t, err)
	t.Cleanup(func() { harness.RemoveContainer(t, w.cli, created.ID) })
	require.Len(t, helpersLeft(ctx, t, w.cli, gone), 1)
	// Not a leftover: a helper of a live member just created, not yet
	// started, as another tumult on the same engine may hold one.
	young, err := w.cli.ContainerCreate(ctx, &container.Config{Image: docker.HelperImageTag(prog), Cmd: []string{"clean"},
		Labels: map[string]string{"tumult.helper": "clean", "tumult.helper.member": w.member.ID}},
		&container.HostConfig{NetworkMode: "none"}, nil, nil, "")
	require.NoError(t, err)
	t.Cleanup(func() { harness.RemoveContainer(t, w.cli, young.ID) })

	tg := newDockerTarget(t, docker.Options{HelperBinary: harness.TumultBinary(t)}) // as after a restart
	f := netFault(time.Minute, policies.NetFault{Loss: 5})
	require.NoError(t, tg.Inject(ctx, w.member, f))
	require.Empty(t, helpersLeft(ctx, t, w.cli, gone), "the leftover is removed")
	require.Len(t, helpersLeft(ctx, t, w.cli, w.member.ID), 2, "the live fault's helper and the young one stay")
	_, err = tg.Restore(ctx, w.member, f)
	require.NoError(t, err)
}
