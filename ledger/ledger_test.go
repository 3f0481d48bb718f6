package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

var t0 = time.Date(2026, 10, 16, 9, 30, 15, 0, time.UTC)

func TestControlEffective(t *testing.T) {
	tests := []struct {
		name   string
		c      Control
		policy string
		at     time.Time
		want   State
		actor  string
	}{
		{name: "zero value is armed", want: Armed},
		{name: "global pause", c: Control{State: Paused, Actor: "ana"}, want: Paused, actor: "ana"},
		{name: "global pause before expiry", c: Control{State: Paused, Actor: "ana", Until: t0.Add(time.Hour)}, at: t0.Add(time.Hour - time.Nanosecond), want: Paused, actor: "ana"},
		{name: "global pause expires at Until", c: Control{State: Paused, Actor: "ana", Until: t0.Add(time.Hour)}, at: t0.Add(time.Hour), want: Armed},
		{
			name:   "policy pause under armed",
			c:      Control{State: Armed, Policies: map[string]PolicyControl{"a": {State: Paused, Actor: "bo"}}},
			policy: "a", want: Paused, actor: "bo",
		},
		{
			name:   "other policy unaffected",
			c:      Control{State: Armed, Policies: map[string]PolicyControl{"a": {State: Paused, Actor: "bo"}}},
			policy: "b", want: Armed,
		},
		{
			name:   "global halt beats policy pause",
			c:      Control{State: Halted, Actor: "guardian", Policies: map[string]PolicyControl{"a": {State: Paused, Actor: "bo"}}},
			policy: "a", want: Halted, actor: "guardian",
		},
		{
			name:   "policy halt beats global pause",
			c:      Control{State: Paused, Actor: "ana", Policies: map[string]PolicyControl{"a": {State: Halted, Actor: "guardian"}}},
			policy: "a", want: Halted, actor: "guardian",
		},
		{
			name:   "tie goes to global",
			c:      Control{State: Paused, Actor: "ana", Policies: map[string]PolicyControl{"a": {State: Paused, Actor: "bo"}}},
			policy: "a", want: Paused, actor: "ana",
		},
		{
			name:   "expired policy pause",
			c:      Control{State: Armed, Policies: map[string]PolicyControl{"a": {State: Paused, Actor: "bo", Until: t0}}},
			policy: "a", at: t0, want: Armed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.at
			if at.IsZero() {
				at = t0
			}
			got := tt.c.Effective(tt.policy, at)
			require.Equal(t, tt.want, got.State)
			require.Equal(t, tt.actor, got.Actor)
		})
	}
}

func TestControlExpire(t *testing.T) {
	c := Control{
		State: Paused, Actor: "ana", Until: t0,
		Policies: map[string]PolicyControl{
			"gone": {State: Paused, Until: t0.Add(-time.Minute)},
			"kept": {State: Paused, Until: t0.Add(time.Minute)},
			"ever": {State: Halted},
		},
		Version: 7,
	}
	early := c.Clone()
	require.False(t, early.Expire(t0.Add(-2*time.Minute)), "nothing has expired yet")

	require.True(t, c.Expire(t0))
	require.Equal(t, Armed, c.State)
	require.Equal(t, "expiry", c.Source)
	require.Contains(t, c.Reason, "ana")
	require.Equal(t, t0, c.Since)
	require.Equal(t, uint64(7), c.Version)
	require.NotContains(t, c.Policies, "gone")
	require.Contains(t, c.Policies, "kept")
	require.Contains(t, c.Policies, "ever")
	require.False(t, c.Expire(t0), "a second expiry changes nothing")
}

func TestApplyControl(t *testing.T) {
	cur := Control{State: Armed, Policies: map[string]PolicyControl{"a": {State: Paused}}, Version: 3}
	boom := errors.New("boom")

	t.Run("increments version and overrides fn's", func(t *testing.T) {
		next, err := ApplyControl(cur, time.Time{}, func(c *Control) error {
			c.State, c.Version = Halted, 99
			return nil
		})
		require.NoError(t, err)
		require.Equal(t, Halted, next.State)
		require.Equal(t, uint64(4), next.Version)
	})
	t.Run("fn error leaves the map alone", func(t *testing.T) {
		_, err := ApplyControl(cur, time.Time{}, func(c *Control) error {
			c.Policies["a"] = PolicyControl{State: Halted}
			c.Policies["b"] = PolicyControl{State: Halted}
			return boom
		})
		require.ErrorIs(t, err, boom)
		require.Equal(t, map[string]PolicyControl{"a": {State: Paused}}, cur.Policies)
	})
	t.Run("invalid state", func(t *testing.T) {
		_, err := ApplyControl(cur, time.Time{}, func(c *Control) error { c.State = "sleepy"; return nil })
		require.ErrorIs(t, err, ErrInvalid)
		_, err = ApplyControl(cur, time.Time{}, func(c *Control) error { c.Policies["x"] = PolicyControl{}; return nil })
		require.ErrorIs(t, err, ErrInvalid)
	})
	t.Run("empty state is armed", func(t *testing.T) {
		next, err := ApplyControl(Control{}, time.Time{}, func(c *Control) error { c.State = ""; return nil })
		require.NoError(t, err)
		require.Equal(t, Armed, next.State)
		require.Equal(t, uint64(1), next.Version)
		require.Empty(t, next.Changes, "armed to armed is no transition")
	})
	t.Run("journal keeps the newest MaxChanges transitions", func(t *testing.T) {
		t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
		c := Control{}
		for i := range MaxChanges + 10 {
			var err error
			c, err = ApplyControl(c, t0.Add(time.Duration(i)*time.Minute), func(c *Control) error {
				c.State = map[bool]State{true: Halted, false: Armed}[i%2 == 0]
				c.Reason = fmt.Sprint("change ", i)
				return nil
			})
			require.NoError(t, err)
		}
		require.Len(t, c.Changes, MaxChanges)
		require.Equal(t, "change 10", c.Changes[0].Reason)
		require.Equal(t, t0.Add(10*time.Minute), c.Changes[0].At, "without a Since, the transition gets the store's now")
		require.Equal(t, ControlChange{At: t0.Add(265 * time.Minute), From: Halted, To: Armed, Reason: "change 265"}, c.Changes[MaxChanges-1])
	})
}

func TestApplyRecord(t *testing.T) {
	cur := Record{
		ID: "r1", Policy: "p", Phase: Injected,
		Member: targets.Member{ID: "c1", Labels: map[string]string{"app": "x"}},
		Steps:  []Step{{At: t0, What: "intent"}, {At: t0, What: "injected"}},
	}
	tests := []struct {
		name    string
		fn      func(*Record) error
		wantErr error
		check   func(t *testing.T, r Record)
	}{
		{
			name: "append a step and finish stamps Finished",
			fn: func(r *Record) error {
				r.AddStep(t0, "restored %s", "c1")
				r.Phase, r.Result = Finished, Passed
				return nil
			},
			check: func(t *testing.T, r Record) {
				require.Len(t, r.Steps, 3)
				require.Equal(t, "restored c1", r.Steps[2].What)
				require.Equal(t, t0.Add(time.Hour), r.Finished)
			},
		},
		{name: "finish without result", fn: func(r *Record) error { r.Phase = Finished; return nil }, wantErr: ErrInvalid},
		{name: "id change", fn: func(r *Record) error { r.ID = "r2"; return nil }, wantErr: ErrInvalid},
		{name: "steps rewritten", fn: func(r *Record) error { r.Steps[0].What = "nothing"; return nil }, wantErr: ErrInvalid},
		{name: "steps dropped", fn: func(r *Record) error { r.Steps = r.Steps[:1]; return nil }, wantErr: ErrInvalid},
		{name: "unknown phase", fn: func(r *Record) error { r.Phase = "done"; return nil }, wantErr: ErrInvalid},
		{name: "unknown result", fn: func(r *Record) error { r.Result = "great"; return nil }, wantErr: ErrInvalid},
		{name: "fn error", fn: func(r *Record) error { r.Member.Labels["app"] = "y"; return errBoom }, wantErr: errBoom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, err := ApplyRecord(cur, t0.Add(time.Hour), tt.fn)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				require.Equal(t, "x", cur.Member.Labels["app"], "the original is untouched")
				require.Equal(t, "intent", cur.Steps[0].What, "the original is untouched")
				return
			}
			require.NoError(t, err)
			tt.check(t, next)
		})
	}
}

var errBoom = errors.New("boom")

func TestPrepareBegin(t *testing.T) {
	r, err := PrepareBegin(Record{ID: "a", Policy: "p", Phase: Intent}, t0)
	require.NoError(t, err)
	require.Equal(t, t0, r.Decided)
	require.True(t, r.Finished.IsZero())

	r, err = PrepareBegin(Record{ID: "a", Policy: "p", Phase: Finished, Result: Skipped, Decided: t0.Add(-time.Second)}, t0)
	require.NoError(t, err)
	require.Equal(t, t0.Add(-time.Second), r.Decided)
	require.Equal(t, t0, r.Finished)

	for _, bad := range []Record{{Policy: "p", Phase: Intent}, {ID: "a", Phase: Intent}, {ID: "a", Policy: "p"}} {
		_, err = PrepareBegin(bad, t0)
		require.ErrorIs(t, err, ErrInvalid)
	}
}

func TestNewID(t *testing.T) {
	id, err := NewIDFrom(time.Date(2026, 10, 16, 11, 30, 15, 0, time.FixedZone("CEST", 2*3600)), bytes.NewReader([]byte{0x4f, 0x3a, 0x9c, 0x2b}))
	require.NoError(t, err)
	require.Equal(t, "20261016-093015-4f3a9c2b", id)

	_, err = NewIDFrom(t0, bytes.NewReader([]byte{1, 2}))
	require.Error(t, err)

	a, b := NewID(), NewID()
	require.NotEqual(t, a, b)
	require.Len(t, a, len("20261016-093015-4f3a9c2b"))
	later, err := NewIDFrom(time.Now().Add(time.Second), strings.NewReader("\x00\x00\x00\x00"))
	require.NoError(t, err)
	require.Less(t, a, later, "IDs sort by time across seconds")
}

func TestRecordJSONRoundTrip(t *testing.T) {
	r := Record{
		ID: "20261016-093015-4f3a9c2b", Policy: "checkout-crash", Actor: "scheduler",
		Member: targets.Member{
			Driver: policies.DriverDocker, Endpoint: "local", ID: "abc", Name: "checkout-1",
			Labels: map[string]string{"app": "checkout"}, Healthy: true, Status: "running",
		},
		Fault:  policies.FaultSpec{Kind: policies.FaultKill, Signal: "SIGKILL", RestoreAfter: 2 * time.Minute},
		DryRun: true, Phase: Finished, Result: Passed,
		Outcome: targets.Outcome{How: targets.Replaced, Replacement: "def"},
		Decided: t0, Injected: t0.Add(time.Second), RestoreBy: t0.Add(2 * time.Minute),
		Restored: t0.Add(3 * time.Minute), Finished: t0.Add(4 * time.Minute),
		Steps: []Step{{At: t0, What: "intent"}},
	}
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var got Record
	require.NoError(t, json.Unmarshal(b, &got))
	require.Equal(t, r, got)

	b, err = json.Marshal(Record{ID: "x", Policy: "p", Phase: Intent})
	require.NoError(t, err)
	require.NotContains(t, string(b), "injected", "zero times are left out")
	require.NotContains(t, string(b), "outcome", "a zero outcome is left out")
}
