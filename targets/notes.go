package targets

import (
	"context"
	"sync"
)

// Notes carry what a driver wants recorded about an injection beyond
// success or failure: which kernel mechanism a network fault used. The
// caller puts them in the context of Inject (WithNotes) and reads them
// afterwards; drivers that have nothing to say ignore them. A context
// value keeps the Target interface unchanged for the drivers that never
// note anything.
type Notes struct {
	mu        sync.Mutex
	mechanism string
}

type notesKey struct{}

// WithNotes returns ctx carrying fresh Notes.
func WithNotes(ctx context.Context) (context.Context, *Notes) {
	n := &Notes{}
	return context.WithValue(ctx, notesKey{}, n), n
}

// NoteMechanism records how a fault was put in place ("netfilter",
// "netem", "cgroup"). Without Notes in ctx it does nothing.
func NoteMechanism(ctx context.Context, mechanism string) {
	if n, ok := ctx.Value(notesKey{}).(*Notes); ok {
		n.mu.Lock()
		n.mechanism = mechanism
		n.mu.Unlock()
	}
}

// Mechanism is what the driver noted, or "".
func (n *Notes) Mechanism() string {
	if n == nil {
		return ""
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mechanism
}
