package policies

import (
	"math"
	"math/rand/v2"
	"time"
)

// Arrivals draws the instants at which a policy's faults arrive: gaps of
// open time (time inside its windows, outside its freezes) that are
// Every.Min plus an exponential draw with mean Every.Mean − Every.Min, so
// the gaps average Every.Mean and are never shorter than Every.Min. With
// Min = 0 this is a Poisson process on open time.
//
// Gaps are measured in open time: a window closing does not consume the
// gap, it pauses it. Wall-clock gaps are therefore never shorter than
// open-time ones, and the min gap holds in wall time too.
type Arrivals struct {
	p   *Policy
	rng *rand.Rand
}

// NewArrivals returns the arrival process of p drawing from rng.
func NewArrivals(p *Policy, rng *rand.Rand) *Arrivals {
	return &Arrivals{p: p, rng: rng}
}

// Gap draws one gap of open time.
func (a *Arrivals) Gap() time.Duration {
	c := a.p.Every
	spread := float64(c.Mean - c.Min)
	return c.Min + time.Duration(a.rng.ExpFloat64()*spread)
}

// horizonStep is how much of the calendar is examined at a time.
const horizonStep = 7 * 24 * time.Hour

// Next returns the next arrival after `after`, consuming a fresh gap of
// open time, and false when the policy has no open time before limit.
func (a *Arrivals) Next(after, limit time.Time) (time.Time, bool) {
	return a.p.AdvanceOpen(after, a.Gap(), limit)
}

// AdvanceOpen returns the instant at which `need` of open time has passed
// since `from`, and false when that does not happen before limit.
//
// It looks ahead in spans that start at twice the need (at least a minute)
// and double up to a week, so that short gaps cost little and a policy
// whose windows are far apart is still found in few steps.
func (p *Policy) AdvanceOpen(from time.Time, need time.Duration, limit time.Time) (time.Time, bool) {
	step := max(2*need, time.Minute)
	for t := from; t.Before(limit); {
		end := t.Add(step)
		if end.After(limit) {
			end = limit
		}
		for _, iv := range p.OpenIntervals(t, end) {
			if iv.Len() > need || (need == 0 && iv.Len() > 0) {
				return iv.Start.Add(need), true
			}
			need -= iv.Len()
		}
		t = end
		step = min(2*step, horizonStep)
	}
	return time.Time{}, false
}

// Sample draws a concrete schedule of arrivals in [from, to), applying
// max_per_day. Same rng state, same schedule.
func (p *Policy) Sample(rng *rand.Rand, from, to time.Time) []time.Time {
	a := NewArrivals(p, rng)
	perDay := map[string]int{}
	var out []time.Time
	t := from
	for i := 0; i < 1_000_000; i++ {
		next, ok := a.Next(t, to)
		if !ok {
			break
		}
		t = next
		if p.Limits.MaxPerDay > 0 {
			key := p.DayKey(t)
			if perDay[key] >= p.Limits.MaxPerDay {
				continue
			}
			perDay[key]++
		}
		out = append(out, t)
	}
	return out
}

// Expected returns the expected number of faults in [from, to): per
// calendar day, the open time divided by the mean gap, capped by
// max_per_day as E[min(N, cap)] for a Poisson count N. With a min gap the
// arrivals are not exactly Poisson and the figure is an estimate.
func (p *Policy) Expected(from, to time.Time) float64 {
	if p.Every.Mean <= 0 {
		return 0
	}
	perDay := map[string]time.Duration{}
	var order []string
	for _, iv := range p.OpenIntervals(from, to) {
		for s := iv.Start; s.Before(iv.End); {
			day, _, next := p.Day(s)
			if next.After(iv.End) {
				next = iv.End
			}
			if _, ok := perDay[day]; !ok {
				order = append(order, day)
			}
			perDay[day] += next.Sub(s)
			s = next
		}
	}
	var total float64
	for _, day := range order {
		lambda := float64(perDay[day]) / float64(p.Every.Mean)
		if p.Limits.MaxPerDay > 0 {
			total += expectedCapped(lambda, p.Limits.MaxPerDay)
		} else {
			total += lambda
		}
	}
	return total
}

// expectedCapped is E[min(N, k)] for N ~ Poisson(lambda):
// k − Σ_{n<k} (k−n)·P(N=n).
func expectedCapped(lambda float64, k int) float64 {
	pn := math.Exp(-lambda) // P(N=0)
	sum := 0.0
	for n := 0; n < k; n++ {
		sum += float64(k-n) * pn
		pn *= lambda / float64(n+1)
	}
	return float64(k) - sum
}
