package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Error classes a Service wraps with %w so that the HTTP API answers with a
// fitting status code; anything else is a 500. The client maps the codes
// back, so errors.Is(err, ErrNotFound) holds on both sides of the wire.
var (
	// ErrBadRequest: the request is wrong (400), e.g. a bad duration.
	ErrBadRequest = errors.New("bad request")
	// ErrNotFound: the request names something that does not exist (404),
	// e.g. an unknown policy.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request clashes with the current state (409), e.g.
	// resuming what is not paused, or a concurrent change.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the agent cannot serve the request now (503), e.g. it
	// is not the leader or the ledger cannot be reached.
	ErrUnavailable = errors.New("unavailable")
)

// Errors of the client, to tell with errors.Is.
var (
	// ErrDaemonUnreachable: no HTTP answer came from the daemon (connection
	// refused, DNS failure, timeout).
	ErrDaemonUnreachable = errors.New("tumult daemon unreachable")
	// ErrUnauthorized: the daemon answered 401 (no token) or 403 (token
	// refused).
	ErrUnauthorized = errors.New("token refused")
	// ErrNotTumult: an answer came, but not tumult's JSON: another server
	// at the address, or the error page of a proxy in front of tumult.
	ErrNotTumult = errors.New("not an answer of a tumult daemon")
)

// APIError is an error answer of the HTTP API.
type APIError struct {
	// Status is the HTTP status code.
	Status int
	// Message is the "error" field of the JSON answer, or a description of
	// a non-JSON answer.
	Message string
	// NotJSON says the answer was not tumult's JSON error body (see
	// ErrNotTumult).
	NotJSON bool
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// Is makes errors.Is(err, ErrUnauthorized), ErrNotFound and the other
// classes work on answers of the API.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotTumult:
		return e.NotJSON
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrBadRequest:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusRequestEntityTooLarge
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrUnavailable:
		return e.Status == http.StatusServiceUnavailable
	}
	return false
}

// UnreachableError is a request that got no HTTP answer. It matches
// ErrDaemonUnreachable.
type UnreachableError struct {
	// Address is the daemon's base URL.
	Address string
	Err     error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach the tumult daemon at %s: %s", e.Address, e.Cause())
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrDaemonUnreachable) true.
func (e *UnreachableError) Is(target error) bool { return target == ErrDaemonUnreachable }

// Cause is the innermost reason in a few words ("connection refused",
// "timed out"), without the URL and dial details that net/http adds.
func (e *UnreachableError) Cause() string {
	var t interface{ Timeout() bool }
	if errors.As(e.Err, &t) && t.Timeout() {
		return "timed out"
	}
	err := e.Err
	for {
		next := errors.Unwrap(err)
		if next == nil {
			break
		}
		err = next
	}
	if err == nil {
		return "no answer"
	}
	// Keep it on one line whatever the cause says.
	return strings.Join(strings.Fields(err.Error()), " ")
}

// ErrorBody is every error answer of the API: {"error": "…"}.
type ErrorBody struct {
	Error string `json:"error"`
}
