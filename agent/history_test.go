package agent

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets/targettest"
)

// History of a policy name that is neither loaded nor in the history is
// "not found", not an empty list that reads as "all quiet"; a policy that
// was removed but left records still answers.
func TestHistoryOfAnUnknownPolicy(t *testing.T) {
	dir := t.TempDir()
	cfg := config.DefaultConfig()
	cfg.DataDir, cfg.PolicyDir = filepath.Join(dir, "data"), filepath.Join(dir, "policies")
	cfg.Docker = []config.DockerEndpoint{{Name: "local"}}
	require.NoError(t, os.MkdirAll(cfg.PolicyDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(cfg.PolicyDir, "p.hcl"), []byte(
		"policy \"loaded\" {\n  target \"docker\" {\n    labels = { app = \"x\" }\n  }\n  fault \"kill\" {}\n"+
			"  window {\n    cron = \"@daily\"\n    duration = \"1h\"\n  }\n  every {\n    mean = \"10m\"\n  }\n}\n"), 0o644))
	a, err := New(Options{Config: cfg, Logger: hclog.NewNullLogger(),
		Targets: targettest.Set{}.Add(targettest.New(policies.DriverDocker, "local"))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.shutdown(t.Context()) })
	require.True(t, a.load("start").OK)

	old := time.Now().Add(-72 * time.Hour)
	require.NoError(t, a.ledger.Begin(t.Context(), ledger.Record{ID: "r1", Policy: "removed", Phase: ledger.Finished,
		Result: ledger.Skipped, Decided: old, Finished: old}))

	cases := []struct {
		name     string
		q        ledger.HistoryQuery
		wantLen  int
		notFound bool
	}{
		{"loaded, no records", ledger.HistoryQuery{Policy: "loaded", Since: time.Now().Add(-time.Hour)}, 0, false},
		{"removed, records older than since", ledger.HistoryQuery{Policy: "removed", Since: time.Now().Add(-time.Hour)}, 0, false},
		{"removed, records within since", ledger.HistoryQuery{Policy: "removed"}, 1, false},
		{"never known", ledger.HistoryQuery{Policy: "nosuch", Since: time.Now().Add(-time.Hour)}, 0, true},
		{"no policy filter", ledger.HistoryQuery{Since: time.Now().Add(-time.Hour)}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := a.History(t.Context(), tc.q)
			if tc.notFound {
				require.ErrorIs(t, err, api.ErrNotFound)
				require.EqualError(t, err, `policy "nosuch" is not a loaded policy and has no history: not found`)
				return
			}
			require.NoError(t, err)
			require.Len(t, recs, tc.wantLen)
		})
	}
}
