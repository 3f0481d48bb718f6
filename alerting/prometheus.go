package alerting

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Errors of a query whose answer is not one number. Test with errors.Is;
// the error also carries the source and the query (see QueryError).
var (
	// ErrNoData: the query returned no series, e.g. a metric that does not
	// exist (yet) or a selector that matches nothing.
	ErrNoData = errors.New("no data")
	// ErrNaN: the value is NaN or an infinity, e.g. an error ratio of a
	// service that had no requests in the window (0/0).
	ErrNaN = errors.New("value is not a finite number")
	// ErrMultipleSeries: the query returned more than one series, so there
	// is no single value to compare; aggregate it (sum, max) in the query.
	ErrMultipleSeries = errors.New("more than one series")
	// ErrUnexpectedType: the query returned a range vector or a string.
	ErrUnexpectedType = errors.New("result is neither an instant vector nor a scalar")
)

// QueryError is the error of one query on one Prometheus source.
type QueryError struct {
	Source string
	Query  string
	Err    error
}

func (e *QueryError) Error() string {
	return fmt.Sprintf("prometheus %q: query %s: %v", e.Source, e.Query, e.Err)
}

func (e *QueryError) Unwrap() error { return e.Err }

// PrometheusOptions configure a Prometheus source.
type PrometheusOptions struct {
	// Name is the prometheus block's label; it appears in every error.
	Name string
	// Address is the base URL, e.g. http://127.0.0.1:9090.
	Address string
	// HTTPClient defaults to a client with DefaultHTTPTimeout.
	HTTPClient *http.Client
	Logger     hclog.Logger
	// Now defaults to time.Now; it is read when a query is given a zero
	// evaluation time.
	Now func() time.Time
}

// Prometheus runs instant queries against one Prometheus server.
type Prometheus struct {
	name    string
	address string
	api     promv1.API
	log     hclog.Logger
	now     func() time.Time
}

// NewPrometheus checks the options and builds the client. It does not
// contact Prometheus.
func NewPrometheus(opts PrometheusOptions) (*Prometheus, error) {
	src, err := newSource("prometheus", opts.Name, opts.Address, opts.HTTPClient, opts.Logger, opts.Now)
	if err != nil {
		return nil, err
	}
	u := src.url
	c, err := promapi.NewClient(promapi.Config{Address: u.String(), Client: src.http})
	if err != nil {
		return nil, fmt.Errorf("prometheus %q: client for %s: %w", opts.Name, u, err)
	}
	return &Prometheus{
		name:    opts.Name,
		address: u.String(),
		api:     promv1.NewAPI(c),
		log:     src.log,
		now:     src.now,
	}, nil
}

// Name is the source's name from the agent config.
func (p *Prometheus) Name() string { return p.name }

// Address is the base URL the source talks to.
func (p *Prometheus) Address() string { return p.address }

// Query evaluates q at the instant at (now when at is zero) and returns its
// single value. Every answer that is not exactly one finite number is an
// error: a failed query, no series (ErrNoData), several series
// (ErrMultipleSeries), NaN or an infinity (ErrNaN). Errors are *QueryError.
func (p *Prometheus) Query(ctx context.Context, q string, at time.Time) (float64, error) {
	if at.IsZero() {
		at = p.now()
	}
	v, warnings, _, err := p.api.Query(ctx, q, at)
	if err != nil {
		// The client keeps the body of an unexpected answer (a proxy's
		// error page, a 500) out of its message; it is what tells an
		// operator what went wrong.
		var pe *promv1.Error
		if errors.As(err, &pe) && strings.TrimSpace(pe.Detail) != "" {
			err = fmt.Errorf("%w: %s", err, clip(strings.TrimSpace(pe.Detail), 200))
		}
		return 0, &QueryError{Source: p.name, Query: q, Err: err}
	}
	if len(warnings) > 0 {
		p.log.Warn("query returned warnings", "query", q, "warnings", strings.Join(warnings, "; "))
	}
	f, err := singleValue(v)
	if err != nil {
		return 0, &QueryError{Source: p.name, Query: q, Err: err}
	}
	p.log.Trace("query", "query", q, "value", f)
	return f, nil
}

func singleValue(v model.Value) (float64, error) {
	var f float64
	switch r := v.(type) {
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, ErrNoData
		case 1:
			f = float64(r[0].Value)
		default:
			return 0, fmt.Errorf("%w: %d series, e.g. %s and %s", ErrMultipleSeries, len(r), r[0].Metric, r[1].Metric)
		}
	case *model.Scalar:
		f = float64(r.Value)
	case nil:
		return 0, ErrNoData
	default:
		return 0, fmt.Errorf("%w: got %s", ErrUnexpectedType, v.Type())
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%w: %v", ErrNaN, f)
	}
	return f, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
