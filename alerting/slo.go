package alerting

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"

	"github.com/inferensys/tumult/internal/crash"
	"github.com/inferensys/tumult/policies"
)

// WindowPlaceholder is replaced in an SLO's error_ratio by each window.
const WindowPlaceholder = "$window"

// WindowQuery substitutes window into expr in Prometheus duration notation
// (5m, 1h, 6h, 3d, 30d, 4w), the notation Sloth uses in its rule names, so
// slo:sli_error:ratio_rate$window finds Sloth's recording rules.
func WindowQuery(expr string, window time.Duration) string {
	return strings.ReplaceAll(expr, WindowPlaceholder, model.Duration(window).String())
}

// PairStatus is the burn rates of one multiwindow burn-rate pair: the
// error ratio over each window divided by 1 − objective. Whether the pair
// trips is the guardian's rule (guardian.BurnPairTrips).
type PairStatus struct {
	Pair      policies.BurnPair
	LongBurn  float64
	ShortBurn float64
}

// SLOStatus is what one read of an slo trip wire found.
type SLOStatus struct {
	Name  string
	Pairs []PairStatus

	// The budget left, only when the wire has MinBudgetLeft. A failing
	// budget query does not fail BurnRates, since the gate only holds new
	// faults back and must not halt running ones; it shows in BudgetErr
	// instead (and the guardian's gate fails closed on it).
	BudgetLeft *float64
	BudgetErr  error
}

// Budget is the error budget left over an SLO's period.
type Budget struct {
	// Left is the fraction of the budget left: 1 when no errors, 0 when
	// spent, negative when overspent.
	Left   float64
	Period time.Duration
	// Min is the wire's min_budget_left; nil when it has none. Whether
	// the gate blocks is the guardian's rule (guardian.BudgetGateBlocks).
	Min *float64
}

// BurnRates evaluates every burn-rate pair of wire at the instant at (the
// wire's Burns, or policies.DefaultBurnPairs when it has none). Each window
// is queried once, concurrently. Any failed window fails the call: an
// unknown burn rate is never reported as a calm one. When the wire has
// MinBudgetLeft, the budget is read too (see SLOStatus).
func (p *Prometheus) BurnRates(ctx context.Context, wire policies.SLOWire, at time.Time) (SLOStatus, error) {
	if err := p.checkWire(wire); err != nil {
		return SLOStatus{}, err
	}
	if at.IsZero() {
		at = p.now()
	}
	pairs := wire.Burns
	if len(pairs) == 0 {
		pairs = policies.DefaultBurnPairs
	}
	var windows []time.Duration
	for _, bp := range pairs {
		windows = append(windows, bp.Long, bp.Short)
	}
	withBudget := wire.MinBudgetLeft != nil
	if withBudget {
		windows = append(windows, wire.Period)
	}
	ratios, errs := p.ratios(ctx, wire.ErrorRatio, windows, at)

	st := SLOStatus{Name: wire.Name}
	var burnErrs []error
	for _, bp := range pairs {
		if err := errors.Join(errs[bp.Long], errs[bp.Short]); err != nil {
			burnErrs = append(burnErrs, err)
			continue
		}
		st.Pairs = append(st.Pairs, PairStatus{
			Pair:      bp,
			LongBurn:  ratios[bp.Long] / (1 - wire.Objective),
			ShortBurn: ratios[bp.Short] / (1 - wire.Objective),
		})
	}
	if len(burnErrs) > 0 {
		return SLOStatus{}, fmt.Errorf("slo %q: burn rates: %w", wire.Name, errors.Join(dedupe(burnErrs)...))
	}
	if withBudget {
		if err := errs[wire.Period]; err != nil {
			st.BudgetErr = fmt.Errorf("slo %q: budget left over %s: %w", wire.Name, model.Duration(wire.Period), err)
		} else {
			b := p.budget(wire, ratios[wire.Period])
			st.BudgetLeft = &b.Left
		}
	}
	p.log.Debug("burn rates", "slo", wire.Name, "pairs", len(st.Pairs))
	return st, nil
}

// BudgetLeft reads how much of the wire's error budget over its Period is
// left at the instant at: 1 − (error ratio over Period) / (1 − objective),
// with $window = Period (e.g. 30d). An error means the budget is unknown,
// and a caller must then treat the gate as closed.
func (p *Prometheus) BudgetLeft(ctx context.Context, wire policies.SLOWire, at time.Time) (Budget, error) {
	if err := p.checkWire(wire); err != nil {
		return Budget{}, err
	}
	if at.IsZero() {
		at = p.now()
	}
	ratio, err := p.Query(ctx, WindowQuery(wire.ErrorRatio, wire.Period), at)
	if err != nil {
		return Budget{}, fmt.Errorf("slo %q: budget left over %s: %w", wire.Name, model.Duration(wire.Period), err)
	}
	return p.budget(wire, ratio), nil
}

func (p *Prometheus) budget(wire policies.SLOWire, ratio float64) Budget {
	return Budget{Left: 1 - ratio/(1-wire.Objective), Period: wire.Period, Min: wire.MinBudgetLeft}
}

func (p *Prometheus) checkWire(w policies.SLOWire) error {
	switch {
	case w.Prometheus != "" && w.Prometheus != p.name:
		return fmt.Errorf("slo %q: reads prometheus %q, asked of prometheus %q", w.Name, w.Prometheus, p.name)
	case !(w.Objective > 0 && w.Objective < 1):
		return fmt.Errorf("slo %q: objective %v is not between 0 and 1", w.Name, w.Objective)
	case !strings.Contains(w.ErrorRatio, WindowPlaceholder):
		return fmt.Errorf("slo %q: error_ratio %q has no %s, so every window would read the same series", w.Name, w.ErrorRatio, WindowPlaceholder)
	case w.MinBudgetLeft != nil && w.Period <= 0:
		return fmt.Errorf("slo %q: min_budget_left needs a period", w.Name)
	}
	for _, bp := range w.Burns {
		if bp.Long <= 0 || bp.Short <= 0 {
			return fmt.Errorf("slo %q: burn pair %s/%s has a window that is not positive", w.Name, model.Duration(bp.Long), model.Duration(bp.Short))
		}
	}
	return nil
}

// ratios queries the error ratio once per distinct window, concurrently.
func (p *Prometheus) ratios(ctx context.Context, expr string, windows []time.Duration, at time.Time) (map[time.Duration]float64, map[time.Duration]error) {
	type result struct {
		window time.Duration
		ratio  float64
		err    error
	}
	seen := map[time.Duration]bool{}
	results := make(chan result, len(windows))
	var wg sync.WaitGroup
	for _, w := range windows {
		if seen[w] {
			continue
		}
		seen[w] = true
		wg.Add(1)
		go func() {
			defer crash.Recover("alerting: burn-rate query")
			defer wg.Done()
			r, err := p.Query(ctx, WindowQuery(expr, w), at)
			results <- result{window: w, ratio: r, err: err}
		}()
	}
	wg.Wait()
	close(results)
	ratios := map[time.Duration]float64{}
	errs := map[time.Duration]error{}
	for r := range results {
		if r.err != nil {
			errs[r.window] = r.err
			continue
		}
		ratios[r.window] = r.ratio
	}
	return ratios, errs
}

// dedupe drops repeated errors: a window shared by two pairs fails both.
func dedupe(errs []error) []error {
	var out []error
	seen := map[string]bool{}
	for _, err := range errs {
		for _, e := range unjoin(err) {
			if !seen[e.Error()] {
				seen[e.Error()] = true
				out = append(out, e)
			}
		}
	}
	return out
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
