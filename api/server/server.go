package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/inferensys/tumult/alerting"
	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/console"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
)

// DefaultMaxBody bounds the JSON bodies of pause, resume and halt.
const DefaultMaxBody = 1 << 20

// MaxPlanHours is the longest plan GET /v1/plan computes (90 days), as in
// `tumult plan`.
const MaxPlanHours = 2160

// AnonymousActor is the actor of every call when the API runs without a
// tokens file.
const AnonymousActor = "anonymous"

// Options configure New.
type Options struct {
	// Service answers the calls. Required.
	Service Service
	// Tokens, when set, are required on every /v1 call except
	// /v1/health, reads included: status and history tell an attacker
	// which members are down and when the guardian is blind. The token's
	// name is the actor passed to the Service. Nil: no authentication,
	// every actor is "anonymous".
	Tokens *Tokens
	// Gatherer is served on /metrics (prometheus.DefaultGatherer when nil).
	Gatherer prometheus.Gatherer
	// Logger logs every mutating call with actor, path and status.
	Logger hclog.Logger
	// MaxBody bounds request bodies of pause, resume and halt (default
	// DefaultMaxBody); larger ones get 413.
	MaxBody int64
	// WebhookMaxBody bounds Alertmanager webhook deliveries (default
	// alerting.DefaultWebhookMaxBytes). It is larger than MaxBody because
	// an alert storm, exactly when the guardian must hear it, makes the
	// biggest payloads.
	WebhookMaxBody int64
	// Now is the clock that relative history queries (?since=24h) count
	// back from (time.Now when nil).
	Now func() time.Time
	// RefusedLogInterval is how long refused calls after a logged one are
	// counted into one line instead of logged each (default
	// DefaultRefusedLogInterval).
	RefusedLogInterval time.Duration
}

// apiServer is the HTTP API that the README's "HTTP API" section lists.
type apiServer struct {
	svc     Service
	tokens  *Tokens
	log     hclog.Logger
	maxBody int64
	whMax   int64
	now     func() time.Time
	refused *refusedLog
}

// New returns the HTTP API of the agent: the /v1 endpoints, /metrics
// and /v1/health. Every error answer is JSON {"error": "…"}. Unsafe
// cross-origin browser requests are refused (403), so that a web page open
// on an on-call laptop cannot resume chaos against a daemon without tokens.
func New(opts Options) http.Handler {
	s := &apiServer{
		svc:     opts.Service,
		tokens:  opts.Tokens,
		log:     opts.Logger,
		maxBody: opts.MaxBody,
		whMax:   opts.WebhookMaxBody,
		now:     opts.Now,
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBody
	}
	if s.whMax <= 0 {
		s.whMax = alerting.DefaultWebhookMaxBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	if opts.RefusedLogInterval <= 0 {
		opts.RefusedLogInterval = DefaultRefusedLogInterval
	}
	s.refused = &refusedLog{log: s.log, interval: opts.RefusedLogInterval}
	gatherer := opts.Gatherer
	if gatherer == nil {
		gatherer = prometheus.DefaultGatherer
	}

	mux := http.NewServeMux()
	route := func(method, path string, h http.HandlerFunc, auth bool) {
		if method != http.MethodGet {
			h = s.audited(h)
		}
		if auth {
			h = s.authenticated(h)
		}
		mux.Handle(method+" "+path, h)
		// The same path with any other method: a JSON 405 instead of
		// ServeMux's plain-text one.
		allow := method
		if method == http.MethodGet {
			allow = "GET, HEAD"
		}
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			s.fail(w, http.StatusMethodNotAllowed, "method %s not allowed on %s; use %s", r.Method, path, method)
		})
	}
	route(http.MethodGet, "/v1/status", s.status, true)
	route(http.MethodPost, "/v1/pause", s.pause, true)
	route(http.MethodPost, "/v1/resume", s.resume, true)
	route(http.MethodPost, "/v1/halt", s.halt, true)
	route(http.MethodGet, "/v1/faults", s.faults, true)
	route(http.MethodGet, "/v1/history", s.history, true)
	route(http.MethodGet, "/v1/plan", s.plan, true)
	route(http.MethodPost, "/v1/alertmanager", s.alertmanager, true)
	route(http.MethodPost, "/v1/reload", s.reload, true)
	route(http.MethodPost, "/v1/inject", s.inject, true)
	route(http.MethodGet, "/v1/report", s.report, true)
	route(http.MethodGet, "/v1/health", s.health, false)
	metrics := promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{ErrorLog: s.log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true})})
	route(http.MethodGet, "/metrics", metrics.ServeHTTP, false)
	// The console is static and holds no data: it is served without a
	// token, and asks for one before it reads anything from /v1.
	page := console.Handler()
	mux.Handle("GET /{$}", page)
	mux.Handle("GET "+console.Prefix, page)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, http.StatusNotFound, "no endpoint %s", r.URL.Path)
	})

	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, http.StatusForbidden, "cross-origin browser requests are refused")
	}))
	return csrf.Handler(mux)
}

// actorKey carries the authenticated actor in a request's context.
type actorKey struct{}

func actorOf(r *http.Request) string {
	if a, ok := r.Context().Value(actorKey{}).(string); ok {
		return a
	}
	return AnonymousActor
}

// authenticated requires a known bearer token when the server has tokens:
// 401 without one, 403 with an unknown one.
func (s *apiServer) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		actor := AnonymousActor
		if s.tokens != nil {
			h := r.Header.Get("Authorization")
			scheme, token, _ := strings.Cut(h, " ")
			token = strings.TrimSpace(token)
			if h == "" || !strings.EqualFold(scheme, "Bearer") || token == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="tumult"`)
				s.logRefused(r, http.StatusUnauthorized)
				s.fail(w, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>")
				return
			}
			name, ok := s.tokens.Lookup(token)
			if !ok {
				s.logRefused(r, http.StatusForbidden)
				s.fail(w, http.StatusForbidden, "unknown token")
				return
			}
			actor = name
		}
		next(w, r.WithContext(context.WithValue(r.Context(), actorKey{}, actor)))
	}
}

func (s *apiServer) logRefused(r *http.Request, status int) { s.refused.refused(r, status) }

// audited logs a mutating call once it is answered: who, what, how it went.
// It runs inside authenticated, which logs refused calls itself.
func (s *apiServer) audited(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next(rec, r)
		level := hclog.Info
		if rec.status >= 500 {
			level = hclog.Error
		} else if rec.status >= 400 {
			level = hclog.Warn
		}
		s.log.Log(level, "API call", "actor", actorOf(r), "method", r.Method, "path", r.URL.Path,
			"status", rec.status, "duration", time.Since(start).Round(time.Microsecond))
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// reply writes v as JSON with status 200.
func (s *apiServer) reply(w http.ResponseWriter, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		s.log.Error("encode API answer", "error", err)
		s.fail(w, http.StatusInternalServerError, "encode answer: %v", err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

func (s *apiServer) fail(w http.ResponseWriter, status int, format string, args ...any) {
	b, _ := json.Marshal(api.ErrorBody{Error: fmt.Sprintf(format, args...)})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// serviceFailed answers an error of the Service with the status of its
// class (see ErrBadRequest and the others).
func (s *apiServer) serviceFailed(w http.ResponseWriter, r *http.Request, err error) {
	status := apiStatusOf(err)
	if status == http.StatusInternalServerError {
		// An error of no known class may carry anything — file paths,
		// addresses of backends — so its text goes to the log only.
		s.log.Error("API call failed", "method", r.Method, "path", r.URL.Path, "error", err)
		s.fail(w, status, "internal error while serving %s %s; the agent's log has the details", r.Method, r.URL.Path)
		return
	}
	s.fail(w, status, "%s", err.Error())
}

// decode reads a JSON body into v: one object, known fields only, at most
// maxBody bytes. An empty body counts as {} so that the field checks that
// follow say what is missing. It answers the error itself and returns
// false.
func (s *apiServer) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.fail(w, http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", s.maxBody)
			return false
		}
		s.fail(w, http.StatusBadRequest, "read request body: %v", err)
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		s.fail(w, http.StatusBadRequest, "request body: %v", err)
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		s.fail(w, http.StatusBadRequest, "request body: data after the JSON object")
		return false
	}
	return true
}

// checkReason trims the reason and refuses an empty one, as every change
// of the control state says why, and one longer than api.MaxReason or
// with control characters.
func (s *apiServer) checkReason(w http.ResponseWriter, reason *string) bool {
	*reason = strings.TrimSpace(*reason)
	if *reason == "" {
		s.fail(w, http.StatusBadRequest, "reason is required")
		return false
	}
	return s.checkText(w, "reason", *reason, api.MaxReason)
}

// checkText answers 400 for free text over its cap (see api.CheckText).
func (s *apiServer) checkText(w http.ResponseWriter, field, value string, max int) bool {
	if err := api.CheckText(field, value, max); err != nil {
		s.fail(w, http.StatusBadRequest, "%v", err)
		return false
	}
	return true
}

func (s *apiServer) status(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	st, err := s.svc.Status(r.Context())
	if err != nil {
		s.serviceFailed(w, r, err)
		return
	}
	if st.Policies == nil {
		st.Policies = []api.PolicyStatus{}
	}
	if st.Sources == nil {
		st.Sources = []api.SourceStatus{}
	}
	if st.Faults == nil {
		st.Faults = []ledger.Record{}
	}
	s.reply(w, st)
}

func (s *apiServer) pause(w http.ResponseWriter, r *http.Request) {
	var req api.PauseRequest
	serveChange(s, w, r, &req, &req.Reason, func() bool {
		req.Policy = strings.TrimSpace(req.Policy)
		return s.checkText(w, "policy", req.Policy, api.MaxName) && s.checkText(w, "for", req.For, api.MaxName) &&
			s.checkFor(w, req.For)
	}, s.svc.Pause)
}

func (s *apiServer) resume(w http.ResponseWriter, r *http.Request) {
	var req api.ResumeRequest
	serveChange(s, w, r, &req, &req.Reason, func() bool {
		req.Policy = strings.TrimSpace(req.Policy)
		return s.checkText(w, "policy", req.Policy, api.MaxName)
	}, s.svc.Resume)
}

func (s *apiServer) halt(w http.ResponseWriter, r *http.Request) {
	var req api.HaltRequest
	serveChange(s, w, r, &req, &req.Reason, nil, s.svc.Halt)
}

// serveChange is the shape of every control change: decode the body into
// req, require its reason, run check (when set), call the service with the
// token's actor and answer with the control state it returns.
func serveChange[T any](s *apiServer, w http.ResponseWriter, r *http.Request, req *T, reason *string,
	check func() bool, call func(context.Context, string, T) (ledger.Control, error)) {
	if !s.decode(w, r, req) || !s.checkReason(w, reason) {
		return
	}
	if check != nil && !check() {
		return
	}
	c, err := call(r.Context(), actorOf(r), *req)
	if err != nil {
		s.serviceFailed(w, r, err)
		return
	}
	// The journal is for reports; the answer says what the state is now.
	c.Changes = nil
	s.reply(w, c)
}

// checkFor validates a pause's "for": empty, or a positive duration.
func (s *apiServer) checkFor(w http.ResponseWriter, f string) bool {
	if f == "" {
		return true
	}
	d, err := policies.ParseDuration(f)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "for: %v", err)
		return false
	}
	if d <= 0 {
		s.fail(w, http.StatusBadRequest, "for: %q is not a positive duration", f)
		return false
	}
	return true
}

func (s *apiServer) faults(w http.ResponseWriter, r *http.Request) {
	if !s.noQuery(w, r) {
		return
	}
	recs, err := s.svc.Faults(r.Context())
	s.replyRecords(w, r, recs, err)
}

// replyRecords answers a list of records, [] rather than null when there
// is none, or the Service's error.
func (s *apiServer) replyRecords(w http.ResponseWriter, r *http.Request, recs []ledger.Record, err error) {
	if err != nil {
		s.serviceFailed(w, r, err)
		return
	}
	if recs == nil {
		recs = []ledger.Record{}
	}
	s.reply(w, recs)
}

func (s *apiServer) history(w http.ResponseWriter, r *http.Request) {
	q, ok := s.query(w, r, "since", "policy", "limit")
	if !ok {
		return
	}
	var hq ledger.HistoryQuery
	if v := q.Get("since"); v != "" {
		d, err := policies.ParseDuration(v)
		if err == nil && d <= 0 {
			err = fmt.Errorf("%q is not a positive duration", v)
		}
		if err != nil {
			s.fail(w, http.StatusBadRequest, "since: %v", err)
			return
		}
		hq.Since = s.now().Add(-d)
	}
	hq.Policy = strings.TrimSpace(q.Get("policy"))
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.fail(w, http.StatusBadRequest, "limit: %q is not a positive integer", v)
			return
		}
		hq.Limit = n
	}
	recs, err := s.svc.History(r.Context(), hq)
	s.replyRecords(w, r, recs, err)
}

func (s *apiServer) plan(w http.ResponseWriter, r *http.Request) {
	q, ok := s.query(w, r, "hours")
	if !ok {
		return
	}
	hours := 24
	if v := q.Get("hours"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxPlanHours {
			s.fail(w, http.StatusBadRequest, "hours: %q is not a whole number from 1 to %d", v, MaxPlanHours)
			return
		}
		hours = n
	}
	p, err := s.svc.Plan(r.Context(), hours)
	if err != nil {
		s.serviceFailed(w, r, err)
		return
	}
	s.reply(w, p)
}

func (s *apiServer) alertmanager(w http.ResponseWriter, r *http.Request) {
	actor := actorOf(r)
	wh, err := alerting.ParseWebhook(r.Body, s.whMax)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, alerting.ErrWebhookTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		s.fail(w, status, "%v", err)
		return
	}
	warning, err := s.svc.AlertWebhook(r.Context(), actor, r.URL.Query().Get("alertmanager"), wh)
	if err != nil {
		s.serviceFailed(w, r, err)
		return
	}
	answer := map[string]any{"status": "ok", "alerts": len(wh.Alerts)}
	if warning != "" {
		answer["warning"] = warning
	}
	s.reply(w, answer)
}

func (s *apiServer) reload(w http.ResponseWriter, r *http.Request) {
	res, err := s.svc.Reload(r.Context())
	if err != nil {
		s.serviceFailed(w, r, err)
		return
	}
	// A reload that kept the old policies is still answered 200: the call
	// worked and the result says what was wrong with the files.
	s.reply(w, res)
}

func (s *apiServer) health(w http.ResponseWriter, r *http.Request) {
	s.reply(w, map[string]string{"status": "ok"})
}

// query parses the URL query and refuses parameters other than allowed
// or given twice, so that a typo (?polcy=) is an error, not a silently
// unfiltered answer.
func (s *apiServer) query(w http.ResponseWriter, r *http.Request, allowed ...string) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.fail(w, http.StatusBadRequest, "query: %v", err)
		return nil, false
	}
	for k, vs := range q {
		known := false
		for _, a := range allowed {
			known = known || k == a
		}
		if !known {
			if len(allowed) == 0 {
				s.fail(w, http.StatusBadRequest, "unknown query parameter %q; %s takes none", k, r.URL.Path)
			} else {
				s.fail(w, http.StatusBadRequest, "unknown query parameter %q; %s takes %s", k, r.URL.Path, strings.Join(allowed, ", "))
			}
			return nil, false
		}
		if len(vs) > 1 {
			s.fail(w, http.StatusBadRequest, "query parameter %q given %d times", k, len(vs))
			return nil, false
		}
	}
	return q, true
}

func (s *apiServer) noQuery(w http.ResponseWriter, r *http.Request) bool {
	_, ok := s.query(w, r)
	return ok
}

// apiStatusOf maps an error of the Service to an HTTP status code.
func apiStatusOf(err error) int {
	switch {
	case errors.Is(err, api.ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, api.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, api.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, api.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		// A Service call that ran out of time is the agent being busy or
		// a backend being slow: worth a retry, unlike a 500.
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
