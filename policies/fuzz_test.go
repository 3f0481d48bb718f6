package policies

import (
	"os"
	"path/filepath"
	"testing"
)

// The parsers must never panic, whatever the input.

func FuzzParsePolicies(f *testing.F) {
	files, _ := filepath.Glob("../examples/policies/*.hcl")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(policy()))
	f.Add([]byte(`policy "x" { limits { max_disrupted = "99.5%" } window { cron = "@weekly" duration = "1h" } }`))
	cfg := testRefs{names: map[string][]string{"docker": {"local"}}, path: "t.hcl"}
	f.Fuzz(func(t *testing.T, src []byte) {
		ps, ds := ParsePolicies(src, "f.hcl", LoadOptions{Config: cfg, Now: testNow})
		if ds.HasErrors() && len(ps) > 0 {
			for _, p := range ps {
				if p == nil {
					t.Fatal("nil policy returned")
				}
			}
		}
		for _, d := range ds {
			_ = Message(d)
			_ = Location(d)
		}
	})
}
