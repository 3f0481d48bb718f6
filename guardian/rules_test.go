package guardian

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAnnouncementLabels(t *testing.T) {
	since := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	h := Announcement{Kind: AnnounceHalted, Reason: `alert HighErrorRate on alertmanager "main"`, Since: since}
	require.Equal(t, map[string]string{"alertname": "TumultHalted", "severity": "info", "tumult_announcement": "true"}, h.Labels())
	require.Contains(t, h.Annotations()["description"], "HighErrorRate")

	chaos := Announcement{Kind: AnnounceFault, Policy: "p", Target: "docker", Member: "m", Fault: "kill", Since: since}
	tests := []struct {
		labels map[string]string
		want   bool
	}{
		{chaos.Labels(), true},
		{h.Labels(), true},
		{map[string]string{"alertname": "ChaosExperimentActive"}, true},
		{map[string]string{"alertname": "X", "tumult_announcement": "true"}, true},
		{map[string]string{"alertname": "X", "tumult_announcement": "false"}, false},
		{map[string]string{"alertname": "HighErrorRate"}, false},
		{nil, false},
	}
	for _, tc := range tests {
		require.Equal(t, tc.want, IsAnnouncement(tc.labels), "%v", tc.labels)
	}
}

func TestBudgetGateBlocks(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name      string
		min, left *float64
		err       error
		want      bool
	}{
		{"no gate", nil, f(0.1), nil, false},
		{"plenty left", f(0.25), f(0.5), nil, false},
		{"exactly at the gate", f(0.25), f(0.25), nil, false},
		{"below the gate", f(0.25), f(0.1), nil, true},
		{"overspent", f(0.25), f(-2), nil, true},
		{"unknown budget fails closed", f(0.25), nil, errors.New("no data"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, BudgetGateBlocks(tc.min, tc.left, tc.err))
		})
	}
}

func TestConsulCheckTrips(t *testing.T) {
	for status, want := range map[string]bool{"critical": true, "warning": false, "passing": false, "maintenance": false, "": false} {
		require.Equal(t, want, ConsulCheckTrips(status), status)
	}
}
