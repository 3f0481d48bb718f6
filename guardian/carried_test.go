package guardian

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/clock"
	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/ledgertest"
)

func TestReportCarriedOver(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		state ledger.Control
		want  []string // one substring per WARN line, in order
	}{
		{"armed: nothing to say", ledger.Control{State: ledger.Armed}, nil},
		{"global halt", ledger.Control{State: ledger.Halted, Actor: "guardian", Source: "alertmanager/main", Reason: "alert CheckoutDown firing", Since: t0.Add(-time.Hour)},
			[]string{`[WARN]  control: halted, carried over from an earlier run: no new faults until resumed: policy="(all)" actor=guardian source=alertmanager/main reason="alert CheckoutDown firing" since=2026-03-02T09:00:00Z resume_with="tumult resume -reason \"…\""`}},
		{"pause with an end", ledger.Control{State: ledger.Paused, Actor: "alice", Reason: "deploy", Since: t0.Add(-time.Minute), Until: t0.Add(time.Hour)},
			[]string{`paused, carried over from an earlier run`, `until=2026-03-02T11:00:00Z`, `(or wait: the pause ends by itself)`}},
		{"policy halt and an expired pause", ledger.Control{State: ledger.Armed, Policies: map[string]ledger.PolicyControl{
			"checkout": {State: ledger.Halted, Actor: "bob", Reason: "slo burn", Since: t0.Add(-time.Hour)},
			"old":      {State: ledger.Paused, Actor: "carol", Reason: "gone by now", Until: t0.Add(-time.Second)},
		}}, []string{`halted, carried over from an earlier run: no new faults until resumed: policy=checkout actor=bob reason="slo burn" since=2026-03-02T09:00:00Z resume_with="tumult resume -policy checkout -reason \"…\""`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			led := ledgertest.NewMemory(clk.Now)
			_, err := led.UpdateControl(ctx, func(c *ledger.Control) error { *c = tc.state; return nil })
			require.NoError(t, err)
			var buf bytes.Buffer
			log := hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info, DisableTime: true})
			c := NewController(ControllerOptions{Ledger: led, Restorer: &fakeRestorer{}, Clock: clk, Logger: log.Named("control")})
			n, err := c.ReportCarriedOver(ctx)
			require.NoError(t, err)
			require.Equal(t, len(tc.want) > 0, n > 0)
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(tc.want) == 0 {
				require.Empty(t, strings.TrimSpace(buf.String()))
				return
			}
			require.Len(t, lines, n, buf.String())
			for _, w := range tc.want {
				require.Contains(t, buf.String(), w)
			}
		})
	}
}
