package alerting

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/guardian"
	"github.com/inferensys/tumult/policies"
)

// promAnswer is what the fake Prometheus answers to one query.
type promAnswer struct {
	status int    // HTTP status; 200 when zero
	body   string // raw JSON body
}

func vector(values ...string) promAnswer {
	var res []map[string]any
	for i, v := range values {
		res = append(res, map[string]any{
			"metric": map[string]string{"__name__": "m", "instance": strconv.Itoa(i)},
			"value":  []any{1700000000, v},
		})
	}
	if res == nil {
		res = []map[string]any{}
	}
	return success("vector", res)
}

func scalar(v string) promAnswer { return success("scalar", []any{1700000000, v}) }

func matrix() promAnswer {
	return success("matrix", []map[string]any{{
		"metric": map[string]string{"__name__": "m"},
		"values": [][]any{{1700000000, "1"}, {1700000001, "2"}},
	}})
}

func success(typ string, result any) promAnswer {
	b, _ := json.Marshal(map[string]any{"status": "success", "data": map[string]any{"resultType": typ, "result": result}})
	return promAnswer{body: string(b)}
}

func apiError(status int, typ, msg string) promAnswer {
	b, _ := json.Marshal(map[string]any{"status": "error", "errorType": typ, "error": msg})
	return promAnswer{status: status, body: string(b)}
}

// fakePrometheus answers /api/v1/query from a table and records what it
// was asked.
type fakePrometheus struct {
	mu      sync.Mutex
	answers map[string]promAnswer
	asked   map[string]int
	times   []string
}

func newFakePrometheus(t *testing.T, answers map[string]promAnswer) (*fakePrometheus, *httptest.Server) {
	f := &fakePrometheus{answers: answers, asked: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		q := r.FormValue("query")
		f.mu.Lock()
		f.asked[q]++
		f.times = append(f.times, r.FormValue("time"))
		a, ok := f.answers[q]
		f.mu.Unlock()
		if !ok {
			a = vector()
		}
		w.Header().Set("Content-Type", "application/json")
		if a.status != 0 {
			w.WriteHeader(a.status)
		}
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	return f, srv
}

func newTestPrometheus(t *testing.T, addr string, now time.Time) *Prometheus {
	p, err := NewPrometheus(PrometheusOptions{Name: "main", Address: addr, Now: func() time.Time { return now }})
	require.NoError(t, err)
	return p
}

func TestQuery(t *testing.T) {
	tests := []struct {
		name    string
		answer  promAnswer
		want    float64
		wantErr error
		errText string
	}{
		{name: "one series", answer: vector("0.25"), want: 0.25},
		{name: "scalar", answer: scalar("3"), want: 3},
		{name: "zero is a value", answer: vector("0"), want: 0},
		{name: "no series", answer: vector(), wantErr: ErrNoData},
		{name: "two series", answer: vector("1", "2"), wantErr: ErrMultipleSeries, errText: "2 series"},
		{name: "NaN", answer: vector("NaN"), wantErr: ErrNaN},
		{name: "NaN scalar", answer: scalar("NaN"), wantErr: ErrNaN},
		{name: "+Inf", answer: vector("+Inf"), wantErr: ErrNaN},
		{name: "-Inf", answer: vector("-Inf"), wantErr: ErrNaN},
		{name: "range vector", answer: matrix(), wantErr: ErrUnexpectedType},
		{name: "bad query", answer: apiError(400, "bad_data", "parse error at char 3"), errText: "parse error at char 3"},
		{name: "server error", answer: apiError(500, "internal", "boom"), errText: "boom"},
		{name: "not json", answer: promAnswer{body: "<html>"}, errText: "prometheus \"main\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const q = `sum(rate(errors_total[5m]))`
			_, srv := newFakePrometheus(t, map[string]promAnswer{q: tc.answer})
			p := newTestPrometheus(t, srv.URL, time.Unix(1700000000, 0))
			v, err := p.Query(context.Background(), q, time.Time{})
			if tc.wantErr == nil && tc.errText == "" {
				require.NoError(t, err)
				require.Equal(t, tc.want, v)
				return
			}
			require.Error(t, err)
			require.Contains(t, err.Error(), `prometheus "main": query `+q+": ")
			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			require.Equal(t, "main", qe.Source)
			require.Equal(t, q, qe.Query)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			if tc.errText != "" {
				require.Contains(t, err.Error(), tc.errText)
			}
		})
	}
}

func TestQueryTime(t *testing.T) {
	f, srv := newFakePrometheus(t, map[string]promAnswer{"up": vector("1")})
	now := time.Unix(1700000123, 0)
	p := newTestPrometheus(t, srv.URL, now)

	_, err := p.Query(context.Background(), "up", time.Time{})
	require.NoError(t, err)
	_, err = p.Query(context.Background(), "up", time.Unix(1600000000, 500e6))
	require.NoError(t, err)
	require.Equal(t, []string{"1700000123", "1600000000.5"}, f.times)
}

func TestQueryUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	p := newTestPrometheus(t, addr, time.Now())
	_, err := p.Query(context.Background(), "up", time.Time{})
	require.ErrorContains(t, err, `prometheus "main": query up: `)
}

func TestNewPrometheusBadAddress(t *testing.T) {
	for _, addr := range []string{"", "127.0.0.1:9090", "ftp://x", "http://"} {
		_, err := NewPrometheus(PrometheusOptions{Name: "main", Address: addr})
		require.ErrorContains(t, err, `prometheus "main"`, addr)
	}
}

func TestWindowQuery(t *testing.T) {
	tests := []struct {
		window time.Duration
		want   string
	}{
		{5 * time.Minute, "5m"},
		{30 * time.Minute, "30m"},
		{time.Hour, "1h"},
		{6 * time.Hour, "6h"},
		{72 * time.Hour, "3d"},
		{30 * 24 * time.Hour, "30d"},
		{28 * 24 * time.Hour, "4w"},
		{90 * time.Second, "1m30s"},
	}
	for _, tc := range tests {
		require.Equal(t, `slo:sli_error:ratio_rate`+tc.want+`{sloth_id="x"}`,
			WindowQuery(`slo:sli_error:ratio_rate$window{sloth_id="x"}`, tc.window))
	}
	require.Equal(t, "a[1h] / b[1h]", WindowQuery("a[$window] / b[$window]", time.Hour))
}

const ratioExpr = `slo:sli_error:ratio_rate$window{sloth_id="checkout"}`

func ratioQuery(w string) string {
	return fmt.Sprintf(`slo:sli_error:ratio_rate%s{sloth_id="checkout"}`, w)
}

// ratios answers every window of the default pairs (and 30d) with a value.
func ratios(m map[string]string) map[string]promAnswer {
	out := map[string]promAnswer{}
	for w, v := range m {
		if v == "" {
			out[ratioQuery(w)] = vector()
			continue
		}
		out[ratioQuery(w)] = vector(v)
	}
	return out
}

func float(v float64) *float64 { return &v }

func TestBurnRates(t *testing.T) {
	calm := map[string]string{"5m": "0.0001", "1h": "0.0001", "30m": "0.0001", "6h": "0.0001"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range calm {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name        string
		wire        policies.SLOWire
		values      map[string]string
		wantTripped []bool // per pair
		wantBurns   [][2]float64
		wantErr     error
		errText     []string
	}{
		{
			name:        "calm",
			values:      calm,
			wantTripped: []bool{false, false},
			wantBurns:   [][2]float64{{0.1, 0.1}, {0.1, 0.1}},
		},
		{
			// 0.02 / 0.001 = burn 20 > 14.4 in both the 1h and the 5m window.
			name:        "fast burn trips the first pair",
			values:      with("1h", "0.02", "5m", "0.02"),
			wantTripped: []bool{true, false},
			wantBurns:   [][2]float64{{20, 20}, {0.1, 0.1}},
		},
		{
			name:        "long window alone does not trip",
			values:      with("1h", "0.02"),
			wantTripped: []bool{false, false},
		},
		{
			name:        "short window alone does not trip",
			values:      with("5m", "0.5"),
			wantTripped: []bool{false, false},
		},
		{
			// 1 − 0.875 is exact in binary, so the burn is exactly 6.
			name:        "burn equal to the factor does not trip",
			wire:        policies.SLOWire{Objective: 0.875, Burns: []policies.BurnPair{{Long: time.Hour, Short: 5 * time.Minute, Factor: 6}}},
			values:      with("1h", "0.75", "5m", "0.75"),
			wantTripped: []bool{false},
			wantBurns:   [][2]float64{{6, 6}},
		},
		{
			// 0.007 / 0.001 = 7 > 6 but < 14.4.
			name:        "slow burn trips the second pair",
			values:      with("6h", "0.007", "30m", "0.007", "1h", "0.007", "5m", "0.007"),
			wantTripped: []bool{false, true},
		},
		{
			name: "own pairs replace the defaults",
			wire: policies.SLOWire{Burns: []policies.BurnPair{
				{Long: 72 * time.Hour, Short: 6 * time.Hour, Factor: 1},
			}},
			values:      with("3d", "0.002", "6h", "0.002"),
			wantTripped: []bool{true},
			wantBurns:   [][2]float64{{2, 2}},
		},
		{
			name:    "no data in one window",
			values:  with("5m", ""),
			wantErr: ErrNoData,
			errText: []string{`slo "checkout-availability": burn rates: prometheus "main": query ` + ratioQuery("5m") + `: no data`},
		},
		{
			name:    "NaN in one window",
			values:  with("30m", "NaN"),
			wantErr: ErrNaN,
			errText: []string{ratioQuery("30m")},
		},
		{
			name:    "a window shared by two pairs is reported once",
			wire:    policies.SLOWire{Burns: []policies.BurnPair{{Long: time.Hour, Short: 5 * time.Minute, Factor: 2}, {Long: time.Hour, Short: 30 * time.Minute, Factor: 1}}},
			values:  with("1h", "NaN"),
			wantErr: ErrNaN,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakePrometheus(t, ratios(tc.values))
			p := newTestPrometheus(t, srv.URL, time.Unix(1700000000, 0))
			wire := tc.wire
			wire.Name = "checkout-availability"
			wire.Prometheus = "main"
			wire.ErrorRatio = ratioExpr
			if wire.Objective == 0 {
				wire.Objective = 0.999
			}
			st, err := p.BurnRates(context.Background(), wire, time.Time{})
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				for _, s := range tc.errText {
					require.Contains(t, err.Error(), s)
				}
				require.Equal(t, 1, countSubstr(err.Error(), "query "), "each failed query once: %v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, "checkout-availability", st.Name)
			require.Len(t, st.Pairs, len(tc.wantTripped))
			any := false
			for i, ps := range st.Pairs {
				tripped := guardian.BurnPairTrips(ps.Pair, ps.LongBurn, ps.ShortBurn)
				require.Equal(t, tc.wantTripped[i], tripped, "pair %d: %+v", i, ps)
				any = any || tripped
				if tc.wantBurns != nil {
					require.InDelta(t, tc.wantBurns[i][0], ps.LongBurn, 1e-9)
					require.InDelta(t, tc.wantBurns[i][1], ps.ShortBurn, 1e-9)
				}
			}
			rd := guardian.JudgeSLO(wire, burnsOf(st))
			require.Equal(t, any, rd.Tripped)
			require.Nil(t, st.BudgetLeft)
			require.False(t, rd.GateBlocked)
			for q, n := range f.asked {
				require.Equal(t, 1, n, "query %s asked more than once", q)
			}
		})
	}
}

// burnsOf hands what BurnRates read to the guardian's rules, as the agent
// does.
func burnsOf(st SLOStatus) guardian.SLOBurns {
	b := guardian.SLOBurns{BudgetLeft: st.BudgetLeft, BudgetErr: st.BudgetErr}
	for _, ps := range st.Pairs {
		b.Pairs = append(b.Pairs, guardian.PairBurn{Pair: ps.Pair, LongBurn: ps.LongBurn, ShortBurn: ps.ShortBurn})
	}
	return b
}

func countSubstr(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}

func TestBudget(t *testing.T) {
	tests := []struct {
		name        string
		ratio30d    string
		min         *float64
		wantLeft    float64
		wantBlocked bool
		wantErr     error
	}{
		{name: "plenty left", ratio30d: "0.0005", min: float(0.25), wantLeft: 0.5},
		{name: "below the gate", ratio30d: "0.0009", min: float(0.25), wantLeft: 0.1, wantBlocked: true},
		{name: "overspent", ratio30d: "0.003", min: float(0.25), wantLeft: -2, wantBlocked: true},
		{name: "exactly at the gate", ratio30d: "0.00075", min: float(0.25), wantLeft: 0.25},
		{name: "no gate", ratio30d: "0.0009", wantLeft: 0.1},
		{name: "no data", ratio30d: "", min: float(0.25), wantErr: ErrNoData},
		{name: "NaN", ratio30d: "NaN", min: float(0.25), wantErr: ErrNaN},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, srv := newFakePrometheus(t, ratios(map[string]string{
				"5m": "0.0001", "1h": "0.0001", "30m": "0.0001", "6h": "0.0001", "30d": tc.ratio30d,
			}))
			p := newTestPrometheus(t, srv.URL, time.Unix(1700000000, 0))
			wire := policies.SLOWire{
				Name: "checkout-availability", ErrorRatio: ratioExpr, Objective: 0.999,
				MinBudgetLeft: tc.min, Period: 30 * 24 * time.Hour,
			}

			b, err := p.BudgetLeft(context.Background(), wire, time.Time{})
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Contains(t, err.Error(), `slo "checkout-availability": budget left over 30d: prometheus "main": query `+ratioQuery("30d"))
			} else {
				require.NoError(t, err)
				require.InDelta(t, tc.wantLeft, b.Left, 1e-9)
				require.Equal(t, tc.wantBlocked, guardian.BudgetGateBlocks(b.Min, &b.Left, nil))
				require.Equal(t, 30*24*time.Hour, b.Period)
			}

			// BurnRates reads the gate too, when the wire has one, and a
			// failing budget query blocks the gate without failing the
			// burn rates.
			st, err := p.BurnRates(context.Background(), wire, time.Time{})
			require.NoError(t, err)
			rd := guardian.JudgeSLO(wire, burnsOf(st))
			require.False(t, rd.Tripped)
			switch {
			case tc.min == nil:
				require.Nil(t, st.BudgetLeft)
				require.NoError(t, st.BudgetErr)
				require.False(t, rd.GateBlocked)
			case tc.wantErr != nil:
				require.Nil(t, st.BudgetLeft)
				require.ErrorIs(t, st.BudgetErr, tc.wantErr)
				require.True(t, rd.GateBlocked)
			default:
				require.NotNil(t, st.BudgetLeft)
				require.InDelta(t, tc.wantLeft, *st.BudgetLeft, 1e-9)
				require.Equal(t, tc.wantBlocked, rd.GateBlocked)
			}
		})
	}
}

func TestSLOWireChecks(t *testing.T) {
	good := policies.SLOWire{Name: "s", Prometheus: "main", ErrorRatio: ratioExpr, Objective: 0.99}
	tests := []struct {
		name   string
		change func(*policies.SLOWire)
		want   string
	}{
		{"other source", func(w *policies.SLOWire) { w.Prometheus = "other" }, `reads prometheus "other"`},
		{"objective 1", func(w *policies.SLOWire) { w.Objective = 1 }, "objective 1 is not between 0 and 1"},
		{"objective as percent", func(w *policies.SLOWire) { w.Objective = 99.9 }, "not between 0 and 1"},
		{"no $window", func(w *policies.SLOWire) { w.ErrorRatio = "slo:sli_error:ratio_rate5m" }, "has no $window"},
		{"gate without period", func(w *policies.SLOWire) { w.MinBudgetLeft = float(0.1) }, "needs a period"},
		{"zero window", func(w *policies.SLOWire) { w.Burns = []policies.BurnPair{{Long: time.Hour, Factor: 1}} }, "not positive"},
	}
	_, srv := newFakePrometheus(t, nil)
	p := newTestPrometheus(t, srv.URL, time.Now())
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := good
			tc.change(&w)
			_, err := p.BurnRates(context.Background(), w, time.Time{})
			require.ErrorContains(t, err, tc.want)
			_, err = p.BudgetLeft(context.Background(), w, time.Time{})
			require.ErrorContains(t, err, tc.want)
		})
	}
}
