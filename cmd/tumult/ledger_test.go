package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/ledger"
	"github.com/inferensys/tumult/ledger/bolt"
	"github.com/inferensys/tumult/policies"
	"github.com/inferensys/tumult/targets"
)

// TestLedgerCheckAndAccept walks what an operator does when the agent
// refuses a truncated ledger: check it, learn the fault that may be left
// active, accept it, and find a ledger an agent opens.
func TestLedgerCheckAndAccept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ledger.db")
	s, err := bolt.Open(path, bolt.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Begin(t.Context(), ledger.Record{
		ID: "f-7", Policy: "checkout-crash", Phase: ledger.Injected,
		Member: targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: "abc", Name: "checkout-1"},
		Fault:  policies.FaultSpec{Kind: policies.FaultKill},
	}))
	require.NoError(t, s.Close())

	out, _, code := runCmd(t, "ledger", "check", path)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `(?m)^state\s+ok$`, out)
	require.Regexp(t, `(?m)^f-7\s+checkout-crash\s+kill\s+checkout-1\s+injected`, out)

	require.NoError(t, os.Truncate(path, 0))
	out, _, code = runCmd(t, "ledger", "check", path)
	require.Equal(t, 1, code, out)
	require.Regexp(t, `(?m)^state\s+empty$`, out)
	require.Regexp(t, `(?m)^f-7\s+checkout-crash\s+kill\s+checkout-1 docker/local/abc$`, out)

	out, errOut, code := runCmd(t, "ledger", "accept", path)
	require.Equal(t, 0, code, errOut)
	require.Contains(t, out, "the next start creates a new ledger")

	out, _, code = runCmd(t, "ledger", "check", path)
	require.Equal(t, 0, code, out)
	require.Regexp(t, `(?m)^state\s+new$`, out)
}

// TestAgentRefusesTruncatedLedger: the agent does not take a truncated
// ledger for a new one; it stops with one line naming the file, the fault
// that may be left active and what to do.
func TestAgentRefusesTruncatedLedger(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	path := filepath.Join(data, "ledger.db")
	s, err := bolt.Open(path, bolt.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Begin(t.Context(), ledger.Record{
		ID: "f-9", Policy: "checkout-crash", Phase: ledger.Injected,
		Member: targets.Member{Driver: policies.DriverDocker, Endpoint: "local", ID: "abc", Name: "checkout-1"},
		Fault:  policies.FaultSpec{Kind: policies.FaultStop},
	}))
	require.NoError(t, s.Close())
	require.NoError(t, os.Truncate(path, 0))

	require.NoError(t, os.Mkdir(filepath.Join(dir, "policies"), 0o700))
	cfg := filepath.Join(dir, "tumult.hcl")
	require.NoError(t, os.WriteFile(cfg, []byte(`data_dir = "`+data+`"
policy_dir = "`+filepath.Join(dir, "policies")+`"
http { address = "127.0.0.1:0" }
docker "local" {}
`), 0o600))
	_, errOut, code := runCmd(t, "agent", "-config", cfg)
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "cannot start")
	require.Contains(t, errOut, path+" is empty")
	require.Contains(t, errOut, "f-9 (policy checkout-crash, stop on checkout-1 docker/local/abc)")
	require.Contains(t, errOut, "tumult ledger accept "+path)
	require.NotContains(t, errOut, "goroutine", "no Go dump")
}
