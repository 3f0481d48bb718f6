package targets

import (
	"errors"
	"fmt"
)

// Error classes. Drivers wrap their errors in *Error with one of these as
// Class, so callers can tell them apart with errors.Is.
var (
	// ErrGone: the member no longer exists.
	ErrGone = errors.New("member gone")
	// ErrUnreachable: the endpoint did not answer (network, timeout, 5xx).
	ErrUnreachable = errors.New("endpoint unreachable")
	// ErrRefused: the endpoint answered no (permission, conflict, invalid).
	ErrRefused = errors.New("refused")
)

// Error is a driver error that says where it happened.
type Error struct {
	Driver   string // "docker", "nomad"
	Endpoint string // the config block's label
	Op       string // "pause container checkout-2 (4f1c0a9e2b3d)"
	Class    error  // ErrGone, ErrUnreachable, ErrRefused or nil
	Err      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s endpoint %q: %s: %v", e.Driver, e.Endpoint, e.Op, e.Err)
}

// Unwrap exposes both the class and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Class == nil {
		return []error{e.Err}
	}
	return []error{e.Class, e.Err}
}
