package fileread

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "zz.hcl")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	zero := filepath.Join(dir, "zero.hcl")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	big := filepath.Join(dir, "big.hcl")
	require.NoError(t, os.WriteFile(big, make([]byte, 101), 0o600))
	ok := filepath.Join(dir, "ok.hcl")
	require.NoError(t, os.WriteFile(ok, []byte("policy {}"), 0o600))
	link := filepath.Join(dir, "link.hcl")
	require.NoError(t, os.Symlink(ok, link))
	sub := filepath.Join(dir, "dir.hcl")
	require.NoError(t, os.Mkdir(sub, 0o700))

	tests := []struct {
		name, path string
		want       error
		msg        string
	}{
		{"FIFO", fifo, ErrNotRegular, fifo + " is not a regular file but a named pipe (FIFO)"},
		{"symlink to /dev/zero", zero, ErrNotRegular, zero + " is not a regular file but a character device"},
		{"directory", sub, ErrNotRegular, sub + " is not a regular file but a directory"},
		{"over the cap", big, ErrTooLarge, big + " is too large: 101 bytes, more than the 100 this file may hold"},
		{"missing", filepath.Join(dir, "none.hcl"), os.ErrNotExist, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Regular(tt.path, 100)
			require.ErrorIs(t, err, tt.want)
			require.ErrorContains(t, err, tt.msg)
		})
	}
	for _, p := range []string{ok, link} {
		data, err := Regular(p, 100)
		require.NoError(t, err)
		require.Equal(t, "policy {}", string(data))
	}
}
