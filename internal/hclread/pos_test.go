package hclread

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/stretchr/testify/require"
)

func TestPos(t *testing.T) {
	cases := []struct {
		name string
		rng  hcl.Range
		want string
	}{
		{"start of a block", hcl.Range{Filename: "policies/a.hcl", Start: hcl.Pos{Line: 1, Column: 1}, End: hcl.Pos{Line: 1, Column: 14}}, "policies/a.hcl:1:1"},
		{"range over lines", hcl.Range{Filename: "/etc/tumult/tumult.hcl", Start: hcl.Pos{Line: 12, Column: 8}, End: hcl.Pos{Line: 15, Column: 2}}, "/etc/tumult/tumult.hcl:12:8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, Pos(tc.rng))
		})
	}
}
