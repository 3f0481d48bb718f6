package helper

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// stressPeriod is one duty cycle of a CPU worker: busy for cpu_load percent
// of it, asleep for the rest, as stress-ng does.
const stressPeriod = 100 * time.Millisecond

// stress consumes spec's CPU and memory until ctx ends. The helper runs in
// the member's cgroup, so the member's limits are what it exhausts: the
// kernel throttles the CPU workers at the member's quota and the OOM
// killer acts at its memory limit.
func stress(ctx context.Context, spec StressSpec) {
	var hold []byte
	if spec.Memory > 0 {
		hold = make([]byte, spec.Memory)
		// Touch every page so the memory is resident, not just reserved.
		for i := 0; i < len(hold); i += 4096 {
			hold[i] = 1
		}
	}
	var wg sync.WaitGroup
	for range spec.CPUWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			burn(ctx, spec.CPULoad)
		}()
	}
	<-ctx.Done()
	wg.Wait()
	runtime.KeepAlive(hold)
}

func burn(ctx context.Context, load int) {
	if load <= 0 || load > 100 {
		load = 100
	}
	busy := stressPeriod * time.Duration(load) / 100
	x := 1.0
	for ctx.Err() == nil {
		start := time.Now()
		for time.Since(start) < busy {
			for range 1000 {
				x = x*1.0000001 + 1e-9
			}
		}
		if rest := stressPeriod - busy; rest > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(rest):
			}
		}
	}
	_ = x
}
