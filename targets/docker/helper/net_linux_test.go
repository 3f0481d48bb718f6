//go:build linux

package helper

import (
	"net/netip"
	"testing"

	"github.com/google/nftables/expr"
	"github.com/stretchr/testify/require"
)

func TestMatchers(t *testing.T) {
	cases := []struct {
		name string
		spec NetSpec
		want int // rule prefixes
	}{
		{"unfiltered: one empty prefix", NetSpec{}, 1},
		{"two ranges", NetSpec{Filtered: true, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}}, 2},
		{"ports only: tcp and udp per port", NetSpec{Filtered: true, Ports: []int{80, 443}}, 4},
		{"ranges × ports × protocols", NetSpec{Filtered: true, CIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, Ports: []int{5432}}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Len(t, matchers(tc.spec, true), tc.want)
		})
	}
}

func TestAddrMatchMasksThePrefix(t *testing.T) {
	m := addrMatch(netip.MustParsePrefix("10.1.0.0/20"), true)
	pl := m[2].(*expr.Payload)
	require.Equal(t, uint32(16), pl.Offset, "IPv4 destination")
	bw := m[3].(*expr.Bitwise)
	require.Equal(t, []byte{0xff, 0xff, 0xf0, 0x00}, bw.Mask)
	require.Equal(t, []byte{10, 1, 0, 0}, m[4].(*expr.Cmp).Data)

	m6 := addrMatch(netip.MustParsePrefix("fd00::/8"), false)
	require.Equal(t, uint32(8), m6[2].(*expr.Payload).Offset, "IPv6 source")
	require.Len(t, m6[3].(*expr.Bitwise).Mask, 16)
}

func TestLossThresholdIsInBasisPoints(t *testing.T) {
	e := lossDrop(2.5)
	require.Equal(t, []byte{0, 0, 0, 250}, e[2].(*expr.Cmp).Data, "2.5% of 10000, big-endian after the byteorder")
}
