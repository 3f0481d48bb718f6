// Package crash turns a panic in any goroutine tumult starts into a report
// to whoever can still stop the daemon in order, instead of the end of the
// process with every fault left in place.
//
// Go ends the whole process on a panic that no deferred function of the
// same goroutine recovers, whichever goroutine it happens in. tumult holds
// faults (paused, stopped, killed members) that only its own restore path
// undoes, so every goroutine it starts defers Recover: the panic is
// reported to the installed handlers (the agent's stops itself through its
// normal shutdown, which restores every running fault), and the goroutine
// ends instead of the process.
//
// The handlers are process-wide on purpose: a panic leaves the process in
// a state nobody can vouch for, so every agent in it must stop. This
// package imports nothing of tumult and may be used by every package.
package crash

import (
	"fmt"
	"os"
	"runtime/debug"
	"sync"
)

// Panic is a recovered panic.
type Panic struct {
	// Where names the goroutine, e.g. "scheduler: fault run".
	Where string
	Value any
	Stack []byte
}

func (p Panic) Error() string { return fmt.Sprintf("panic in %s: %v", p.Where, p.Value) }

var (
	mu       sync.Mutex
	handlers = map[int]func(Panic){}
	nextID   int
)

// Handle installs h; every later recovered panic is passed to it (from
// the goroutine that panicked: h must not block for long). The returned
// function removes it.
func Handle(h func(Panic)) (remove func()) {
	mu.Lock()
	defer mu.Unlock()
	id := nextID
	nextID++
	handlers[id] = h
	return func() {
		mu.Lock()
		defer mu.Unlock()
		delete(handlers, id)
	}
}

// Recover, deferred at the top of a goroutine (`defer crash.Recover("…")`,
// directly: recover only works in the deferred function itself), stops a
// panic there and reports it. With no handler installed the panic goes on,
// as if Recover were not there: outside an agent nobody could act on it.
func Recover(where string) {
	v := recover()
	if v == nil {
		return
	}
	report(Panic{Where: where, Value: v, Stack: debug.Stack()})
}

// Go runs fn in a new goroutine that recovers a panic (see Recover).
func Go(where string, fn func()) {
	go func() {
		defer Recover(where)
		fn()
	}()
}

func report(p Panic) {
	mu.Lock()
	hs := make([]func(Panic), 0, len(handlers))
	for _, h := range handlers {
		hs = append(hs, h)
	}
	mu.Unlock()
	if len(hs) == 0 {
		panic(p.Value)
	}
	// The log may be gone (that may be why we are here): say it on stderr
	// too, best effort.
	fmt.Fprintf(os.Stderr, "tumult: %v\n%s\n", p, p.Stack)
	for _, h := range hs {
		h(p)
	}
}
