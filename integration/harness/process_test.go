package harness

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestLogTail(t *testing.T) {
	tests := []struct {
		name, text string
		n          int
		want       string
	}{
		{name: "empty", text: "", n: 3, want: ""},
		{name: "fewer lines than n", text: "a\nb\n", n: 3, want: "a\nb"},
		{name: "more lines than n", text: "a\nb\nc\nd\n", n: 2, want: "c\nd"},
		{name: "no final newline", text: "a\nb\nc", n: 2, want: "b\nc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "log")
			require.NoError(t, os.WriteFile(path, []byte(tc.text), 0o644))
			got, err := logTail(path, tc.n)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := logTail(filepath.Join(t.TempDir(), "missing"), 3)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// testProcess runs sh with its log in a temp dir; atEnd
// counts its calls.
func testProcess(t *testing.T, ends *int) *process {
	t.Helper()
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	dir := t.TempDir()
	return &process{
		tb: t, name: "test server", bin: sh, dir: dir, logPath: filepath.Join(dir, "server.log"),
		atEnd: func() { *ends++ },
	}
}

func TestProcessStop(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		timeout time.Duration
		// wantErr is "" for a clean exit.
		wantErr    string
		wantKilled bool
	}{
		{name: "exits 0 on SIGTERM", script: `trap 'exit 0' TERM; echo up; while :; do sleep 0.05; done`, timeout: 10 * time.Second},
		{name: "dies of SIGTERM", script: `echo up; exec sleep 60`, timeout: 10 * time.Second, wantErr: "test server exited after SIGTERM: signal: terminated"},
		{name: "ignores SIGTERM", script: `trap '' TERM; echo up; exec sleep 60`, timeout: 200 * time.Millisecond, wantErr: "test server did not exit within 200ms of SIGTERM; killed it", wantKilled: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ends int
			p := testProcess(t, &ends)
			_, err := p.start("nowhere", []string{"-c", tc.script})
			require.NoError(t, err)
			require.True(t, p.running())
			require.NotZero(t, p.pid())
			// Wait for the script's first line: a SIGTERM before its trap
			// is set would end it the default way.
			require.Eventually(t, func() bool {
				b, _ := os.ReadFile(p.logPath)
				return strings.Contains(string(b), "up\n")
			}, 10*time.Second, 10*time.Millisecond)

			_, err = p.start("nowhere", []string{"-c", tc.script})
			require.EqualError(t, err, "test server is already running")

			_, err = p.stop(tc.timeout)
			if tc.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.EqualError(t, err, tc.wantErr)
			}
			require.Equal(t, tc.wantKilled, errors.Is(err, errKilled))
			require.False(t, p.running())
			require.Zero(t, p.pid())
			_, err = p.stop(tc.timeout)
			require.EqualError(t, err, "test server is not running")
		})
	}
}

func TestProcessStartAgainAndEnd(t *testing.T) {
	var ends int
	t.Run("run", func(t *testing.T) {
		p := testProcess(t, &ends)
		for i := range 2 {
			exited, err := p.start("127.0.0.1:1", []string{"-c", "echo run; exit 3"})
			require.NoError(t, err, "start %d", i)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Fatal("sh -c 'exit 3' did not exit")
			}
			require.EqualError(t, p.exitErr(), "exit status 3")
			// It exited by itself: still on record until it is ended,
			// and ending it must not block or fail.
			require.True(t, p.running())
			p.end(time.Second)
			require.False(t, p.running())
		}
		p.kill() // not running: a no-op
		b, err := os.ReadFile(p.logPath)
		require.NoError(t, err)
		require.Equal(t, 2, strings.Count(string(b), "--- test server starting on 127.0.0.1:1 at "), "a banner per start:\n%s", b)
		require.Equal(t, 2, strings.Count(string(b), "run\n"), "the output of both runs:\n%s", b)
		require.Zero(t, ends, "atEnd runs at test end")
	})
	require.Equal(t, 1, ends, "atEnd is registered once however often the process started")
}
