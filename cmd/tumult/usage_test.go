package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHelpAndUnknownCommands(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // substrings
		stderr   []string
		noStdout bool
		noStderr bool
	}{
		{"help", []string{"help"}, 0, []string{"Usage: tumult <command>", "status", "Show the daemon's state"}, nil, false, true},
		{"-h", []string{"-h"}, 0, []string{"Usage: tumult <command>"}, nil, false, true},
		{"--help", []string{"--help"}, 0, []string{"Usage: tumult <command>"}, nil, false, true},
		{"help of a command", []string{"help", "pause"}, 0, []string{"Usage: tumult pause"}, nil, false, true},
		{"help lists itself", []string{"help"}, 0, []string{"\n    halt           Restore every fault at once and start no new one\n    help           Show this list, or a command's help and flags (tumult help COMMAND)\n    history        "}, nil, false, true},
		{"help of help", []string{"help", "help"}, 0, []string{"Usage: tumult help [COMMAND]\n\n  Show this list, or a command's help and flags (tumult help COMMAND).\n"}, nil, false, true},
		{"no command", nil, 2, nil, []string{"Usage: tumult <command>"}, true, false},
		{"unknown command", []string{"staus"}, 2, nil, []string{`tumult: unknown command "staus"; run 'tumult help' for the list.`}, true, false},
		{"help of an unknown command", []string{"help", "nope"}, 2, nil, []string{`unknown command "nope"`}, true, false},
		{"unknown flag", []string{"--frob"}, 2, nil, []string{`unknown flag "--frob"`}, true, false},
		{"--version", []string{"--version"}, 0, []string{"tumult "}, nil, false, true},
		{"version", []string{"version"}, 0, []string{"tumult "}, nil, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(tc.args, &out, &errOut)
			require.Equal(t, tc.code, code, "stdout %q stderr %q", out.String(), errOut.String())
			for _, s := range tc.stdout {
				require.Contains(t, out.String(), s)
			}
			for _, s := range tc.stderr {
				require.Contains(t, errOut.String(), s)
			}
			if tc.noStdout {
				require.Empty(t, out.String())
			}
			if tc.noStderr {
				require.Empty(t, errOut.String())
			}
		})
	}
}

func TestVersionLine(t *testing.T) {
	cases := []struct {
		name string
		bi   buildInfo
		want string
	}{
		{"release", buildInfo{Version: "v1.4.0", Revision: "0123456789abcdef0123", Time: "2026-11-29T20:00:00Z", GoVersion: "go1.26.8"},
			"tumult v1.4.0 (revision 0123456789ab, 2026-11-29T20:00:00Z; go1.26.8)"},
		{"work tree with changes", buildInfo{Version: "(devel)", Revision: "0123456789abcdef0123", Time: "2026-11-29T20:00:00Z", Modified: true, GoVersion: "go1.26.8"},
			"tumult (devel) (revision 0123456789ab, 2026-11-29T20:00:00Z, modified; go1.26.8)"},
		{"no VCS", buildInfo{Version: "(devel)", GoVersion: "go1.26.8"}, "tumult (devel) (no VCS revision recorded; go1.26.8)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.bi.String())
		})
	}
	// The test binary has build info: the version command prints it.
	var out bytes.Buffer
	require.Equal(t, 0, run([]string{"version"}, &out, &bytes.Buffer{}))
	require.Equal(t, readBuildInfo().String()+"\n", out.String())
	require.NotEmpty(t, readBuildInfo().GoVersion)
}

// make help colours target names only on a terminal without NO_COLOR;
// piped into a file or a CI log it is plain text. script(1) gives make a
// terminal.
func TestMakeHelpColourOnlyOnATerminal(t *testing.T) {
	const esc = "\x1b[36m"
	cases := []struct {
		name       string
		cmd        []string
		noColor    bool
		wantColour bool
	}{
		{"piped", []string{"make", "-s", "--no-print-directory", "help"}, false, false},
		{"terminal", []string{"script", "-qec", "make -s --no-print-directory help", "/dev/null"}, false, true},
		{"terminal with NO_COLOR", []string{"script", "-qec", "make -s --no-print-directory help", "/dev/null"}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(tc.cmd[0], tc.cmd[1:]...)
			cmd.Dir = filepath.Join("..", "..")
			cmd.Env = append(os.Environ(), "NO_COLOR=")
			if tc.noColor {
				cmd.Env = append(cmd.Env, "NO_COLOR=1")
			}
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, string(out))
			require.Equal(t, tc.wantColour, strings.Contains(string(out), esc), "%q", out)
			plain := strings.NewReplacer(esc, "", "\x1b[0m", "", "\r", "").Replace(string(out))
			require.Contains(t, plain, "  build            Build bin/tumult\n")
		})
	}
}
