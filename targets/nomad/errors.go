package nomad

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"

	"github.com/hashicorp/nomad/api"

	"github.com/inferensys/tumult/targets"
)

// fail wraps err so that it says which cluster and what was being done.
func (t *Target) fail(op string, class, err error) error {
	return &targets.Error{Driver: "nomad", Endpoint: t.opts.Name, Op: op, Class: class, Err: err}
}

// describe names what is done to a member the way people read it in
// `nomad alloc status`: "stop allocation web.api[0] (4f1c0a9e)".
func describe(verb string, m targets.Member) string {
	if m.Name == "" {
		return fmt.Sprintf("%s allocation %s", verb, shortID(m.ID))
	}
	return fmt.Sprintf("%s allocation %s (%s)", verb, m.Name, shortID(m.ID))
}

// shortID is Nomad's 8-character allocation prefix.
func shortID(id string) string { return targets.Abbrev(id, 8) }

// classify maps what the API client returned to a targets error class:
// 404 is gone, other refusals (400, 403, 409, …) are refused, 5xx and
// transport failures are unreachable. A cancelled context has no class:
// the caller stopped waiting, the cluster did nothing wrong.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if code, ok := statusCode(err); ok {
		switch {
		case code == http.StatusNotFound:
			return targets.ErrGone
		case code == http.StatusTooManyRequests || code >= 500:
			return targets.ErrUnreachable
		case code >= 400:
			return targets.ErrRefused
		}
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled):
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return targets.ErrUnreachable
	}
	var netErr net.Error
	var urlErr *url.Error
	if errors.As(err, &netErr) || errors.As(err, &urlErr) {
		return targets.ErrUnreachable
	}
	return nil
}

func statusCode(err error) (int, bool) {
	var v api.UnexpectedResponseError
	if errors.As(err, &v) && v.HasStatusCode() {
		return v.StatusCode(), true
	}
	var p *api.UnexpectedResponseError
	if errors.As(err, &p) && p != nil && p.HasStatusCode() {
		return p.StatusCode(), true
	}
	return 0, false
}
