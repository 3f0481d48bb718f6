package ledgertest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/ledger"
)

func TestMemory(t *testing.T) {
	Run(t,
		func(t *testing.T) ledger.Ledger {
			m := NewMemory(nil)
			t.Cleanup(func() { require.NoError(t, m.Close()) })
			return m
		},
		func(t *testing.T, old ledger.Ledger) ledger.Ledger {
			m := old.(*Memory).Reopen()
			t.Cleanup(func() { require.NoError(t, m.Close()) })
			return m
		})
}
