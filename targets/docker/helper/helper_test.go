package helper

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseLog(t *testing.T) {
	cases := []struct {
		name string
		out  string
		want Status
	}{
		{"nothing yet", "", Status{Cleaned: -1}},
		{"ready", Ready(MechNetfilter) + "\n", Status{Mechanism: "netfilter", Cleaned: -1}},
		{"ready then cleaned", Ready(MechNetem) + "\n" + Cleaned(2) + "\n", Status{Mechanism: "netem", Cleaned: 2}},
		{"failed", Failed(errors.New("corrupt and duplicate need\n the kernel's netem")) + "\n", Status{Err: "corrupt and duplicate need the kernel's netem", Cleaned: -1}},
		{"noise around", "some other line\n" + Cleaned(0), Status{Cleaned: 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, ParseLog(tc.out))
		})
	}
}

func TestSpecRoundTrip(t *testing.T) {
	spec := NetSpec{Delay: 300 * time.Millisecond, Loss: 2.5, Filtered: true,
		CIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, Ports: []int{5432}, Until: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	var back NetSpec
	require.NoError(t, decode(Encode(spec), &back))
	require.Equal(t, spec, back)
	require.Error(t, decode("{", &back))
}
