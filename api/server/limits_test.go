package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/api/server"
)

// TestServerCapsFreeText: a 1 MB reason once went into the control state
// and the log (and, copied, into every skip record). Every free-text field
// of a request now has a cap, and an answer saying so, before the
// Service sees it.
func TestServerCapsFreeText(t *testing.T) {
	tests := []struct {
		name, target, body string
		wantCode           int
		wantErr            string
	}{
		{"reason of 1 MB", "/v1/pause", `{"reason":"` + strings.Repeat("x", 1<<20-100) + `"}`, 400,
			"reason is 1048476 bytes long; at most 1024 are allowed"},
		{"halt reason one byte over", "/v1/halt", `{"reason":"` + strings.Repeat("x", api.MaxReason+1) + `"}`, 400,
			"reason is 1025 bytes long; at most 1024 are allowed"},
		{"resume reason with a newline", "/v1/resume", `{"reason":"ok\n2026-10-16T09:30:00Z [WARN] forged line"}`, 400,
			`reason holds a control character ("\n" at byte 2); it must be one line of text`},
		{"policy name too long", "/v1/pause", `{"reason":"x","policy":"` + strings.Repeat("p", 300) + `"}`, 400,
			"policy is 300 bytes long; at most 256 are allowed"},
		{"for too long", "/v1/pause", `{"reason":"x","for":"` + strings.Repeat("1", 300) + `"}`, 400,
			"for is 300 bytes long; at most 256 are allowed"},
		{"inject member too long", "/v1/inject", `{"reason":"x","policy":"p","member":"` + strings.Repeat("m", 300) + `"}`, 400,
			"member is 300 bytes long; at most 256 are allowed"},
		{"inject reason of 2 KiB", "/v1/inject", `{"reason":"` + strings.Repeat("x", 2048) + `","policy":"p"}`, 400,
			"reason is 2048 bytes long; at most 1024 are allowed"},
		{"reason at the cap", "/v1/halt", `{"reason":"` + strings.Repeat("x", api.MaxReason) + `"}`, 200, ""},
		{"reason with a tab", "/v1/halt", `{"reason":"a\tb"}`, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newAPIFake()
			tokens, err := server.LoadTokens(writeTokensFile(t, apiTokenTxt))
			require.NoError(t, err)
			h := server.New(server.Options{Service: fake, Tokens: &tokens, Now: func() time.Time { return apiNow }})
			req := httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+aliceToken)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tt.wantCode, rec.Code, rec.Body.String())
			if tt.wantErr == "" {
				require.Len(t, fake.Calls(), 1)
				return
			}
			var eb api.ErrorBody
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &eb))
			require.Equal(t, tt.wantErr, eb.Error)
			require.Empty(t, fake.Calls(), "the Service never sees it")
		})
	}
}
