package guardian

import (
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/internal/testlog"
	"github.com/inferensys/tumult/policies"
)

// TestMissingWiresAreSaidOnce: what is missing is said in one warning at
// start, not once per layer that notices it.
func TestMissingWiresAreSaidOnce(t *testing.T) {
	cases := []struct {
		name   string
		global []string
		pols   func(t *testing.T) []*policies.Policy
		want   string // the one WARN line's message; "" when none
	}{
		{"no wires at all", nil, func(*testing.T) []*policies.Policy { return nil }, "no trip wires: nothing halts tumult on its own"},
		{"policy wires only", nil, func(t *testing.T) []*policies.Policy {
			return []*policies.Policy{policy("checkout", alertWire(t, `service="checkout"`))}
		},
			"no global trip wires (guardian { halt_on { … } }); only per-policy ones apply"},
		{"global wires", []string{`severity="page"`}, func(t *testing.T) []*policies.Policy {
			return []*policies.Policy{policy("checkout", alertWire(t, `service="checkout"`))}
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var buf testlog.Buffer
			s := setup{policies: tc.pols(t), opts: func(o *WatcherOptions) {
				o.Logger = hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Warn, DisableTime: true})
			}}
			if tc.global != nil {
				s.cfg.HaltOn = alertWire(t, tc.global...)
			}
			newHarness(t, s)
			if tc.want == "" {
				require.Never(t, func() bool { return strings.Contains(buf.String(), "trip wires") }, 200*time.Millisecond, 20*time.Millisecond)
				return
			}
			require.Eventually(t, func() bool { return strings.Contains(buf.String(), tc.want) }, waitLimit, 5*time.Millisecond)
			require.Equal(t, 1, strings.Count(buf.String(), "trip wires"), buf.String())
		})
	}
}
