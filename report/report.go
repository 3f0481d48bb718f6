package report

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/inferensys/tumult/ledger"
)

// Options say what a report covers.
type Options struct {
	// From and To bound the report: records finished and control
	// transitions made in [From, To). To is required; a zero From means
	// everything kept.
	From, To time.Time
	// Policy limits the report to one policy (its records, its own halts
	// and the global ones); empty means every policy.
	Policy string
	// TopSkips is how many skip reasons to list (default 10).
	TopSkips int
}

// Report is what a fleet's experiments showed over a span of time. Every
// duration is in seconds, so that scripts read it without parsing Go
// durations.
type Report struct {
	From   time.Time `json:"from,omitzero"`
	To     time.Time `json:"to"`
	Policy string    `json:"policy,omitempty"`
	// Totals sums every policy.
	Totals Counts `json:"totals"`
	// Policies is one entry per policy that has records, by name.
	Policies []Policy `json:"policies"`
	// Recovery is time to recover per fault kind, over every policy.
	Recovery []KindRecovery `json:"recovery"`
	// Halts are the transitions to halted, oldest first.
	Halts []Halt `json:"halts"`
	// HaltSources counts halts by what tripped them (the guardian source,
	// or "cli"/"api" for a person).
	HaltSources []Reason `json:"halt_sources"`
	// SkipReasons are the most frequent reasons faults were skipped.
	SkipReasons []Reason `json:"skip_reasons"`
	// Timeline buckets experiments and halts over [From, To).
	Timeline Timeline `json:"timeline"`
}

// Counts tallies decisions by how they ended.
type Counts struct {
	// Run counts experiments: faults injected (or whose injection was
	// attempted), whatever their end. Dry runs are not counted here.
	Run    int `json:"run"`
	Passed int `json:"passed"`
	Failed int `json:"failed"`
	// Restored: ended early by a halt, a pause with restore, or a stop.
	Restored int `json:"restored"`
	Errors   int `json:"errors"`
	Aborted  int `json:"aborted"`
	Skipped  int `json:"skipped"`
	// DryRuns are decisions of dry-run policies: nothing was injected.
	DryRuns int `json:"dry_runs"`
	// Manual counts experiments asked for by a person (tumult inject).
	Manual int `json:"manual"`
}

// Policy is the report of one policy.
type Policy struct {
	Name string `json:"name"`
	// Kinds are the fault kinds its records used (one, unless the policy
	// changed).
	Kinds  []string `json:"kinds"`
	Counts Counts   `json:"counts"`
	// Failures are its failed experiments, newest first.
	Failures []Failure `json:"failures"`
	// ToHealthy is injection → member healthy again; ToSteady injection →
	// member healthy and steady state in bounds (empty without a steady
	// state).
	ToHealthy Stats `json:"to_healthy"`
	ToSteady  Stats `json:"to_steady"`
	// Samples are the ToHealthy times in seconds, in record order, for
	// plots.
	Samples     []float64 `json:"samples"`
	SkipReasons []Reason  `json:"skip_reasons"`
}

// Failure is one failed experiment.
type Failure struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Member string    `json:"member"`
	Reason string    `json:"reason"`
}

// Stats summarise times to recover, in seconds.
type Stats struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_seconds"`
	P95 float64 `json:"p95_seconds"`
	Max float64 `json:"max_seconds"`
}

// KindRecovery is time to recover for one fault kind.
type KindRecovery struct {
	Kind      string `json:"kind"`
	ToHealthy Stats  `json:"to_healthy"`
	ToSteady  Stats  `json:"to_steady"`
	// NotRecovered counts failed experiments of the kind: their member or
	// steady state never came back within recover_within.
	NotRecovered int `json:"not_recovered"`
}

// Halt is one transition to halted.
type Halt struct {
	At time.Time `json:"at"`
	// Policy is the halted policy; empty for a global halt.
	Policy string `json:"policy,omitempty"`
	Actor  string `json:"actor"`
	Source string `json:"source"`
	Reason string `json:"reason"`
	// Seconds is how long the halt held (to To when it still holds).
	Seconds float64 `json:"seconds"`
	// Ongoing is true when the halt still held at To.
	Ongoing bool `json:"ongoing"`
}

// Reason is a reason and how often it was given. Reasons that differ only
// in their details after the first ": " (counts, values) are grouped; the
// newest full text is kept as the example.
type Reason struct {
	Reason  string `json:"reason"`
	Count   int    `json:"count"`
	Example string `json:"example,omitempty"`
}

// Timeline buckets experiments and halts over time.
type Timeline struct {
	// Step is each bucket's length in seconds.
	Step    float64  `json:"step_seconds"`
	Buckets []Bucket `json:"buckets"`
}

// Bucket is one span of the timeline.
type Bucket struct {
	Start time.Time `json:"start"`
	// Passed and Failed count experiments that finished in the bucket;
	// Other the rest of the experiments (restored, errors, aborted).
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Other   int `json:"other"`
	Skipped int `json:"skipped"`
	Halts   int `json:"halts"`
}

// Make computes the report of the history records (finished records, in
// any order) and the control journal. Records and transitions outside
// [From, To), and of other policies when opts.Policy is set, are left out.
// It returns an error only for options that make no sense.
func Make(history []ledger.Record, changes []ledger.ControlChange, opts Options) (Report, error) {
	if opts.To.IsZero() {
		return Report{}, errors.New("report: the end of the span (To) is required")
	}
	if !opts.From.IsZero() && !opts.From.Before(opts.To) {
		return Report{}, errors.New("report: the span is empty: From is not before To")
	}
	if opts.TopSkips <= 0 {
		opts.TopSkips = 10
	}
	in := func(t time.Time) bool {
		return (opts.From.IsZero() || !t.Before(opts.From)) && t.Before(opts.To)
	}
	var recs []ledger.Record
	for _, r := range history {
		if r.Phase != ledger.Finished || !in(r.Finished) || (opts.Policy != "" && r.Policy != opts.Policy) {
			continue
		}
		recs = append(recs, r)
	}
	// Oldest first, so that samples and timelines read in time order.
	slices.SortFunc(recs, func(a, b ledger.Record) int {
		return cmp.Or(a.Finished.Compare(b.Finished), cmp.Compare(a.ID, b.ID))
	})

	rep := Report{From: opts.From, To: opts.To, Policy: opts.Policy,
		Policies: []Policy{}, Recovery: []KindRecovery{}, Halts: []Halt{}, HaltSources: []Reason{}, SkipReasons: []Reason{}}
	byName := map[string]*policyAcc{}
	byKind := map[string]*kindAcc{}
	allSkips := newReasons()
	for _, r := range recs {
		pa := byName[r.Policy]
		if pa == nil {
			pa = &policyAcc{p: Policy{Name: r.Policy, Failures: []Failure{}, Samples: []float64{}}, skips: newReasons()}
			byName[r.Policy] = pa
		}
		count(&pa.p.Counts, r)
		count(&rep.Totals, r)
		if r.Result == ledger.Skipped {
			pa.skips.add(r.Reason)
			allSkips.add(r.Reason)
			continue
		}
		if r.DryRun {
			continue
		}
		kind := string(r.Fault.Kind)
		if kind != "" && !slices.Contains(pa.p.Kinds, kind) {
			pa.p.Kinds = append(pa.p.Kinds, kind)
		}
		ka := byKind[kind]
		if ka == nil {
			ka = &kindAcc{}
			byKind[kind] = ka
		}
		if r.Result == ledger.Failed {
			pa.p.Failures = append(pa.p.Failures, Failure{ID: r.ID, At: r.Finished, Member: r.Member.Short(), Reason: r.Reason})
			ka.notRecovered++
		}
		if r.Injected.IsZero() {
			continue
		}
		if !r.HealthyAt.IsZero() {
			s := r.HealthyAt.Sub(r.Injected).Seconds()
			pa.healthy = append(pa.healthy, s)
			pa.p.Samples = append(pa.p.Samples, s)
			ka.healthy = append(ka.healthy, s)
		}
		if !r.SteadyAt.IsZero() {
			s := r.SteadyAt.Sub(r.Injected).Seconds()
			pa.steady = append(pa.steady, s)
			ka.steady = append(ka.steady, s)
		}
	}
	for _, name := range sortedKeys(byName) {
		pa := byName[name]
		pa.p.ToHealthy, pa.p.ToSteady = stats(pa.healthy), stats(pa.steady)
		pa.p.SkipReasons = pa.skips.top(opts.TopSkips)
		if pa.p.Kinds == nil {
			pa.p.Kinds = []string{}
		}
		slices.Reverse(pa.p.Failures)
		rep.Policies = append(rep.Policies, pa.p)
	}
	for _, kind := range sortedKeys(byKind) {
		ka := byKind[kind]
		rep.Recovery = append(rep.Recovery, KindRecovery{Kind: kind, ToHealthy: stats(ka.healthy), ToSteady: stats(ka.steady), NotRecovered: ka.notRecovered})
	}
	rep.SkipReasons = allSkips.top(opts.TopSkips)
	rep.Halts = halts(changes, opts, in)
	sources := newReasons()
	for _, h := range rep.Halts {
		sources.addKey(cmp.Or(h.Source, h.Actor, "unknown"), h.Reason)
	}
	rep.HaltSources = sources.top(len(rep.Halts))
	rep.Timeline = timeline(recs, rep.Halts, opts)
	return rep, nil
}

type policyAcc struct {
	p               Policy
	healthy, steady []float64
	skips           *reasons
}

type kindAcc struct {
	healthy, steady []float64
	notRecovered    int
}

func count(c *Counts, r ledger.Record) {
	if r.Result == ledger.Skipped {
		c.Skipped++
		return
	}
	if r.DryRun {
		c.DryRuns++
		return
	}
	c.Run++
	if r.Actor != "" && r.Actor != "scheduler" {
		c.Manual++
	}
	switch r.Result {
	case ledger.Passed:
		c.Passed++
	case ledger.Failed:
		c.Failed++
	case ledger.Restored:
		c.Restored++
	case ledger.Error:
		c.Errors++
	case ledger.Aborted:
		c.Aborted++
	}
}

// stats computes nearest-rank percentiles: the p-th percentile is a time
// some experiment really took, never an interpolation between two.
func stats(xs []float64) Stats {
	if len(xs) == 0 {
		return Stats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return Stats{N: len(s), P50: rank(0.50), P95: rank(0.95), Max: s[len(s)-1]}
}

// halts finds the transitions to halted in the journal, and how long each
// held: until the next transition of the same scope away from halted.
func halts(changes []ledger.ControlChange, opts Options, in func(time.Time) bool) []Halt {
	cs := slices.Clone(changes)
	slices.SortStableFunc(cs, func(a, b ledger.ControlChange) int { return a.At.Compare(b.At) })
	out := []Halt{}
	for i, c := range cs {
		if c.To != ledger.Halted || c.From == ledger.Halted || !in(c.At) {
			continue
		}
		if opts.Policy != "" && c.Policy != "" && c.Policy != opts.Policy {
			continue
		}
		h := Halt{At: c.At, Policy: c.Policy, Actor: c.Actor, Source: c.Source, Reason: c.Reason, Ongoing: true}
		end := opts.To
		for _, n := range cs[i+1:] {
			if n.Policy == c.Policy && n.To != ledger.Halted {
				end, h.Ongoing = n.At, false
				break
			}
		}
		if end.After(opts.To) {
			end, h.Ongoing = opts.To, true
		}
		h.Seconds = end.Sub(c.At).Seconds()
		out = append(out, h)
	}
	return out
}

// steps are the bucket lengths a timeline picks from: the shortest that
// gives at most maxBuckets buckets.
var steps = []time.Duration{
	time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour,
	24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour,
}

const maxBuckets = 60

func timeline(recs []ledger.Record, hs []Halt, opts Options) Timeline {
	from := opts.From
	if from.IsZero() {
		// Everything kept: start at the oldest thing in the report.
		from = opts.To
		for _, r := range recs {
			if r.Finished.Before(from) {
				from = r.Finished
			}
		}
		for _, h := range hs {
			if h.At.Before(from) {
				from = h.At
			}
		}
	}
	span := opts.To.Sub(from)
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span <= time.Duration(maxBuckets)*s {
			step = s
			break
		}
	}
	start := from.Truncate(step)
	n := int(opts.To.Sub(start)/step) + 1
	if !start.Add(time.Duration(n-1) * step).Before(opts.To) {
		n--
	}
	n = max(n, 1)
	tl := Timeline{Step: step.Seconds(), Buckets: make([]Bucket, n)}
	for i := range tl.Buckets {
		tl.Buckets[i].Start = start.Add(time.Duration(i) * step)
	}
	at := func(t time.Time) *Bucket {
		i := int(t.Sub(start) / step)
		if i < 0 || i >= n {
			return nil
		}
		return &tl.Buckets[i]
	}
	for _, r := range recs {
		b := at(r.Finished)
		if b == nil {
			continue
		}
		switch {
		case r.Result == ledger.Skipped:
			b.Skipped++
		case r.DryRun:
		case r.Result == ledger.Passed:
			b.Passed++
		case r.Result == ledger.Failed:
			b.Failed++
		default:
			b.Other++
		}
	}
	for _, h := range hs {
		if b := at(h.At); b != nil {
			b.Halts++
		}
	}
	return tl
}

// reasons groups reasons by their head, the text before the first ": ".
type reasons struct {
	count   map[string]int
	example map[string]string
	order   []string
}

func newReasons() *reasons {
	return &reasons{count: map[string]int{}, example: map[string]string{}}
}

func (rs *reasons) add(reason string) {
	head, _, _ := strings.Cut(reason, ": ")
	rs.addKey(head, reason)
}

func (rs *reasons) addKey(key, example string) {
	if key == "" {
		key = "(no reason)"
	}
	if _, ok := rs.count[key]; !ok {
		rs.order = append(rs.order, key)
	}
	rs.count[key]++
	rs.example[key] = example
}

// top returns the n most frequent, ties in the order first seen.
func (rs *reasons) top(n int) []Reason {
	out := make([]Reason, 0, len(rs.order))
	for _, k := range rs.order {
		ex := rs.example[k]
		if ex == k {
			ex = ""
		}
		out = append(out, Reason{Reason: k, Count: rs.count[k], Example: ex})
	}
	slices.SortStableFunc(out, func(a, b Reason) int { return cmp.Compare(b.Count, a.Count) })
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
