package consul

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestNextIndex(t *testing.T) {
	for _, tc := range []struct {
		name            string
		prev, got, want uint64
	}{
		{"first read", 0, 42, 42},
		{"moved on", 42, 57, 57},
		{"unchanged after the wait time", 57, 57, 57},
		{"went backwards: start again", 57, 12, 0},
		{"zero never blocks: use 1", 0, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, nextIndex(tc.prev, tc.got))
		})
	}
}
