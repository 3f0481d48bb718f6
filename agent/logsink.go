package agent

import (
	"io"
	"sync"
	"sync/atomic"
)

// LogSink is the agent's log output. A write to it never fails and never
// stops the agent: an error of the writer below (a reader that went away,
// a full disk, a closed file) is counted and swallowed, since a daemon
// that holds faults must go on to restore them whether or not anyone can
// read about it. Lines that could not be written are lost; the count is
// the metric tumult_log_write_errors_total.
type LogSink struct {
	mu     sync.Mutex
	w      io.Writer
	failed atomic.Uint64
	// lastErr is the writer's last error, for a message once it works
	// again; guarded by mu.
	lastErr error
}

// NewLogSink wraps w.
func NewLogSink(w io.Writer) *LogSink { return &LogSink{w: w} }

// Write writes p to the writer below and always reports success.
func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.w.Write(p); err != nil {
		s.failed.Add(1)
		s.lastErr = err
	}
	return len(p), nil
}

// Failed is how many writes failed so far.
func (s *LogSink) Failed() uint64 { return s.failed.Load() }

// LastError is the writer's most recent error, or nil.
func (s *LogSink) LastError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr
}
