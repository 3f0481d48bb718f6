// Package console is the on-call console: one HTML page with its script
// and stylesheet, embedded in the binary, served by the agent at / on the
// API's listener. The page reads and changes state only through the /v1
// API, with the bearer token the person enters (kept in the tab's
// sessionStorage, never in a cookie), so it adds no way in that the API
// does not already have. Nothing is fetched from elsewhere: on-call
// networks often reach no CDN.
//
// It imports no daemon code: the HTTP server mounts Handler.
package console

import (
	"embed"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// Prefix is where the page's script and stylesheet are served.
const Prefix = "/console/"

// CSP is the Content-Security-Policy of every console answer: the page may
// run only its own script and style, talk only to its own origin, and may
// not be framed (no clickjacking of the Halt button).
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page at "/" and its assets under Prefix. Any other
// path is not its business: it answers 404.
func Handler() http.Handler { return handler{} }

type handler struct{}

var types = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

func (handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := ""
	switch {
	case r.URL.Path == "/":
		name = "index.html"
	case strings.HasPrefix(r.URL.Path, Prefix):
		name = strings.TrimPrefix(r.URL.Path, Prefix)
	}
	ctype, known := types[path.Ext(name)]
	if name == "" || name == "index.html" && r.URL.Path != "/" || !known || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	data, err := static.ReadFile("static/" + name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "no-referrer")
	// The page is small and changes with the binary: always ask again, so
	// that an upgraded agent never serves a stale script.
	hd.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}
