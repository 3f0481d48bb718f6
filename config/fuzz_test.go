package config

import (
	"os"
	"testing"
)

// The parser must never panic, whatever the input.

func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile("../examples/tumult.hcl"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`guardian { halt_on { slo "a" { error_ratio = "x$window" objective = 0.9 } } }`))
	f.Fuzz(func(t *testing.T, src []byte) {
		cfg, _, ds := ParseConfig(src, "f.hcl")
		if cfg == nil && !ds.HasErrors() {
			t.Fatal("no config and no error")
		}
	})
}
