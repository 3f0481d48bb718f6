package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/policies"
)

// WebhookConfig is an alertmanager.yml that sends every alert at once
// (group_wait 0s) to one webhook at url, resolved alerts too. groupBy is
// the route's group_by list as YAML (e.g. "[alertname]", "['...']");
// token, when set, is sent as a bearer token.
func WebhookConfig(url, groupBy, token string) string {
	cfg := fmt.Sprintf(`route:
  receiver: tumult
  group_by: %s
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: tumult
    webhook_configs:
      - url: %q
        send_resolved: true
`, groupBy, url)
	if token != "" {
		cfg += fmt.Sprintf(`        http_config:
          authorization:
            type: Bearer
            credentials: %q
`, token)
	}
	return cfg
}

// DefaultAlertmanagerConfig routes every alert to a receiver that sends
// nothing.
const DefaultAlertmanagerConfig = `route:
  receiver: "null"
receivers:
  - name: "null"
`

// AlertmanagerOptions configure an Alertmanager for a test.
type AlertmanagerOptions struct {
	// Config is alertmanager.yml; DefaultAlertmanagerConfig when empty.
	// For a webhook to tumult use group_wait: 0s.
	Config string
}

// Alertmanager is a real Alertmanager on a free loopback port with its own
// temporary storage and no cluster gossip; it stops when the test ends.
type Alertmanager struct {
	tb   testing.TB
	proc *obsProcess
	http *http.Client
}

// StartAlertmanager starts Alertmanager (`prometheus-alertmanager` or
// `alertmanager` on PATH) and waits until it is ready. Without the binary
// the test is skipped, or fails under CI=true.
func StartAlertmanager(t testing.TB, opts AlertmanagerOptions) *Alertmanager {
	t.Helper()
	bin := LookPath(t, "Alertmanager", "prometheus-alertmanager", "alertmanager")
	if opts.Config == "" {
		opts.Config = DefaultAlertmanagerConfig
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "alertmanager.yml")
	require.NoError(t, os.WriteFile(cfgPath, []byte(opts.Config), 0o644))
	a := &Alertmanager{
		tb:   t,
		http: &http.Client{Timeout: 10 * time.Second},
		proc: newObsProcess(t, "alertmanager", bin, dir, func(addr string) []string {
			return []string{
				"--config.file=" + cfgPath,
				"--storage.path=" + filepath.Join(dir, "data"),
				"--web.listen-address=" + addr,
				"--cluster.listen-address=",
				"--log.level=info",
			}
		}),
	}
	a.proc.startFresh()
	return a
}

// URL is the server's base URL, e.g. http://127.0.0.1:41234.
func (a *Alertmanager) URL() string { return "http://" + a.proc.addr }

// Stop stops Alertmanager; it is safe to call more than once. Alerts are
// held in memory and are gone after a restart; silences are kept.
func (a *Alertmanager) Stop() { a.proc.stop() }

// Start starts a stopped Alertmanager again on the same port and storage.
func (a *Alertmanager) Start() { a.proc.startAgain() }

// PostAlert raises (or, with endsAt in the past, resolves) an alert the way
// Prometheus does. A zero endsAt leaves the end to Alertmanager's
// resolve_timeout.
func (a *Alertmanager) PostAlert(labels map[string]string, startsAt, endsAt time.Time) {
	a.tb.Helper()
	alert := map[string]any{"labels": labels}
	if !startsAt.IsZero() {
		alert["startsAt"] = startsAt.UTC().Format(time.RFC3339Nano)
	}
	if !endsAt.IsZero() {
		alert["endsAt"] = endsAt.UTC().Format(time.RFC3339Nano)
	}
	a.do(http.MethodPost, "/api/v2/alerts", []any{alert}, nil)
}

// Silence silences alerts matching every matcher (Alertmanager syntax, e.g.
// `service="checkout"`) for an hour and returns the silence's ID.
func (a *Alertmanager) Silence(matchers ...string) string {
	a.tb.Helper()
	require.NotEmpty(a.tb, matchers, "a silence needs matchers")
	var ms []map[string]any
	for _, s := range matchers {
		m, err := policies.ParseMatcher(s)
		require.NoError(a.tb, err)
		ms = append(ms, map[string]any{
			"name":    m.Name,
			"value":   m.Value,
			"isRegex": m.Type == policies.MatchRegexp || m.Type == policies.MatchNotRegexp,
			"isEqual": m.Type == policies.MatchEqual || m.Type == policies.MatchRegexp,
		})
	}
	now := time.Now().UTC()
	body := map[string]any{
		"matchers":  ms,
		"startsAt":  now.Add(-time.Second).Format(time.RFC3339Nano),
		"endsAt":    now.Add(time.Hour).Format(time.RFC3339Nano),
		"createdBy": "tumult-tests",
		"comment":   "silenced by a test",
	}
	var out struct {
		SilenceID string `json:"silenceID"`
	}
	a.do(http.MethodPost, "/api/v2/silences", body, &out)
	require.NotEmpty(a.tb, out.SilenceID, "silence without an ID")
	return out.SilenceID
}

// ListedAlert is an alert as Alertmanager lists it, silenced or not.
type ListedAlert struct {
	Labels      map[string]string `json:"labels"`
	Fingerprint string            `json:"fingerprint"`
	Status      struct {
		State       string   `json:"state"`
		SilencedBy  []string `json:"silencedBy"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

// AllAlerts lists every alert Alertmanager holds that has not ended,
// including silenced and inhibited ones: what really arrived, independent
// of tumult's client.
func (a *Alertmanager) AllAlerts() []ListedAlert {
	a.tb.Helper()
	var out []ListedAlert
	a.do(http.MethodGet, "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true", nil, &out)
	return out
}

func (a *Alertmanager) do(method, path string, in, out any) {
	a.tb.Helper()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		require.NoError(a.tb, err)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, a.URL()+path, body)
	require.NoError(a.tb, err)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	require.NoError(a.tb, err, "%s %s", method, path)
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	require.NoError(a.tb, err)
	require.Equal(a.tb, http.StatusOK, resp.StatusCode, "%s %s: %s", method, path, b)
	if out != nil {
		require.NoError(a.tb, json.Unmarshal(b, out), fmt.Sprintf("%s %s: %s", method, path, b))
	}
}
