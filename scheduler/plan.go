package scheduler

import (
	"hash/fnv"
	"math/rand/v2"
	"time"

	"github.com/inferensys/tumult/policies"
)

// Plan is what a set of policies will do over a span of time.
type Plan struct {
	From     time.Time    `json:"from"`
	To       time.Time    `json:"to"`
	Seed     *int64       `json:"seed,omitempty"`
	Policies []PolicyPlan `json:"policies"`
}

// PolicyPlan is one policy's part of a plan.
type PolicyPlan struct {
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	DryRun  bool   `json:"dry_run"`
	Driver  string `json:"driver"`
	Fault   string `json:"fault"`
	// Windows are the spans the windows are open, before freezes.
	Windows []policies.Interval `json:"windows"`
	// Freezes are the freezes overlapping the plan, clipped to it.
	Freezes []PlannedFreeze `json:"freezes"`
	// Open is when faults may happen: windows minus freezes.
	Open        []policies.Interval `json:"open"`
	OpenFor     time.Duration       `json:"-"`
	OpenSeconds float64             `json:"open_seconds"`
	// Expected is the expected number of faults (0 when disabled).
	Expected float64 `json:"expected"`
	// Sample is one concrete draw of fault times, with a seed.
	Sample []time.Time `json:"sample,omitempty"`
}

// PlannedFreeze is a freeze clipped to the plan.
type PlannedFreeze struct {
	policies.Interval
	Reason string `json:"reason,omitempty"`
}

// MakePlan computes the plan of ps over [from, to). With a seed it also
// draws one sample schedule per policy; each policy's draw depends only on
// the seed and its own name, so adding a policy changes no other's sample.
func MakePlan(ps []*policies.Policy, from, to time.Time, seed *int64) Plan {
	pl := Plan{From: from, To: to, Seed: seed, Policies: []PolicyPlan{}}
	for _, p := range ps {
		pp := PolicyPlan{
			Name: p.Name, Enabled: p.Enabled, DryRun: p.DryRun,
			Driver: string(p.Target.Driver), Fault: string(p.Fault.Kind),
			Windows: []policies.Interval{}, Freezes: []PlannedFreeze{}, Open: []policies.Interval{},
		}
		for _, w := range p.Windows {
			pp.Windows = append(pp.Windows, w.Intervals(from, to)...)
		}
		for _, f := range p.Freezes {
			if f.To.After(from) && f.From.Before(to) {
				iv := policies.Interval{Start: maxTime(f.From, from), End: minTime(f.To, to)}
				pp.Freezes = append(pp.Freezes, PlannedFreeze{Interval: iv, Reason: f.Reason})
			}
		}
		pp.Open = append(pp.Open, p.OpenIntervals(from, to)...)
		for _, iv := range pp.Open {
			pp.OpenFor += iv.Len()
		}
		pp.OpenSeconds = pp.OpenFor.Seconds()
		if p.Enabled {
			pp.Expected = p.Expected(from, to)
			if seed != nil {
				pp.Sample = p.Sample(PolicyRand(*seed, p.Name), from, to)
			}
		}
		pl.Policies = append(pl.Policies, pp)
	}
	return pl
}

// PolicyRand is the random source of one policy under a seed.
func PolicyRand(seed int64, policy string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(policy))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
