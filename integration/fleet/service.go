package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tickEvery is how often simulated traffic is counted; ten ticks a second
// keep rate() in Prometheus smooth at any scrape interval.
const tickEvery = 100 * time.Millisecond

// service holds the fleet member's state: its counters and what the
// control endpoint set.
type service struct {
	app  string
	rate int // simulated requests per second

	mu        sync.Mutex
	errorRate float64
	healthy   bool
	ok, fail  uint64
	// pending and pendingErr carry fractions of requests between ticks,
	// so that the counters follow rate and error_rate exactly over time.
	pending, pendingErr float64
}

func newService(app string, rate int) *service {
	return &service{app: app, rate: rate, healthy: true}
}

// simulate counts one tick of traffic.
func (s *service) simulate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending += float64(s.rate) * tickEvery.Seconds()
	n := math.Floor(s.pending + 1e-9)
	s.pending -= n
	s.pendingErr += n * s.errorRate
	e := math.Floor(s.pendingErr + 1e-9)
	s.pendingErr -= e
	s.fail += uint64(e)
	s.ok += uint64(n - e)
}

func (s *service) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /control", s.getControl)
	mux.HandleFunc("POST /control", s.postControl)
	mux.HandleFunc("GET /dial", dial)
	return mux
}

func (s *service) health(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	healthy := s.healthy
	s.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !healthy {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "unhealthy")
		return
	}
	fmt.Fprintln(w, "ok")
}

func (s *service) metrics(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	ok, fail, healthy, errorRate := s.ok, s.fail, s.healthy, s.errorRate
	s.mu.Unlock()
	app := escapeLabel(s.app)
	h := 0
	if healthy {
		h = 1
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	fmt.Fprintf(w, "# HELP fleet_http_requests_total Requests served (simulated), by status code.\n")
	fmt.Fprintf(w, "# TYPE fleet_http_requests_total counter\n")
	fmt.Fprintf(w, "fleet_http_requests_total{app=\"%s\",code=\"200\"} %d\n", app, ok)
	fmt.Fprintf(w, "fleet_http_requests_total{app=\"%s\",code=\"500\"} %d\n", app, fail)
	fmt.Fprintf(w, "# HELP fleet_error_rate Fraction of simulated requests that fail.\n")
	fmt.Fprintf(w, "# TYPE fleet_error_rate gauge\n")
	fmt.Fprintf(w, "fleet_error_rate{app=\"%s\"} %g\n", app, errorRate)
	fmt.Fprintf(w, "# HELP fleet_healthy Whether /health answers 200.\n")
	fmt.Fprintf(w, "# TYPE fleet_healthy gauge\n")
	fmt.Fprintf(w, "fleet_healthy{app=\"%s\"} %d\n", app, h)
	fmt.Fprintf(w, "# HELP fleet_up The process is serving.\n")
	fmt.Fprintf(w, "# TYPE fleet_up gauge\n")
	fmt.Fprintf(w, "fleet_up 1\n")
}

// control is the JSON form of what /control sets.
type control struct {
	App       string  `json:"app"`
	ErrorRate float64 `json:"error_rate"`
	Healthy   bool    `json:"healthy"`
}

func (s *service) getControl(w http.ResponseWriter, _ *http.Request) {
	s.writeControl(w)
}

func (s *service) postControl(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	var (
		rate    *float64
		healthy *bool
	)
	if v := r.Form.Get("error_rate"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
			http.Error(w, fmt.Sprintf("error_rate %q: want a number in [0, 1]", v), http.StatusBadRequest)
			return
		}
		rate = &f
	}
	if v := r.Form.Get("healthy"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			http.Error(w, fmt.Sprintf("healthy %q: want true or false", v), http.StatusBadRequest)
			return
		}
		healthy = &b
	}
	// Validate everything before changing anything.
	s.mu.Lock()
	if rate != nil {
		s.errorRate = *rate
	}
	if healthy != nil {
		s.healthy = *healthy
	}
	s.mu.Unlock()
	s.writeControl(w)
}

func (s *service) writeControl(w http.ResponseWriter) {
	s.mu.Lock()
	c := control{App: s.app, ErrorRate: s.errorRate, Healthy: s.healthy}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(c)
}

// escapeLabel escapes a label value for the Prometheus text format.
func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// dial opens a TCP connection from this member to addr (a peer on the
// test's own network) and says how long it took: 200 "ok <ms>" or 502 with
// the error. Tests use it to see the member's network from inside.
// timeout (default 1s, at most 10s) bounds the attempt.
func dial(w http.ResponseWriter, r *http.Request) {
	addr := r.URL.Query().Get("addr")
	if addr == "" {
		http.Error(w, "addr is required", http.StatusBadRequest)
		return
	}
	timeout := time.Second
	if v := r.URL.Query().Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 10*time.Second {
			http.Error(w, fmt.Sprintf("timeout %q: want a duration up to 10s", v), http.StatusBadRequest)
			return
		}
		timeout = d
	}
	began := time.Now()
	c, err := net.DialTimeout("tcp", addr, timeout)
	took := time.Since(began)
	if err != nil {
		http.Error(w, fmt.Sprintf("dial %s: %v", addr, err), http.StatusBadGateway)
		return
	}
	_ = c.Close()
	fmt.Fprintf(w, "ok %.3f\n", float64(took.Microseconds())/1000)
}
