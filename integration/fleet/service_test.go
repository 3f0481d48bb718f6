package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func do(t *testing.T, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

// counter reads one sample of the metrics exposition.
func counter(t *testing.T, body, series string) float64 {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	require.NotNil(t, m, "series %s not in:\n%s", series, body)
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

func TestHealthFollowsControl(t *testing.T) {
	s := newService("web", 20)
	h := s.handler()

	rec := do(t, h, http.MethodGet, "/health")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "ok\n", rec.Body.String())

	rec = do(t, h, http.MethodPost, "/control?healthy=false")
	require.Equal(t, http.StatusOK, rec.Code)
	rec = do(t, h, http.MethodGet, "/health")
	require.Equal(t, http.StatusServiceUnavailable, rec.Code)

	rec = do(t, h, http.MethodPost, "/control?healthy=true")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, http.StatusOK, do(t, h, http.MethodGet, "/health").Code)
}

func TestControl(t *testing.T) {
	tests := []struct {
		name       string
		query      string
		wantCode   int
		wantRate   float64
		wantHealth bool
	}{
		{"nothing changes nothing", "", http.StatusOK, 0, true},
		{"error rate only", "error_rate=0.5", http.StatusOK, 0.5, true},
		{"both", "error_rate=1&healthy=false", http.StatusOK, 1, false},
		{"healthy only", "healthy=0", http.StatusOK, 0, false},
		{"rate above one", "error_rate=1.5", http.StatusBadRequest, 0, true},
		{"negative rate", "error_rate=-0.1", http.StatusBadRequest, 0, true},
		{"NaN rate", "error_rate=NaN", http.StatusBadRequest, 0, true},
		{"not a number", "error_rate=lots", http.StatusBadRequest, 0, true},
		{"bad bool", "healthy=maybe", http.StatusBadRequest, 0, true},
		{"bad bool leaves good rate unapplied", "error_rate=0.3&healthy=maybe", http.StatusBadRequest, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newService("web", 20).handler()
			rec := do(t, h, http.MethodPost, "/control?"+tt.query)
			require.Equal(t, tt.wantCode, rec.Code, rec.Body.String())

			rec = do(t, h, http.MethodGet, "/control")
			require.Equal(t, http.StatusOK, rec.Code)
			var c control
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &c))
			require.Equal(t, control{App: "web", ErrorRate: tt.wantRate, Healthy: tt.wantHealth}, c)
		})
	}
}

func TestControlAcceptsForm(t *testing.T) {
	h := newService("web", 20).handler()
	req := httptest.NewRequest(http.MethodPost, "/control", strings.NewReader(url.Values{"error_rate": {"0.25"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), `"error_rate":0.25`)
}

func TestMethods(t *testing.T) {
	h := newService("web", 20).handler()
	require.Equal(t, http.StatusMethodNotAllowed, do(t, h, http.MethodPost, "/health").Code)
	require.Equal(t, http.StatusMethodNotAllowed, do(t, h, http.MethodDelete, "/control").Code)
	require.Equal(t, http.StatusNotFound, do(t, h, http.MethodGet, "/nope").Code)
}

func TestSimulatedTraffic(t *testing.T) {
	tests := []struct {
		name      string
		rate      int
		errorRate float64
		ticks     int
		wantOK    float64
		wantFail  float64
	}{
		{"no errors", 20, 0, 10, 20, 0},
		{"half errors", 20, 0.5, 10, 10, 10},
		{"all errors", 20, 1, 10, 0, 20},
		{"a tenth of errors over a minute", 20, 0.1, 600, 1080, 120},
		{"rate below one per tick", 5, 0, 10, 5, 0},
		{"one percent", 20, 0.01, 3000, 5940, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newService("web", tt.rate)
			s.errorRate = tt.errorRate
			for range tt.ticks {
				s.simulate()
			}
			body := do(t, s.handler(), http.MethodGet, "/metrics").Body.String()
			require.Equal(t, tt.wantOK, counter(t, body, `fleet_http_requests_total{app="web",code="200"}`))
			require.Equal(t, tt.wantFail, counter(t, body, `fleet_http_requests_total{app="web",code="500"}`))
			require.Equal(t, 1.0, counter(t, body, `fleet_up`))
		})
	}
}

func TestMetricsFormat(t *testing.T) {
	s := newService(`we"b\`+"\n", 20)
	rec := do(t, s.handler(), http.MethodGet, "/metrics")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
	require.Contains(t, rec.Body.String(), `fleet_http_requests_total{app="we\"b\\\n",code="200"} 0`)
	require.Contains(t, rec.Body.String(), "# TYPE fleet_http_requests_total counter\n")
	require.Contains(t, rec.Body.String(), "fleet_healthy{app=")
}

func TestCheck(t *testing.T) {
	s := newService("web", 20)
	srv := httptest.NewServer(s.handler())
	defer srv.Close()
	env := func(string) string { return "" }
	ctx := context.Background()

	require.Equal(t, 0, run(ctx, []string{"-check", srv.URL + "/health"}, env, io.Discard, nil))
	s.mu.Lock()
	s.healthy = false
	s.mu.Unlock()
	require.Equal(t, 1, run(ctx, []string{"-check", srv.URL + "/health"}, env, io.Discard, nil))
	require.Equal(t, 1, run(ctx, []string{"-check", "http://127.0.0.1:1/health"}, env, io.Discard, nil))
}

func TestRunServesAndStopsCleanly(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := map[string]string{"FLEET_LISTEN": "127.0.0.1:0", "FLEET_APP": "from-env"}
	ready := make(chan net.Addr, 1)
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-rate", "100"}, func(k string) string { return env[k] }, io.Discard, ready)
	}()

	var addr net.Addr
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("run exited early with %d", code)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	base := "http://" + addr.String()
	// The ticker counts traffic by itself: the counter grows without load.
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		re := regexp.MustCompile(`fleet_http_requests_total\{app="from-env",code="200"\} (\d+)`)
		m := re.FindSubmatch(b)
		if m == nil {
			return false
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n >= 20
	}, 10*time.Second, 50*time.Millisecond)

	cancel()
	select {
	case code := <-done:
		require.Equal(t, 0, code)
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop on cancel")
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	env := func(string) string { return "" }
	require.Equal(t, 2, run(context.Background(), []string{"-nope"}, env, io.Discard, nil))
	require.Equal(t, 2, run(context.Background(), []string{"-rate", "-1"}, env, io.Discard, nil))
}
