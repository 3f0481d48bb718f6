package agent

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestLogSinkSwallowsAndCountsWriteErrors(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		failed uint64
	}{
		{"writes", nil, 0},
		{"broken pipe", syscall.EPIPE, 3},
		{"full disk", syscall.ENOSPC, 3},
		{"closed file", os.ErrClosed, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewLogSink(failingWriter{tt.err})
			if tt.err == nil {
				s = NewLogSink(&discard{})
			}
			for range 3 {
				n, err := s.Write([]byte("line\n"))
				require.NoError(t, err)
				require.Equal(t, 5, n)
			}
			require.Equal(t, tt.failed, s.Failed())
			if tt.err != nil {
				require.True(t, errors.Is(s.LastError(), tt.err))
			}
		})
	}
}

func TestLogSinkOnAPipeWhoseReaderIsGone(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, r.Close())
	s := NewLogSink(w)
	n, err := s.Write([]byte("nobody reads this\n"))
	require.NoError(t, err)
	require.Equal(t, 18, n)
	require.Equal(t, uint64(1), s.Failed())
	require.ErrorIs(t, s.LastError(), syscall.EPIPE)
}

type discard struct{}

func (*discard) Write(p []byte) (int, error) { return len(p), nil }
