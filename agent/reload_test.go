package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/internal/testlog"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets/targettest"
)

// TestReloadStatusAndWarningsOnce: every load is kept for status with its
// trigger; a policy warning is logged when it first appears, not again on
// each reload of an unchanged file.
func TestReloadStatusAndWarningsOnce(t *testing.T) {
	dir := t.TempDir()
	cfg := config.DefaultConfig()
	cfg.DataDir, cfg.PolicyDir = filepath.Join(dir, "data"), filepath.Join(dir, "policies")
	cfg.Docker = []config.DockerEndpoint{{Name: "local"}}
	require.NoError(t, os.MkdirAll(cfg.PolicyDir, 0o755))
	write := func(body string) {
		require.NoError(t, os.WriteFile(filepath.Join(cfg.PolicyDir, "p.hcl"), []byte(body), 0o644))
	}
	pol := func(limits string) string {
		return "policy \"p\" {\n  target \"docker\" {\n    labels = { app = \"x\" }\n  }\n  fault \"kill\" {}\n" +
			"  window {\n    cron = \"@daily\"\n    duration = \"1h\"\n  }\n  every {\n    mean = \"10m\"\n  }\n" + limits + "}\n"
	}
	var buf testlog.Buffer
	a, err := New(Options{Config: cfg, Logger: hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info}),
		Targets: targettest.Set{}.Add(targettest.New(policies.DriverDocker, "local"))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.shutdown(t.Context()) })

	write(pol("  limits {\n    min_healthy = 0\n  }\n"))
	res := a.load("start")
	require.True(t, res.OK)
	require.Len(t, res.Warnings, 1)
	res, err = a.ReloadOn(t.Context(), "SIGHUP")
	require.NoError(t, err)
	require.True(t, res.OK)
	require.Len(t, res.Warnings, 1, "the result still lists it")
	require.Equal(t, 1, strings.Count(buf.String(), "policy warning"), buf.String())

	write(pol("  limits {\n    max_disrupted = 0\n    min_healthy = 0\n  }\n"))
	require.True(t, a.load("file change").OK)
	require.Equal(t, 2, strings.Count(buf.String(), "policy warning"), "only the new warning is logged: %s", buf.String())
	require.Contains(t, buf.String(), "max_disrupted is 0")

	write(pol("  limits {\n    min_healthy = \"two\"\n  }\n"))
	res, err = a.Reload(t.Context())
	require.NoError(t, err)
	require.False(t, res.OK)
	st := a.lastReload
	require.Equal(t, "api", st.Trigger)
	require.False(t, st.OK)
	require.Equal(t, 1, st.Policies, "the last good set still runs")
	require.Len(t, st.Errors, 1)
	require.Contains(t, st.Errors[0], "min_healthy must be a number")
}
