package policies

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

// testRefs stands for the agent config in policy tests: the config
// package imports policies, so its Config cannot be used here.
type testRefs struct {
	names   map[string][]string
	consul  bool
	path    string
	protect map[string]string
}

var _ Refs = testRefs{}

func (r testRefs) Names(kind string) []string { return r.names[kind] }
func (r testRefs) HasConsul() bool            { return r.consul }
func (r testRefs) Path() string               { return r.path }
func (r testRefs) OptIn() (string, map[string]string) {
	return "tumult.enable", r.protect
}
