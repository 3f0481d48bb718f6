package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/policies"
)

func TestFaultTextNamesTheMechanism(t *testing.T) {
	cases := []struct {
		rec  ledger.Record
		want string
	}{
		{ledger.Record{Fault: policies.FaultSpec{Kind: policies.FaultKill}}, "kill"},
		{ledger.Record{Fault: policies.FaultSpec{Kind: policies.FaultNetwork}, Mechanism: "netfilter"}, "network via netfilter"},
		{ledger.Record{Fault: policies.FaultSpec{Kind: policies.FaultStress}, Mechanism: "cgroup", DryRun: true}, "stress via cgroup (dry run)"},
		{ledger.Record{}, "-"},
	}
	for _, tc := range cases {
		require.Equal(t, tc.want, faultText(tc.rec))
	}
}
