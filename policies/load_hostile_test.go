package policies

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/stretchr/testify/require"
)

// TestLoadPoliciesRefusesWhatIsNotAPolicyFile: whatever stands at *.hcl in
// a policy directory, loading returns soon with a diagnostic naming it,
// and the good files beside it still load.
func TestLoadPoliciesRefusesWhatIsNotAPolicyFile(t *testing.T) {
	tests := []struct {
		name    string
		make    func(t *testing.T, path string)
		summary string
		detail  string
	}{
		{"FIFO", func(t *testing.T, path string) { require.NoError(t, syscall.Mkfifo(path, 0o600)) },
			"Not a policy file", "is not a regular file but a named pipe (FIFO)"},
		{"symlink to /dev/zero", func(t *testing.T, path string) { require.NoError(t, os.Symlink("/dev/zero", path)) },
			"Not a policy file", "is not a regular file but a character device"},
		{"50 MB file", func(t *testing.T, path string) {
			f, err := os.Create(path)
			require.NoError(t, err)
			require.NoError(t, f.Truncate(50<<20))
			require.NoError(t, f.Close())
		}, "Policy file too large", "is too large: 52428800 bytes, more than the 1048576 this file may hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "good.hcl", policy())
			bad := filepath.Join(dir, "zz.hcl")
			tt.make(t, bad)

			type result struct {
				set *Set
				ds  hcl.Diagnostics
			}
			done := make(chan result, 1)
			go func() {
				set, ds := LoadPolicies([]string{dir}, LoadOptions{Now: testNow})
				done <- result{set, ds}
			}()
			var res result
			select {
			case res = <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("LoadPolicies still reading %s after 10s", bad)
			}
			require.Len(t, res.ds, 1, "%v", res.ds)
			d := res.ds[0]
			require.Equal(t, hcl.DiagError, d.Severity)
			require.Equal(t, tt.summary, d.Summary)
			require.Contains(t, d.Detail, bad+" "+tt.detail)
			require.Equal(t, bad+":1:1", Location(d))
			require.Len(t, res.set.Policies, 1, "the good file still loads")
		})
	}
}
