package policies

import (
	"testing"
	"time"
)

// BenchmarkOpenAtDenseLong asks whether a window opening every minute for
// a day is open: the answer must not walk the day's 1,440 openings.
func BenchmarkOpenAtDenseLong(b *testing.B) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		b.Fatal(err)
	}
	w, err := NewWindow("* * * * *", 24*time.Hour, berlin)
	if err != nil {
		b.Fatal(err)
	}
	p := &Policy{Windows: []Window{w}}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if !p.OpenAt(testNow.Add(time.Duration(i) * time.Minute)) {
			b.Fatal("closed")
		}
	}
}
