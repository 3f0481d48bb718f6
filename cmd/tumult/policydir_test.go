package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/config"
)

// noDefaultPolicyDir is os.Stat on a machine without the default
// policy_dir, whatever this machine holds there.
func noDefaultPolicyDir(path string) (os.FileInfo, error) {
	if path == config.DefaultPolicyDir {
		return nil, &fs.PathError{Op: "stat", Path: path, Err: fs.ErrNotExist}
	}
	return os.Stat(path)
}

// A policy_dir that cannot be read is reported where it is written (or at
// the config's first line when the default is used), by validate and plan.
func TestPolicyDirProblemAtItsAttribute(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "notadir.hcl")
	require.NoError(t, os.WriteFile(file, []byte("# not a directory\n"), 0o600))
	cases := []struct {
		name, config string
		cmd          string
		wantCode     int
		wantOut      string // in stdout for validate, stderr for plan
		wantErr      string
	}{
		{"missing dir", "data_dir = \"d\"\npolicy_dir = \"nope\"\n", "validate", 1,
			`:2:14: error: Cannot read policy_dir: policy_dir "` + filepath.Join(dir, "nope") + `": stat`, ""},
		{"a file, not a dir", "policy_dir = \"notadir.hcl\"\n", "validate", 1,
			`:1:14: error: Cannot read policy_dir: policy_dir "` + file + `": it is not a directory`, ""},
		{"default dir missing", "data_dir = \"d\"\n", "validate", 1,
			`:1:1: error: Cannot read policy_dir: policy_dir is not set, so the default "/etc/tumult/policies" is read: stat /etc/tumult/policies: file does not exist; set policy_dir in this file.`, ""},
		{"plan says it once, in the singular", "policy_dir = \"nope\"\n", "plan", 1,
			"", "1 error; fix it first"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "tumult"+string(rune('a'+i))+".hcl")
			require.NoError(t, os.WriteFile(cfg, []byte(tc.config), 0o600))
			var out, errb bytes.Buffer
			code := runEnv(&env{out: &out, err: &errb, getenv: os.Getenv, now: time.Now, stat: noDefaultPolicyDir},
				[]string{tc.cmd, "-config", cfg})
			errOut := errb.String()
			require.Equal(t, tc.wantCode, code, out.String()+errOut)
			if tc.cmd == "validate" {
				require.Contains(t, out.String(), cfg+tc.wantOut)
			} else {
				require.Contains(t, errOut, cfg+":1:14: error: Cannot read policy_dir")
				require.Contains(t, errOut, tc.wantErr)
			}
		})
	}
}
