package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestValidateRefusesWhatIsNotAPolicyFile: validate reads neither a
// device nor a FIFO nor a huge file; it names each and exits 1.
func TestValidateRefusesWhatIsNotAPolicyFile(t *testing.T) {
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.hcl")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	fifo := filepath.Join(dir, "fifo.hcl")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	big := filepath.Join(dir, "big.hcl")
	f, err := os.Create(big)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(50<<20))
	require.NoError(t, f.Close())

	out, errOut, code := runCmd(t, "validate", dir)
	require.Equal(t, 1, code, "stdout %q stderr %q", out, errOut)
	all := out + errOut
	require.Contains(t, all, zero+":1:1: error: Not a policy file: "+zero+" is not a regular file but a character device")
	require.Contains(t, all, fifo+":1:1: error: Not a policy file: "+fifo+" is not a regular file but a named pipe (FIFO)")
	require.Contains(t, all, big+":1:1: error: Policy file too large: "+big+" is too large: 52428800 bytes")
}

// TestAgentRefusesWorldWritableTokens: `chmod 666 tokens` once started
// without a word; now the agent refuses with one line saying what to run.
func TestAgentRefusesWorldWritableTokens(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	require.NoError(t, os.WriteFile(tokens, []byte("oncall:0123456789abcdef0123\n"), 0o600))
	require.NoError(t, os.Chmod(tokens, 0o666))
	require.NoError(t, os.Mkdir(filepath.Join(dir, "policies"), 0o700))
	cfg := filepath.Join(dir, "tumult.hcl")
	require.NoError(t, os.WriteFile(cfg, []byte(`data_dir = "`+filepath.Join(dir, "data")+`"
policy_dir = "`+filepath.Join(dir, "policies")+`"
http {
  address     = "127.0.0.1:0"
  tokens_file = "`+tokens+`"
}
docker "local" {}
`), 0o600))
	_, errOut, code := runCmd(t, "agent", "-config", cfg)
	require.Equal(t, 1, code, errOut)
	require.Contains(t, errOut, "tokens file "+tokens+" is writable by group or others (mode 0666)")
	require.Contains(t, errOut, "run `chmod 600 "+tokens+"`")
}
