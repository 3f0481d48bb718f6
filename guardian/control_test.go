package guardian

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/clock"
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
