package crash

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRecoverReportsToEveryHandler(t *testing.T) {
	got := make(chan Panic, 2)
	defer Handle(func(p Panic) { got <- p })()
	defer Handle(func(p Panic) { got <- p })()

	Go("test: worker", func() { panic("boom") })

	for range 2 {
		select {
		case p := <-got:
			require.Equal(t, "test: worker", p.Where)
			require.Equal(t, "boom", p.Value)
			require.Contains(t, string(p.Stack), "crash_test.go")
			require.EqualError(t, p, "panic in test: worker: boom")
		case <-time.After(5 * time.Second):
			t.Fatal("the panic was not reported to both handlers")
		}
	}
}

func TestRecoverWithoutHandlerPanicsOn(t *testing.T) {
	require.PanicsWithValue(t, "boom", func() {
		defer Recover("test")
		panic("boom")
	})
}

func TestRemovedHandlerHearsNothing(t *testing.T) {
	heard := 0
	remove := Handle(func(Panic) { heard++ })
	remove()
	require.Panics(t, func() {
		defer Recover("test")
		panic("boom")
	})
	require.Zero(t, heard)
}

func TestRecoverWithoutPanicIsQuiet(t *testing.T) {
	heard := 0
	defer Handle(func(Panic) { heard++ })()
	func() {
		defer Recover("test")
	}()
	require.Zero(t, heard)
}
