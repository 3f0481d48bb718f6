package guardian

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

func record(id, pol, member string, kind policies.FaultKind) ledger.Record {
	return ledger.Record{
		ID:       id,
		Policy:   pol,
		Member:   targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: "c-" + member, Name: member},
		Fault:    policies.FaultSpec{Kind: kind},
		Phase:    ledger.Injected,
		Decided:  t0,
		Injected: t0.Add(time.Second),
	}
}

func count(keys []string, key string) int {
	n := 0
	for _, k := range keys {
		if k == key {
			n++
		}
	}
	return n
}

func TestFaultAnnouncement(t *testing.T) {
	got := FaultAnnouncement(record("1", "checkout", "checkout-api-1", policies.FaultPause))
	require.Equal(t, Announcement{
		Kind:   AnnounceFault,
		Policy: "checkout",
		Target: "docker/local",
		Member: "checkout-api-1",
		Fault:  "pause",
		Since:  t0.Add(time.Second),
	}, got)
	intent := record("2", "checkout", "checkout-api-2", policies.FaultKill)
	intent.Phase, intent.Injected = ledger.Intent, time.Time{}
	require.Equal(t, t0, FaultAnnouncement(intent).Since, "not injected yet: since the decision")
}

func TestAnnouncements(t *testing.T) {
	h := newHarness(t, setup{announce: true})
	posted, resolved := h.ann.snapshot()
	require.Empty(t, posted)
	require.Empty(t, resolved)

	one := record("1", "checkout", "checkout-api-1", policies.FaultPause)
	two := record("2", "payments", "payments-1", policies.FaultKill)
	dry := record("3", "search", "search-1", policies.FaultStop)
	dry.DryRun = true
	k1, k2 := FaultAnnouncement(one).Key(), FaultAnnouncement(two).Key()

	h.faults.set(one, two, dry)
	h.advance(DefaultAnnounceCheck) // t0+5s
	posted, _ = h.ann.snapshot()
	require.ElementsMatch(t, []string{k1, k2}, posted, "every active fault, dry runs left out")

	h.faults.set(one)
	h.advance(DefaultAnnounceCheck) // t0+10s
	posted, resolved = h.ann.snapshot()
	require.Equal(t, []string{k2}, resolved, "an ended fault is resolved")
	require.Len(t, posted, 2, "nothing new to post")

	h.advance(20 * time.Second) // t0+30s: the periodic re-post
	posted, _ = h.ann.snapshot()
	require.Equal(t, 2, count(posted, k1), "active announcements are posted again every 30s")
	require.Equal(t, 1, count(posted, k2))

	// Halted: TumultHalted, with the reason.
	_, err := h.ctrl.Halt(context.Background(), Change{Actor: "alice", Source: "api", Reason: "incident 4711"})
	require.NoError(t, err)
	h.advance(DefaultAnnounceCheck)
	h.ann.mu.Lock()
	last := h.ann.posted[len(h.ann.posted)-1]
	h.ann.mu.Unlock()
	require.Equal(t, []Announcement{{Kind: AnnounceHalted, Reason: "incident 4711", Since: t0.Add(30 * time.Second)}}, last)

	_, err = h.ctrl.Resume(context.Background(), Change{Actor: "alice", Source: "api", Reason: "over"})
	require.NoError(t, err)
	h.advance(DefaultAnnounceCheck)
	_, resolved = h.ann.snapshot()
	require.Equal(t, []string{k2, string(AnnounceHalted)}, resolved)

	// Failures are retried at the next check.
	h.ann.setErr(errors.New("alertmanager down"))
	h.faults.set(one, two)
	h.advance(DefaultAnnounceCheck)
	posted, _ = h.ann.snapshot()
	require.Equal(t, 1, count(posted, k2))
	h.ann.setErr(nil)
	h.advance(DefaultAnnounceCheck)
	posted, _ = h.ann.snapshot()
	require.Equal(t, 2, count(posted, k2))
}

func TestAnnounceNudge(t *testing.T) {
	h := newHarness(t, setup{announce: true})
	one := record("1", "checkout", "checkout-api-1", policies.FaultPause)
	h.faults.set(one)
	h.w.Nudge()
	require.Eventually(t, func() bool {
		posted, _ := h.ann.snapshot()
		return count(posted, FaultAnnouncement(one).Key()) == 1
	}, waitLimit, time.Millisecond, "a nudge announces without waiting for the next check")
}

func TestAnnounceGuardianHalt(t *testing.T) {
	h := newHarness(t, setup{
		announce: true,
		cfg:      config.GuardianConfig{HaltOn: alertWire(t, `severity="page"`)},
		alerts:   []Alert{alert("alertname", "FleetDown", "severity", "page")},
	})
	h.waitGlobal(ledger.Halted)
	// The halt nudges the announcer.
	require.Eventually(t, func() bool {
		posted, _ := h.ann.snapshot()
		return count(posted, string(AnnounceHalted)) == 1
	}, waitLimit, time.Millisecond)
}
