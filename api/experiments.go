package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/report"
)

// InjectRequest is the body of POST /v1/inject.
type InjectRequest struct {
	Policy string `json:"policy"`
	// Member is a container or allocation ID, a unique ID prefix, or a
	// name; empty: one eligible member chosen at random.
	Member string `json:"member,omitempty"`
	Reason string `json:"reason"`
}

// DefaultReportSince is the span of GET /v1/report without ?since.
const DefaultReportSince = 7 * 24 * time.Hour

// ReportQuery is the query of GET /v1/report, parsed.
type ReportQuery struct {
	// Since is how far back the report looks (DefaultReportSince when 0).
	Since time.Duration
	// Policy limits the report to one policy; empty: all.
	Policy string
}

// Inject is POST /v1/inject: one experiment now. A gate's refusal is an
// *APIError matching ErrConflict, its message the gate's reason.
func (c *Client) Inject(ctx context.Context, req InjectRequest) (ledger.Record, error) {
	var rec ledger.Record
	err := c.Do(ctx, http.MethodPost, "/v1/inject", nil, req, &rec)
	return rec, err
}

// Report is GET /v1/report of the last since (0: the server's default, 7
// days), of one policy (empty: all).
func (c *Client) Report(ctx context.Context, since time.Duration, policy string) (report.Report, error) {
	var r report.Report
	err := c.Do(ctx, http.MethodGet, "/v1/report", ReportParams(since, policy), nil, &r)
	return r, err
}

// ReportParams is the query of GET /v1/report.
func ReportParams(since time.Duration, policy string) url.Values {
	q := url.Values{}
	if since > 0 {
		q.Set("since", policies.FormatDuration(since))
	}
	if policy != "" {
		q.Set("policy", policy)
	}
	return q
}
