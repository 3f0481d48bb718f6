package docker

import (
	"context"
	"errors"
	"net"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/inferensys/tumult/targets"
)

// classify maps an engine error to the class the scheduler acts on:
//
//   - not found → targets.ErrGone
//   - no connection, timeouts, cancellation, 5xx, "unavailable" and 429 →
//     targets.ErrUnreachable: the engine may be fine a moment later
//   - conflict, forbidden, unauthorized, invalid, not implemented →
//     targets.ErrRefused: asking again will get the same answer
//
// Anything else has no class (nil).
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case cerrdefs.IsNotFound(err):
		return targets.ErrGone
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		client.IsErrConnectionFailed(err),
		cerrdefs.IsUnavailable(err), cerrdefs.IsInternal(err), cerrdefs.IsDeadlineExceeded(err),
		cerrdefs.IsCanceled(err), cerrdefs.IsDataLoss(err), cerrdefs.IsResourceExhausted(err):
		return targets.ErrUnreachable
	case cerrdefs.IsConflict(err), cerrdefs.IsPermissionDenied(err), cerrdefs.IsUnauthorized(err),
		cerrdefs.IsInvalidArgument(err), cerrdefs.IsNotImplemented(err), cerrdefs.IsFailedPrecondition(err),
		cerrdefs.IsAlreadyExists(err):
		return targets.ErrRefused
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		return targets.ErrUnreachable
	}
	return nil
}
