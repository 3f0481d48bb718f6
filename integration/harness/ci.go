package harness

import (
	"os"
	"testing"
)

// InCI reports whether the tests run in CI, where every component must be
// present.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing reports that a component the test needs is not available: it
// fails the test in CI and skips it elsewhere, saying what is missing and
// why.
func Missing(t testing.TB, what string, err error) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s is required in CI (CI=true) but not available: %v", what, err)
	}
	t.Skipf("%s not available, skipping (set CI=true to make this fail): %v", what, err)
}
