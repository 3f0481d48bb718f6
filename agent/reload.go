package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/inferensys/tumult/api"
)

// DefaultReloadTimeout bounds one reading of the policy files.
const DefaultReloadTimeout = 30 * time.Second

// reload (re)reads the policies (trigger says why, for status) in a goroutine of its own and waits for
// the result until ctx ends or Options.ReloadTimeout passes, whichever
// comes first. Policy files are opened without blocking and read up to a
// cap, so a reload normally takes milliseconds; the bound is for what no
// check can foresee (a hung network file system), so that a reload never
// holds up the API, a signal handler or the agent's shutdown and its
// restore of running faults. One reload runs at a time: while one is
// stuck, the next ones give up at their own bound with an error saying so.
func (a *Agent) reload(ctx context.Context, trigger string) (api.ReloadResult, error) {
	timeout, stop := a.clock.After(a.opts.ReloadTimeout)
	defer stop()
	select {
	case a.reloading <- struct{}{}:
	case <-ctx.Done():
		return api.ReloadResult{}, fmt.Errorf("reload policies: %w", ctx.Err())
	case <-timeout:
		return api.ReloadResult{}, fmt.Errorf("reload policies: %w: an earlier reload is still reading the files in %s after %s",
			api.ErrUnavailable, a.cfg.PolicyDir, a.opts.ReloadTimeout)
	}
	done := make(chan api.ReloadResult, 1)
	go func() {
		defer func() { <-a.reloading }()
		done <- a.load(trigger)
	}()
	select {
	case res := <-done:
		return res, nil
	case <-ctx.Done():
		return api.ReloadResult{}, fmt.Errorf("reload policies: %w", ctx.Err())
	case <-timeout:
		a.log.Error("policy reload is stuck reading policy files; keeping the last good set", "dir", a.cfg.PolicyDir, "timeout", a.opts.ReloadTimeout)
		return api.ReloadResult{}, fmt.Errorf("reload policies: %w: still reading the files in %s after %s; the last good set stays",
			api.ErrUnavailable, a.cfg.PolicyDir, a.opts.ReloadTimeout)
	}
}
