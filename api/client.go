package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/scheduler"
)

// DefaultAddress is where the CLI looks for the daemon when TUMULT_ADDR is
// unset; it is the agent config's default http.address.
const DefaultAddress = "http://127.0.0.1:8742"

// DefaultClientTimeout bounds each call of a Client without its own
// HTTPClient.
const DefaultClientTimeout = 10 * time.Second

// maxAnswer bounds what the client reads of an answer; history is the
// largest and its retention is bounded by the ledger.
const maxAnswer = 64 << 20

// ClientOptions configure NewClient.
type ClientOptions struct {
	// Address is the daemon's base URL (default DefaultAddress). A bare
	// "host:port" means http://host:port.
	Address string
	// Token is sent as "Authorization: Bearer <token>" when set.
	Token string
	// HTTPClient makes the calls (default: one with DefaultClientTimeout).
	HTTPClient *http.Client
}

// Client is the typed Go client of the HTTP API; the CLI uses it.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// NewClient returns a client of the daemon at opts.Address.
func NewClient(opts ClientOptions) (*Client, error) {
	addr := strings.TrimSpace(opts.Address)
	if addr == "" {
		addr = DefaultAddress
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return nil, fmt.Errorf("daemon address %q: %w", opts.Address, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("daemon address %q: scheme must be http or https", opts.Address)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("daemon address %q: no host", opts.Address)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	hc := opts.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultClientTimeout}
	}
	return &Client{base: u, token: opts.Token, http: hc}, nil
}

// Address is the daemon's base URL as the client uses it.
func (c *Client) Address() string { return c.base.String() }

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.Do(ctx, http.MethodGet, "/v1/status", nil, nil, &st)
	return st, err
}

// Pause is POST /v1/pause.
func (c *Client) Pause(ctx context.Context, req PauseRequest) (ledger.Control, error) {
	var ctl ledger.Control
	err := c.Do(ctx, http.MethodPost, "/v1/pause", nil, req, &ctl)
	return ctl, err
}

// Resume is POST /v1/resume.
func (c *Client) Resume(ctx context.Context, req ResumeRequest) (ledger.Control, error) {
	var ctl ledger.Control
	err := c.Do(ctx, http.MethodPost, "/v1/resume", nil, req, &ctl)
	return ctl, err
}

// Halt is POST /v1/halt.
func (c *Client) Halt(ctx context.Context, req HaltRequest) (ledger.Control, error) {
	var ctl ledger.Control
	err := c.Do(ctx, http.MethodPost, "/v1/halt", nil, req, &ctl)
	return ctl, err
}

// Faults is GET /v1/faults: the active fault records.
func (c *Client) Faults(ctx context.Context) ([]ledger.Record, error) {
	var recs []ledger.Record
	err := c.Do(ctx, http.MethodGet, "/v1/faults", nil, nil, &recs)
	return recs, err
}

// History is GET /v1/history: finished records, newest first, of the last
// since (0: all kept), of one policy (empty: all), at most limit (0: no
// cap).
func (c *Client) History(ctx context.Context, since time.Duration, policy string, limit int) ([]ledger.Record, error) {
	var recs []ledger.Record
	err := c.Do(ctx, http.MethodGet, "/v1/history", HistoryParams(since, policy, limit), nil, &recs)
	return recs, err
}

// HistoryParams is the query of GET /v1/history.
func HistoryParams(since time.Duration, policy string, limit int) url.Values {
	q := url.Values{}
	if since > 0 {
		q.Set("since", policies.FormatDuration(since))
	}
	if policy != "" {
		q.Set("policy", policy)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}

// Plan is GET /v1/plan?hours=N.
func (c *Client) Plan(ctx context.Context, hours int) (scheduler.Plan, error) {
	var p scheduler.Plan
	err := c.Do(ctx, http.MethodGet, "/v1/plan", url.Values{"hours": {strconv.Itoa(hours)}}, nil, &p)
	return p, err
}

// Reload is POST /v1/reload.
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	err := c.Do(ctx, http.MethodPost, "/v1/reload", nil, nil, &res)
	return res, err
}

// Health is GET /v1/health; nil when the daemon answers it.
func (c *Client) Health(ctx context.Context) error {
	var h struct {
		Status string `json:"status"`
	}
	if err := c.Do(ctx, http.MethodGet, "/v1/health", nil, nil, &h); err != nil {
		return err
	}
	if h.Status != "ok" {
		return fmt.Errorf("health of %s: status %q", c.base, h.Status)
	}
	return nil
}

// Do calls the API: method on path with query, in (when not nil) as the
// JSON body, and the answer decoded into out (when not nil; a
// *json.RawMessage keeps it as sent). Errors are *APIError for error
// answers (errors.Is ErrUnauthorized on 401 and 403),
// *UnreachableError (errors.Is ErrDaemonUnreachable) when no answer came,
// and the context's error when ctx ended first.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return &UnreachableError{Address: c.base.String(), Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: read answer: %w", method, path, ctx.Err())
		}
		return &UnreachableError{Address: c.base.String(), Err: fmt.Errorf("read answer: %w", err)}
	}
	if len(data) > maxAnswer {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, path, maxAnswer)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return answerError(resp, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer from %s: %w (%w)", method, path, c.base, err, ErrNotTumult)
	}
	return nil
}

// answerError makes an *APIError of an error answer, JSON from tumult or
// whatever a proxy in between sent.
func answerError(resp *http.Response, data []byte) error {
	var eb ErrorBody
	if err := json.Unmarshal(data, &eb); err == nil && eb.Error != "" {
		return &APIError{Status: resp.StatusCode, Message: eb.Error}
	}
	msg := http.StatusText(resp.StatusCode)
	if snippet := strings.Join(strings.Fields(string(data)), " "); snippet != "" {
		if r := []rune(snippet); len(r) > 120 {
			snippet = string(r[:120]) + "…"
		}
		msg += ": " + snippet
	}
	return &APIError{Status: resp.StatusCode, Message: msg + " (not a JSON answer; is it a tumult daemon?)", NotJSON: true}
}
