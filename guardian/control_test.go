package guardian

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/internal/testlog"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/ledgertest"
)

func TestController(t *testing.T) {
	type env struct {
		c   *Controller
		led *ledgertest.Memory
		r   *fakeRestorer
		clk *clock.Fake
	}
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, e env)
	}{
		{"a reason is required", func(t *testing.T, e env) {
			_, err := e.c.Halt(ctx, Change{Actor: "alice", Source: "api"})
			require.ErrorIs(t, err, ErrInvalid)
			require.Empty(t, e.r.all())
		}},
		{"unknown policy", func(t *testing.T, e env) {
			_, err := e.c.Pause(ctx, Change{Actor: "alice", Reason: "x", Policy: "nope"})
			require.ErrorIs(t, err, ErrUnknown)
		}},
		{"a second halt keeps the first and restores again", func(t *testing.T, e env) {
			_, err := e.c.Halt(ctx, Change{Actor: ActorGuardian, Source: "alertmanager/main", Reason: "first"})
			require.NoError(t, err)
			e.clk.Advance(time.Minute)
			c, err := e.c.Halt(ctx, Change{Actor: "alice", Source: "api", Reason: "second"})
			require.NoError(t, err)
			require.Equal(t, "first", c.Reason)
			require.Equal(t, t0, c.Since)
			require.Len(t, e.r.all(), 2)
		}},
		{"no pause while halted", func(t *testing.T, e env) {
			_, err := e.c.Halt(ctx, Change{Actor: "alice", Source: "api", Reason: "stop"})
			require.NoError(t, err)
			_, err = e.c.Pause(ctx, Change{Actor: "bob", Source: "api", Reason: "quiet"})
			require.ErrorIs(t, err, ErrConflict)
		}},
		{"a global resume keeps policy halts", func(t *testing.T, e env) {
			_, err := e.c.Halt(ctx, Change{Actor: ActorGuardian, Source: "slo/x", Reason: "burn", Policy: "checkout"})
			require.NoError(t, err)
			require.Equal(t, []string{"checkout"}, e.r.all()[0].policies)
			_, err = e.c.Halt(ctx, Change{Actor: "alice", Source: "api", Reason: "stop"})
			require.NoError(t, err)
			c, err := e.c.Resume(ctx, Change{Actor: "alice", Source: "api", Reason: "go"})
			require.NoError(t, err)
			require.Equal(t, ledger.Armed, c.State)
			require.Equal(t, ledger.Halted, c.Effective("checkout", e.clk.Now()).State)
			c, err = e.c.Resume(ctx, Change{Actor: "alice", Source: "api", Reason: "go", Policy: "checkout"})
			require.NoError(t, err)
			require.Equal(t, ledger.Armed, c.Effective("checkout", e.clk.Now()).State)
		}},
		{"a pause with for expires", func(t *testing.T, e env) {
			c, err := e.c.Pause(ctx, Change{Actor: "alice", Source: "cli", Reason: "deploy", For: time.Hour, Restore: true})
			require.NoError(t, err)
			require.Equal(t, ledger.Paused, c.State)
			require.Len(t, e.r.all(), 1, "pause with restore restores")
			e.clk.Advance(time.Hour)
			require.NoError(t, e.c.Expire(ctx))
			got, err := e.led.Control(ctx)
			require.NoError(t, err)
			require.Equal(t, ledger.Armed, got.State)
			require.Equal(t, "expiry", got.Source)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			e := env{led: ledgertest.NewMemory(clk.Now), r: &fakeRestorer{}, clk: clk}
			e.c = NewController(ControllerOptions{Ledger: e.led, Restorer: e.r, Clock: clk, Known: func(n string) bool { return n != "nope" }})
			tc.run(t, e)
		})
	}
}

// TestFollow: the leader's control watch hands every control state to
// Follow, which restores what it asks to restore — a halt, or a pause
// with restore, of everything or of some policies — and nothing for a
// plain pause or an armed state.
func TestFollow(t *testing.T) {
	tests := []struct {
		name   string
		ctl    ledger.Control
		reason string   // of the restore; "" when none is expected
		kept   []string // probe policies restored
	}{
		{"armed", ledger.Control{State: ledger.Armed}, "", nil},
		{"paused", ledger.Control{State: ledger.Paused, Actor: "alice", Reason: "deploy"}, "", nil},
		{"paused with restore", ledger.Control{State: ledger.Paused, Actor: "alice", Reason: "deploy", Restore: true},
			"paused with restore by alice: deploy", probePolicies},
		{"halted", ledger.Control{State: ledger.Halted, Actor: "oncall", Reason: "incident"},
			"halted by oncall: incident", probePolicies},
		{"a pause with restore that expired", ledger.Control{State: ledger.Paused, Actor: "alice", Reason: "x", Restore: true, Until: t0.Add(-time.Second)}, "", nil},
		{"one policy halted", ledger.Control{State: ledger.Armed, Policies: map[string]ledger.PolicyControl{
			"checkout": {State: ledger.Halted, Actor: ActorGuardian, Reason: "burn"},
		}}, "policy halted", []string{"checkout"}},
		{"one policy paused with restore", ledger.Control{State: ledger.Armed, Policies: map[string]ledger.PolicyControl{
			"payments": {State: ledger.Paused, Actor: "bob", Reason: "migration", Restore: true},
		}}, "policy paused with restore by bob: migration", []string{"payments"}},
		{"one policy paused", ledger.Control{State: ledger.Armed, Policies: map[string]ledger.PolicyControl{
			"payments": {State: ledger.Paused, Actor: "bob", Reason: "migration"},
		}}, "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeRestorer{}
			c := NewController(ControllerOptions{Ledger: ledgertest.NewMemory(clock.NewFake(t0).Now), Restorer: r, Clock: clock.NewFake(t0)})
			c.Follow(tc.ctl)
			if tc.reason == "" {
				require.Never(t, func() bool { return len(r.all()) > 0 }, 200*time.Millisecond, 10*time.Millisecond)
				return
			}
			require.Eventually(t, func() bool { return len(r.all()) == 1 }, 5*time.Second, 5*time.Millisecond)
			require.Equal(t, restoreCall{reason: tc.reason, policies: tc.kept}, r.all()[0])
		})
	}
}

// TestPauseRecordsRestore: a pause with restore says so in the control
// state, for the leader to act on wherever it was asked; a resume or a
// halt clears it.
func TestPauseRecordsRestore(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	led := ledgertest.NewMemory(clk.Now)
	c := NewController(ControllerOptions{Ledger: led, Restorer: &fakeRestorer{}, Clock: clk})
	got, err := c.Pause(ctx, Change{Actor: "alice", Source: "api", Reason: "deploy", Restore: true})
	require.NoError(t, err)
	require.True(t, got.Restore)
	require.True(t, got.Global(clk.Now()).Restores())
	got, err = c.Pause(ctx, Change{Actor: "alice", Source: "api", Reason: "quiet", Policy: "checkout", Restore: true})
	require.NoError(t, err)
	require.True(t, got.Policies["checkout"].Restore)
	got, err = c.Resume(ctx, Change{Actor: "alice", Source: "api", Reason: "go"})
	require.NoError(t, err)
	require.False(t, got.Restore)
	got, err = c.Pause(ctx, Change{Actor: "alice", Source: "api", Reason: "plain"})
	require.NoError(t, err)
	require.False(t, got.Restore, "a pause without restore")
	require.False(t, got.Global(clk.Now()).Restores())
}

// blockingRestorer records each call's reason and blocks until released.
type blockingRestorer struct {
	mu      sync.Mutex
	reasons []string
	release chan struct{}
}

func (b *blockingRestorer) RestoreAll(_ context.Context, reason string, _ func(ledger.Record) bool) (int, error) {
	b.mu.Lock()
	b.reasons = append(b.reasons, reason)
	b.mu.Unlock()
	<-b.release
	return 1, nil
}

func (b *blockingRestorer) Hold(string) (release func()) { return func() {} }

func (b *blockingRestorer) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.reasons...)
}

// TestFollowCarriesOutTheLatest: changes that come while a restore runs
// are not lost: once it ends, the latest of them is carried out.
func TestFollowCarriesOutTheLatest(t *testing.T) {
	r := &blockingRestorer{release: make(chan struct{})}
	clk := clock.NewFake(t0)
	c := NewController(ControllerOptions{Ledger: ledgertest.NewMemory(clk.Now), Restorer: r, Clock: clk})
	halted := func(why string) ledger.Control {
		return ledger.Control{State: ledger.Halted, Actor: "oncall", Reason: why}
	}
	c.Follow(halted("first"))
	require.Eventually(t, func() bool { return len(r.all()) == 1 }, 5*time.Second, 5*time.Millisecond)
	c.Follow(halted("second"))
	c.Follow(halted("third"))
	close(r.release)
	require.Eventually(t, func() bool { return len(r.all()) == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, []string{"halted by oncall: first", "halted by oncall: third"}, r.all())
	require.Never(t, func() bool { return len(r.all()) > 2 }, 100*time.Millisecond, 10*time.Millisecond)
}

// slowControl is a control ledger whose writes wait until released, as a
// disk or Consul that takes its time to make a halt durable.
type slowControl struct {
	*ledgertest.Memory
	writing chan struct{} // closed when the first write has begun
	release chan struct{}
	once    sync.Once
}

func (s *slowControl) UpdateControl(ctx context.Context, fn func(*ledger.Control) error) (ledger.Control, error) {
	s.once.Do(func() { close(s.writing) })
	<-s.release
	return s.Memory.UpdateControl(ctx, fn)
}

// TestHaltRestoresWhileRecording: the guardian's halt does not make
// members wait for its durable write. The restore starts while the halt
// is still being written, under a hold that keeps any new fault from
// starting, and the hold ends once the halt is recorded (from then on the
// recorded state keeps faults from starting).
func TestHaltRestoresWhileRecording(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	led := &slowControl{Memory: ledgertest.NewMemory(clk.Now), writing: make(chan struct{}), release: make(chan struct{})}
	r := &fakeRestorer{}
	c := NewController(ControllerOptions{Ledger: led, Restorer: r, Clock: clk})
	type answer struct {
		ctl ledger.Control
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		ctl, err := c.Halt(ctx, Change{Actor: "oncall", Source: "api", Reason: "incident"})
		answered <- answer{ctl, err}
	}()
	<-led.writing
	require.Eventually(t, func() bool { return len(r.all()) == 1 }, 5*time.Second, time.Millisecond,
		"the restore starts while the halt is still being written")
	require.Equal(t, restoreCall{reason: "halted by oncall: incident", policies: probePolicies, held: true}, r.all()[0])
	require.Equal(t, 1, r.held(), "no new fault may start until the halt is recorded")
	require.Equal(t, []string{""}, r.scopes)
	select {
	case a := <-answered:
		t.Fatalf("returned before the halt was recorded: %+v", a)
	default:
	}

	close(led.release)
	a := <-answered
	require.NoError(t, a.err)
	require.Equal(t, ledger.Halted, a.ctl.State)
	require.Zero(t, r.held(), "the hold ends once the halt is recorded")
	got, err := led.Control(ctx)
	require.NoError(t, err)
	require.Equal(t, ledger.Halted, got.State)
}

// TestHaltInBackgroundAnswersFirst: the API's halt writes the halt, then
// answers and restores side by side, so that the answer never waits
// behind the restore's own work.
func TestHaltInBackgroundAnswersFirst(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(t0)
	led := &slowControl{Memory: ledgertest.NewMemory(clk.Now), writing: make(chan struct{}), release: make(chan struct{})}
	r := &fakeRestorer{block: make(chan struct{})}
	c := NewController(ControllerOptions{Ledger: led, Restorer: r, Clock: clk})
	answered := make(chan error, 1)
	go func() {
		_, err := c.HaltInBackground(ctx, Change{Actor: "oncall", Source: "api", Reason: "incident"})
		answered <- err
	}()
	<-led.writing
	require.Never(t, func() bool { return len(r.all()) > 0 }, 50*time.Millisecond, time.Millisecond, "the restore waits for the write")
	close(led.release)
	require.NoError(t, <-answered, "answered while the restore is still under way")
	require.Eventually(t, func() bool { return len(r.all()) == 1 }, 5*time.Second, time.Millisecond)
	require.Zero(t, r.held(), "recorded: no hold needed")
	close(r.block)
}

// failingControl is a control ledger that cannot write.
type failingControl struct{ *ledgertest.Memory }

func (failingControl) UpdateControl(context.Context, func(*ledger.Control) error) (ledger.Control, error) {
	return ledger.Control{}, ledger.ErrUnavailable
}

// TestHaltUnrecordedHoldsUntilRestored: a halt whose write fails still
// restores, and keeps the hold on until that restore has ended, so that
// no fault starts under it while the ledger still says armed.
func TestHaltUnrecordedHoldsUntilRestored(t *testing.T) {
	clk := clock.NewFake(t0)
	r := &fakeRestorer{block: make(chan struct{})}
	c := NewController(ControllerOptions{Ledger: failingControl{ledgertest.NewMemory(clk.Now)}, Restorer: r, Clock: clk})
	_, err := c.HaltInBackground(context.Background(), Change{Actor: "oncall", Source: "api", Reason: "incident"})
	require.ErrorIs(t, err, ledger.ErrUnavailable)
	require.ErrorContains(t, err, "record halt (restoring anyway)")
	require.Eventually(t, func() bool { return len(r.all()) == 1 }, 5*time.Second, time.Millisecond)
	require.Equal(t, 1, r.held(), "held while the restore runs, though the write has failed")
	close(r.block)
	require.Eventually(t, func() bool { return r.held() == 0 }, 5*time.Second, time.Millisecond, "released once the restore has ended")
}

// TestHaltHold: how long a halt holds new faults back, and what.
func TestHaltHold(t *testing.T) {
	ctx := context.Background()
	halt := Change{Actor: "oncall", Source: "api", Reason: "incident"}
	newSlow := func(clk *clock.Fake) *slowControl {
		return &slowControl{Memory: ledgertest.NewMemory(clk.Now), writing: make(chan struct{}), release: make(chan struct{})}
	}
	async := func(fn func() error) <-chan error {
		out := make(chan error, 1)
		go func() { out <- fn() }()
		return out
	}
	t.Run("the hold ends with the write, not with the restore", func(t *testing.T) {
		clk := clock.NewFake(t0)
		led, r := newSlow(clk), &fakeRestorer{block: make(chan struct{})}
		c := NewController(ControllerOptions{Ledger: led, Restorer: r, Clock: clk})
		done := async(func() error { _, err := c.Halt(ctx, halt); return err })
		require.Eventually(t, func() bool { return len(r.all()) == 1 }, 5*time.Second, time.Millisecond)
		close(led.release)
		require.Eventually(t, func() bool { return r.held() == 0 }, 5*time.Second, time.Millisecond,
			"recorded: the recorded halt keeps faults from starting, the restore still runs")
		require.Equal(t, []string{""}, r.scopes, "a global halt holds every policy")
		close(r.block)
		require.NoError(t, <-done)
	})
	t.Run("a halt that cannot be written holds until its restore has ended", func(t *testing.T) {
		clk := clock.NewFake(t0)
		r := &fakeRestorer{block: make(chan struct{})}
		c := NewController(ControllerOptions{Ledger: failingControl{ledgertest.NewMemory(clk.Now)}, Restorer: r, Clock: clk})
		done := async(func() error { _, err := c.Halt(ctx, halt); return err })
		require.Eventually(t, func() bool { return len(r.all()) == 1 }, 5*time.Second, time.Millisecond)
		require.Never(t, func() bool { return r.held() == 0 }, 50*time.Millisecond, time.Millisecond)
		close(r.block)
		err := <-done
		require.ErrorIs(t, err, ledger.ErrUnavailable)
		require.ErrorContains(t, err, "record halt")
		require.Zero(t, r.held())
	})
	t.Run("a policy's halt holds that policy only", func(t *testing.T) {
		clk := clock.NewFake(t0)
		r := &fakeRestorer{}
		c := NewController(ControllerOptions{Ledger: ledgertest.NewMemory(clk.Now), Restorer: r, Clock: clk})
		_, err := c.Halt(ctx, Change{Actor: ActorGuardian, Source: "slo/x", Reason: "burn", Policy: "checkout"})
		require.NoError(t, err)
		require.Equal(t, []string{"checkout"}, r.scopes)
		require.Equal(t, []string{"checkout"}, r.all()[0].policies)
		require.Zero(t, r.held())
	})
	t.Run("the log says halting before halted, a second halt too", func(t *testing.T) {
		clk := clock.NewFake(t0)
		var buf testlog.Buffer
		log := hclog.New(&hclog.LoggerOptions{Output: &buf, DisableTime: true})
		c := NewController(ControllerOptions{Ledger: ledgertest.NewMemory(clk.Now), Restorer: &fakeRestorer{}, Clock: clk, Logger: log})
		for _, why := range []string{"first", "second"} {
			_, err := c.Halt(ctx, Change{Actor: "oncall", Source: "api", Reason: why})
			require.NoError(t, err)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			word, _, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "[WARN]")), ":")
			got = append(got, word)
		}
		require.Equal(t, []string{"halting", "halted", "halting", "halted"}, got, buf.String())
	})
	t.Run("where nothing can be held, the halt is written before the restore", func(t *testing.T) {
		clk := clock.NewFake(t0)
		led, r := newSlow(clk), &fakeRestorer{noHold: true}
		c := NewController(ControllerOptions{Ledger: led, Restorer: r, Clock: clk})
		done := async(func() error { _, err := c.HaltInBackground(ctx, halt); return err })
		<-led.writing
		require.Never(t, func() bool { return len(r.all()) > 0 }, 50*time.Millisecond, time.Millisecond,
			"a follower restores only once the leader can see the halt")
		close(led.release)
		require.NoError(t, <-done)
		require.Eventually(t, func() bool { return len(r.all()) == 1 }, 5*time.Second, time.Millisecond)
		require.False(t, r.all()[0].held)
	})
}
