package policies

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
)

func benchPolicy(b *testing.B) *Policy {
	b.Helper()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	w1, _ := NewWindow("0 9 * * MON-FRI", 8*time.Hour, berlin)
	w2, _ := NewWindow("*/15 * * * *", 5*time.Minute, berlin)
	return &Policy{
		Windows: []Window{w1, w2},
		Freezes: []Freeze{{From: testNow.Add(48 * time.Hour), To: testNow.Add(72 * time.Hour)}},
		Every:   Cadence{Mean: 10 * time.Minute, Min: time.Minute},
		Limits:  Limits{MaxPerDay: 50},
	}
}

// BenchmarkOpenAt is the check the scheduler makes before each decision.
func BenchmarkOpenAt(b *testing.B) {
	p := benchPolicy(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.OpenAt(testNow.Add(time.Duration(i) * time.Minute))
	}
}

// BenchmarkNextArrival draws the next fault time of a policy.
func BenchmarkNextArrival(b *testing.B) {
	p := benchPolicy(b)
	a := NewArrivals(p, rand.New(rand.NewPCG(1, 2)))
	t := testNow
	b.ReportAllocs()
	for b.Loop() {
		next, ok := a.Next(t, t.Add(30*24*time.Hour))
		if !ok {
			b.Fatal("no arrival")
		}
		t = next
	}
}

// BenchmarkWeekPlan computes a week of windows, expectation and a sample.
func BenchmarkWeekPlan(b *testing.B) {
	p := benchPolicy(b)
	b.ReportAllocs()
	for b.Loop() {
		p.OpenIntervals(testNow, testNow.Add(7*24*time.Hour))
		p.Expected(testNow, testNow.Add(7*24*time.Hour))
		p.Sample(rand.New(rand.NewPCG(1, 2)), testNow, testNow.Add(7*24*time.Hour))
	}
}

// validateFloor is how long checking 100 policies whose windows open
// every minute may take: the agent checks every policy before it starts,
// so this is time the API is down after a crash.
const validateFloor = time.Second

// BenchmarkValidate100Minutely checks 100 policies whose windows open
// every minute (each across its zone's clock changes) and reports the
// time per 100 next to the floor. Checking must cost what it costs for a
// daily window: nothing may build a year of openings.
func BenchmarkValidate100Minutely(b *testing.B) {
	zones := []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Europe/Dublin", "America/Santiago"}
	var src strings.Builder
	for i := range 100 {
		fmt.Fprintf(&src, "policy \"minutely-%d\" {\n  target \"docker\" {\n    labels = { \"app\" = \"api-%d\" }\n  }\n  fault \"kill\" {}\n"+
			"  window {\n    cron     = \"* * * * *\"\n    duration = \"1m\"\n    timezone = %q\n  }\n"+
			"  freeze {\n    from = \"2027-01-01T00:00:00Z\"\n    to   = \"2027-02-01T00:00:00Z\"\n  }\n"+
			"  every {\n    mean = \"20s\"\n  }\n}\n", i, i, zones[i%len(zones)])
	}
	b.ReportAllocs()
	var ps []*Policy
	for b.Loop() {
		var ds hcl.Diagnostics
		ps, ds = ParsePolicies([]byte(src.String()), "minutely.hcl", LoadOptions{Now: testNow})
		if ds.HasErrors() {
			b.Fatal(ds.Error())
		}
	}
	if len(ps) != 100 {
		b.Fatalf("%d policies, want 100", len(ps))
	}
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per)/float64(time.Millisecond), "ms/100-policies")
	b.ReportMetric(float64(validateFloor)/float64(time.Millisecond), "floor-ms")
}
