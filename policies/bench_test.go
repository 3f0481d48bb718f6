package policies

import (
	"math/rand/v2"
	"testing"
	"time"
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
