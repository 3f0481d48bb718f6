package agent

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api"
	"github.com/inferensys/tumult/guardian"
)

func TestAPIErrConflictSaysWhyOnly(t *testing.T) {
	why := fmt.Errorf("%w: tumult is halted (incident 41); resume it first", guardian.ErrConflict)
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"through the ledger", fmt.Errorf("pause: %w", fmt.Errorf("ledger /var/lib/tumult/ledger.db: update control state: %w", fmt.Errorf("update control state: %w", why))),
			"conflict: tumult is halted (incident 41); resume it first"},
		{"straight from the controller", why, "conflict: tumult is halted (incident 41); resume it first"},
		{"the bare class", guardian.ErrConflict, "conflict: conflicts with the current state"},
		{"joined with another error", errors.Join(fmt.Errorf("pause: %w", why), errors.New("restore: docker down")),
			"conflict: pause: conflicts with the current state: tumult is halted (incident 41); resume it first\nrestore: docker down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := (&Agent{}).apiErr("pause", tc.err)
			require.ErrorIs(t, got, api.ErrConflict)
			require.Equal(t, tc.want, got.Error())
		})
	}
}
