package console

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHandler(t *testing.T) {
	cases := []struct {
		method, path string
		status       int
		ctype        string
		contains     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8", `<script src="/console/app.js" defer></script>`},
		{"HEAD", "/", 200, "text/html; charset=utf-8", ""},
		{"GET", "/console/app.js", 200, "text/javascript; charset=utf-8", "sessionStorage"},
		{"GET", "/console/app.css", 200, "text/css; charset=utf-8", "prefers-color-scheme"},
		{"GET", "/console/index.html", 404, "", ""},
		{"GET", "/console/", 404, "", ""},
		{"GET", "/console/../console.go", 404, "", ""},
		{"GET", "/console/nope.js", 404, "", ""},
		{"GET", "/index.html", 404, "", ""},
		{"POST", "/", 405, "", ""},
	}
	h := Handler()
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			if tc.status != http.StatusOK {
				return
			}
			require.Equal(t, tc.ctype, rec.Header().Get("Content-Type"))
			require.Equal(t, CSP, rec.Header().Get("Content-Security-Policy"))
			require.Equal(t, "DENY", rec.Header().Get("X-Frame-Options"))
			require.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
			require.Contains(t, rec.Body.String(), tc.contains)
		})
	}
}

// The page must work on networks that reach nothing but the agent, and
// its policy forbids inline code: no external URL, no inline script or
// style, no cookie.
func TestPageIsSelfContained(t *testing.T) {
	for _, name := range []string{"index.html", "app.js", "app.css"} {
		b, err := static.ReadFile("static/" + name)
		require.NoError(t, err)
		text := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		require.NotRegexp(t, regexp.MustCompile(`https?://`), text, name)
		require.NotContains(t, text, "document.cookie", name)
		require.NotContains(t, text, "localStorage", name)
		if name == "index.html" {
			require.NotRegexp(t, regexp.MustCompile(`<script>|<style|style="|onclick=|onload=`), text)
		}
		if name == "app.js" {
			require.NotContains(t, text, "innerHTML", "data is rendered as text, never parsed as HTML")
		}
	}
}
