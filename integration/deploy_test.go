//go:build integration

package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/config"
	"github.com/inferensys/tumult/integration/harness"
)

// TestDeployFilesAreValid checks the files in deploy/ with the tools that
// will read them, so that the examples people copy cannot rot: the
// Alertmanager route with amtool, the recording rules with promtool, the
// agent config with tumult's own loader, and the Nomad job's HCL syntax.
func TestDeployFilesAreValid(t *testing.T) {
	deploy := filepath.Join("..", "deploy")
	tools := []struct {
		what, bin string
		args      []string
	}{
		{"Alertmanager's amtool", "amtool", []string{"check-config", filepath.Join(deploy, "alertmanager.yml")}},
		{"Prometheus's promtool", "promtool", []string{"check", "rules", filepath.Join(deploy, "prometheus-rules.yml")}},
	}
	for _, tc := range tools {
		t.Run(tc.bin, func(t *testing.T) {
			bin := harness.LookPath(t, tc.what, tc.bin)
			out, err := exec.CommandContext(t.Context(), bin, tc.args...).CombinedOutput()
			require.NoError(t, err, "%s %v:\n%s", tc.bin, tc.args, out)
			require.Contains(t, string(out), "SUCCESS")
		})
	}

	t.Run("tumult.hcl", func(t *testing.T) {
		cfg, _, ds := config.LoadConfig(filepath.Join(deploy, "tumult.hcl"))
		require.False(t, ds.HasErrors(), ds.Error())
		require.NotNil(t, cfg.Consul, "the deploy config is the HA one")
	})

	t.Run("tumult.nomad.hcl", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join(deploy, "tumult.nomad.hcl"))
		require.NoError(t, err)
		_, diags := hclparse.NewParser().ParseHCL(src, "tumult.nomad.hcl")
		require.False(t, diags.HasErrors(), diags.Error())
	})

	// kill -9 and the OOM killer cannot be handled by tumult itself: the
	// supervisor must start it again at once, and that start restores.
	t.Run("restarted at once", func(t *testing.T) {
		unit, err := os.ReadFile(filepath.Join(deploy, "tumult.service"))
		require.NoError(t, err)
		require.Regexp(t, `(?m)^Restart=always$`, string(unit))
		require.Regexp(t, `(?m)^RestartSec=1$`, string(unit))
		require.Regexp(t, `(?m)^StartLimitIntervalSec=0$`, string(unit))

		src, err := os.ReadFile(filepath.Join(deploy, "tumult.nomad.hcl"))
		require.NoError(t, err)
		require.Regexp(t, `(?s)restart \{[^}]*delay\s*=\s*"1s"[^}]*mode\s*=\s*"delay"`, string(src))

		docker, err := os.ReadFile(filepath.Join(deploy, "Dockerfile"))
		require.NoError(t, err)
		require.Contains(t, string(docker), "--restart always")
	})
}
