package docker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	t1 := t0.Add(time.Minute)
	t2 := t0.Add(2 * time.Minute)
	running := containerState{State: "running", Running: true, StartedAt: t0}
	crashed := containerState{State: "running", Running: true, StartedAt: t2, FinishedAt: t1, Restarts: 1}
	before := faultRecord{before: t0}

	tests := []struct {
		name string
		kind policies.FaultKind
		st   containerState
		rec  *faultRecord
		act  action
		how  targets.How
	}{
		{"being removed is gone", policies.FaultKill, containerState{State: "removing"}, nil, actDone, targets.Gone},
		{"paused is unpaused", policies.FaultPause, containerState{State: "paused", Running: true, Paused: true}, &before, actUnpause, targets.Restored},
		{"paused after a kill fault too", policies.FaultKill, containerState{State: "paused", Running: true, Paused: true}, nil, actUnpause, targets.Restored},
		{"restarting is waited for", policies.FaultKill, containerState{State: "restarting", Running: true, Restarting: true}, &before, actWait, targets.Recovered},
		{"exited is started", policies.FaultKill, containerState{State: "exited", StartedAt: t0, FinishedAt: t1}, &before, actStart, targets.Restored},
		{"stopped is started", policies.FaultStop, containerState{State: "exited"}, nil, actStart, targets.Restored},
		{"signal that killed it: start", policies.FaultSignal, containerState{State: "exited"}, &before, actStart, targets.Restored},
		{"restart that left it down: start", policies.FaultRestart, containerState{State: "exited"}, &before, actStart, targets.Restored},
		{"created is started", policies.FaultKill, containerState{State: "created"}, nil, actStart, targets.Restored},

		{"restored before: same answer", policies.FaultKill, crashed, &faultRecord{before: t0, restored: true, restoredStart: t2, how: targets.Restored}, actDone, targets.Restored},
		{"unpaused before: same answer", policies.FaultPause, running, &faultRecord{before: t0, restored: true, restoredStart: t0, how: targets.Restored}, actDone, targets.Restored},
		{"restored before, restarted since", policies.FaultKill, crashed, &faultRecord{before: t0, restored: true, restoredStart: t1, how: targets.Restored}, actDone, targets.Recovered},
		{"restart running again", policies.FaultRestart, crashed, &before, actDone, targets.Recovered},
		{"restart without memory", policies.FaultRestart, running, nil, actDone, targets.Recovered},

		{"kill: came back by itself", policies.FaultKill, crashed, &before, actDone, targets.Recovered},
		{"stop: started by someone", policies.FaultStop, crashed, &before, actDone, targets.Recovered},
		{"signal: crashed and came back", policies.FaultSignal, crashed, &before, actDone, targets.Recovered},
		{"pause: unpaused by someone", policies.FaultPause, running, &before, actDone, targets.Recovered},
		{"kill: never went down", policies.FaultKill, running, &before, actDone, targets.Unaffected},
		{"signal: still running", policies.FaultSignal, running, &before, actDone, targets.Unaffected},

		{"no memory, pause: not paused any more", policies.FaultPause, running, nil, actDone, targets.Recovered},
		{"no memory, signal: running", policies.FaultSignal, crashed, nil, actDone, targets.Unaffected},
		{"no memory, kill: exited and started since", policies.FaultKill, crashed, nil, actDone, targets.Recovered},
		{"no memory, kill: never exited", policies.FaultKill, running, nil, actDone, targets.Unaffected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec faultRecord
			if tt.rec != nil {
				rec = *tt.rec
			}
			act, how := decide(tt.kind, tt.st, rec, tt.rec != nil)
			require.Equal(t, tt.act, act)
			require.Equal(t, tt.how, how)
		})
	}
}
