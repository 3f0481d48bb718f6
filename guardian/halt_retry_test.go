package guardian

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/ledger"
)

// failingHalter fails every halt while err is set, either before anything
// is recorded (as a Controller whose ledger is down) or after the real
// Controller recorded the halt and restored (as a restore that failed). It
// notes the fake time of every Halt call.
type failingHalter struct {
	*Controller
	clk *clock.Fake
	// recorded: the halt is recorded and restored before err is returned.
	recorded bool

	mu  sync.Mutex
	err error
	at  []time.Duration // since t0
}

func (f *failingHalter) Halt(ctx context.Context, ch Change) (ledger.Control, error) {
	f.mu.Lock()
	f.at = append(f.at, f.clk.Now().Sub(t0))
	err := f.err
	f.mu.Unlock()
	switch {
	case err == nil:
		return f.Controller.Halt(ctx, ch)
	case f.recorded:
		c, herr := f.Controller.Halt(ctx, ch)
		return c, errors.Join(herr, err)
	}
	return ledger.Control{}, err
}

func (f *failingHalter) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

func (f *failingHalter) calls() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.at...)
}

// settle advances the fake clock second by second for d, waiting after
// each step until no halt is under way, so that every halt is seen to end
// at the time it began.
func (h *harness) settle(d time.Duration) {
	h.t.Helper()
	for range int(d / time.Second) {
		h.clk.Advance(time.Second)
		h.park()
		h.waitIdle()
	}
}

func (h *harness) waitIdle() {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		h.w.mu.Lock()
		defer h.w.mu.Unlock()
		for _, b := range h.w.halting {
			if b {
				return false
			}
		}
		return true
	}, waitLimit, time.Millisecond, "a halt is still under way")
}

func seconds(ss ...int) []time.Duration {
	out := make([]time.Duration, len(ss))
	for i, s := range ss {
		out[i] = time.Duration(s) * time.Second
	}
	return out
}

// TestFailedHaltRetriesWithBackoff: while a tripped scope cannot be
// halted, the watcher tries again after 1s, 2s, 4s, … up to 30s between
// attempts — not at every evaluation and every poll — and stops once a
// halt succeeds.
func TestFailedHaltRetriesWithBackoff(t *testing.T) {
	for _, tc := range []struct {
		name     string
		recorded bool
	}{
		{"halt not recorded", false},
		{"restore failed after the halt was recorded", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fh *failingHalter
			h := newHarness(t, setup{
				cfg:    config.GuardianConfig{HaltOn: alertWire(t, `severity="page"`)},
				alerts: []Alert{alert("alertname", "FleetDown", "severity", "page")},
				opts: func(o *WatcherOptions) {
					fh = &failingHalter{clk: o.Clock.(*clock.Fake), recorded: tc.recorded, err: errors.New("consul down")}
					fh.Controller = o.Controller.(*recHalter).Controller
					o.Controller = fh
				},
			})
			h.waitIdle()

			// Two minutes of failures, evaluated every second and polled
			// every second: the halt at the trip, then the back-off.
			h.settle(120 * time.Second)
			require.Equal(t, seconds(0, 1, 3, 7, 15, 31, 61, 91), fh.calls(),
				"halt attempts follow the back-off 1s, 2s, 4s, 8s, 16s, 30s, 30s")
			if tc.recorded {
				require.Equal(t, ledger.Halted, h.control().State)
				require.Len(t, h.restorer.all(), 8, "every retry restores again")
			} else {
				require.Equal(t, ledger.Armed, h.control().State, "nothing could be recorded")
				require.Empty(t, h.restorer.all())
			}

			// The next attempt, at 121s, succeeds; then nothing more.
			fh.setErr(nil)
			h.settle(time.Second)
			c := h.waitGlobal(ledger.Halted)
			require.Equal(t, "alertmanager/main", c.Source)
			h.settle(120 * time.Second)
			require.Equal(t, seconds(0, 1, 3, 7, 15, 31, 61, 91, 121), fh.calls(), "a halt that succeeded is not retried")
		})
	}
}

// TestFailedHaltResumedWhileTripped: a person who resumes while the scope
// is still tripped and a retry waits out its back-off is halted again at
// the next evaluation, as without a failure.
func TestFailedHaltResumedWhileTripped(t *testing.T) {
	var fh *failingHalter
	h := newHarness(t, setup{
		cfg:    config.GuardianConfig{HaltOn: alertWire(t, `severity="page"`)},
		alerts: []Alert{alert("alertname", "FleetDown", "severity", "page")},
		opts: func(o *WatcherOptions) {
			fh = &failingHalter{clk: o.Clock.(*clock.Fake), recorded: true, err: errors.New("restore: docker down")}
			fh.Controller = o.Controller.(*recHalter).Controller
			o.Controller = fh
		},
	})
	h.waitIdle()
	h.settle(20 * time.Second) // attempts at 0, 1, 3, 7, 15; the next at 31
	require.Equal(t, seconds(0, 1, 3, 7, 15), fh.calls())

	fh.setErr(nil)
	_, err := h.ctrl.Resume(context.Background(), Change{Actor: "alice", Source: "api", Reason: "I know better"})
	require.NoError(t, err)
	h.settle(time.Second)
	h.waitGlobal(ledger.Halted)
	require.Equal(t, seconds(0, 1, 3, 7, 15, 21), fh.calls(), "halted again at once, not at the back-off's 31s")
	h.settle(60 * time.Second)
	require.Len(t, fh.calls(), 6)
}

// TestFailedHaltDroppedWhenClear: a halt that was never recorded is not
// retried once its wires are clear: nothing calls for it any more.
func TestFailedHaltDroppedWhenClear(t *testing.T) {
	var fh *failingHalter
	h := newHarness(t, setup{
		cfg:    config.GuardianConfig{HaltOn: alertWire(t, `severity="page"`)},
		alerts: []Alert{alert("alertname", "FleetDown", "severity", "page")},
		opts: func(o *WatcherOptions) {
			fh = &failingHalter{clk: o.Clock.(*clock.Fake), err: errors.New("consul down")}
			fh.Controller = o.Controller.(*recHalter).Controller
			o.Controller = fh
		},
	})
	h.waitIdle()
	h.settle(5 * time.Second)
	require.Equal(t, seconds(0, 1, 3), fh.calls())
	h.am.set(nil)
	h.settle(60 * time.Second)
	require.Equal(t, seconds(0, 1, 3), fh.calls())
	require.Equal(t, ledger.Armed, h.control().State)

	// Tripped again: a new transition halts at once.
	fh.setErr(nil)
	h.am.set(nil, alert("alertname", "FleetDown", "severity", "page"))
	h.settle(time.Second)
	h.waitGlobal(ledger.Halted)
	require.Equal(t, seconds(0, 1, 3, 66), fh.calls())
}
