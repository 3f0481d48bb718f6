package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A directory with no *.hcl file is an error when named on the command line
// (CI would otherwise pass while checking nothing) and a warning when it is
// the config's policy_dir (an agent may start with no policy).
func TestValidateDirectoryWithoutPolicyFiles(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	notHCL := filepath.Join(dir, "nothcl")
	good := filepath.Join(dir, "good")
	for _, d := range []string{empty, notHCL, good} {
		require.NoError(t, os.Mkdir(d, 0o700))
	}
	require.NoError(t, os.WriteFile(filepath.Join(notHCL, "p.tf"), []byte("# not read\n"), 0o600))
	src, err := os.ReadFile("testdata/policies/golden.hcl")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(good, "p.hcl"), src, 0o600))
	cfg := filepath.Join(dir, "tumult.hcl")
	require.NoError(t, os.WriteFile(cfg, []byte("policy_dir = \"empty\"\n"), 0o600))
	broken := filepath.Join(dir, "broken.hcl")
	require.NoError(t, os.WriteFile(broken, []byte("policy_dir = \"good\"\nlog_level = \"loud\"\n"), 0o600))

	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
	}{
		{"empty dir given", []string{"validate", empty}, 1,
			`error: No policy files: directory "` + empty + `" holds no *.hcl file; name the directory or the files that hold the policies.` + "\n1 error, 0 warnings in 0 files (0 valid policies)\n"},
		{"dir of other files given", []string{"validate", notHCL}, 1,
			`error: No policy files: directory "` + notHCL + `" holds no *.hcl file`},
		{"one of two dirs empty", []string{"validate", good, empty}, 1,
			"1 error, 0 warnings in 1 file (3 valid policies)\n"},
		{"a broken config: the policies named are checked too", []string{"validate", "-config", broken, good}, 1,
			"1 error, 0 warnings in 1 file (3 valid policies)\n"},
		{"a broken config and no path: its policy_dir is not read", []string{"validate", "-config", broken}, 1,
			"1 error, 0 warnings in 0 files (0 valid policies)\n"},
		{"empty policy_dir of the config", []string{"validate", "-config", cfg}, 0,
			cfg + `:1:14: warning: No policy files: policy_dir "` + empty + `" holds no *.hcl file, so no policy is checked or scheduled.`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCmd(t, tc.args...)
			require.Equal(t, tc.wantCode, code, out+errOut)
			require.Contains(t, out, tc.wantOut)
		})
	}

	out, _, code := runCmd(t, "validate", "-json", empty)
	require.Equal(t, 1, code)
	var r validateReport
	require.NoError(t, json.Unmarshal([]byte(out), &r))
	require.False(t, r.Valid)
	require.Equal(t, 1, r.Errors)
	require.Equal(t, "No policy files", r.Diagnostics[0].Summary)
}

// plan exits 1 on policy errors, as validate does; 2 is for bad usage.
func TestPlanExitStatus(t *testing.T) {
	broken := "testdata/broken.hcl"
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"policy errors", []string{"plan", broken}, 1, "tumult plan: 4 errors; fix them first"},
		{"empty directory", []string{"plan", t.TempDir()}, 1, "tumult plan: 1 error; fix it first"},
		{"bad flag value", []string{"plan", "-hours", "0", broken}, 2, "-hours must be between 1 and 2160"},
		{"clean", []string{"plan", "-from", "2026-11-30T00:00:00Z", "testdata/policies"}, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCmd(t, tc.args...)
			require.Equal(t, tc.wantCode, code, out+errOut)
			require.Contains(t, errOut, tc.wantErr)
		})
	}
}
