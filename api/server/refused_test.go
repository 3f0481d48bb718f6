package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api/server"
	"github.com/inferensys/tumult/internal/testlog"
)

// TestRefusedCallsAreAggregatedInTheLog: 3,000 wrong tokens once became
// 3,000 WARN lines. Now the first refusal of an interval is logged, the
// rest are counted into one line at its end.
func TestRefusedCallsAreAggregatedInTheLog(t *testing.T) {
	logs := &testlog.Buffer{}
	tokens, err := server.LoadTokens(writeTokensFile(t, apiTokenTxt))
	require.NoError(t, err)
	h := server.New(server.Options{
		Service: newAPIFake(), Tokens: &tokens, RefusedLogInterval: 300 * time.Millisecond,
		Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info}),
	})
	const n = 3000
	for i := range n {
		req := httptest.NewRequest(http.MethodPost, "/v1/halt", strings.NewReader(`{"reason":"x"}`))
		if i%3 != 0 {
			req.Header.Set("Authorization", "Bearer wrong-token-0123456789")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Contains(t, []int{401, 403}, rec.Code)
	}
	// Every refusal is in the log, logged alone or counted, in far fewer
	// lines than calls (on a slow machine the calls span several
	// intervals).
	accounted := func() (full, counted, lines int) {
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			lines++
			switch {
			case strings.Contains(l, "API call refused:"):
				full++
			case strings.Contains(l, "API calls refused:"):
				var c int
				_, err := fmt.Sscanf(l[strings.Index(l, "count="):], "count=%d", &c)
				require.NoError(t, err, l)
				counted += c
				require.Contains(t, l, `remotes=["192.0.2.1"]`)
			}
		}
		return full, counted, lines
	}
	require.Eventually(t, func() bool { f, c, _ := accounted(); return f+c == n }, 10*time.Second, 20*time.Millisecond,
		"every refusal is logged or counted")
	full, counted, lines := accounted()
	require.Less(t, lines, n/20, "refusals are aggregated:\n%s", logs.String())
	require.Greater(t, counted, full)
	require.Contains(t, logs.String(), "API call refused: method=POST path=/v1/halt status=401 remote=192.0.2.1:1234")
	require.Contains(t, logs.String(), "forbidden_403=")

	// After the interval, the next refusal is logged in full again.
	before := strings.Count(logs.String(), "\n")
	req := httptest.NewRequest(http.MethodGet, "/v1/status", nil)
	h.ServeHTTP(httptest.NewRecorder(), req)
	require.Equal(t, before+1, strings.Count(logs.String(), "\n"))
	require.Contains(t, logs.String(), "API call refused: method=GET path=/v1/status status=401")
}
