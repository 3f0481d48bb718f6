package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/inferensys/tumult/api/server"
)

func writeTokensFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestLoadTokensErrors(t *testing.T) {
	const good = "0123456789abcdef0123"
	tests := []struct {
		name    string
		content string
		want    string // after "tokens file PATH:"
	}{
		{"no colon", "# ops\nalice " + good + "\n", "2: expected name:token"},
		{"empty name", ":" + good, "1: expected name:token, the name is empty"},
		{"bad name", "al ice:" + good, `1: name "al ice" may hold only`},
		{"empty token", "\n\nalice:   \n", `3: the token of "alice" is empty`},
		{"short token", "alice:short-token", `1: the token of "alice" is 11 characters long; use at least 16`},
		{"space in token", "alice:0123456789 abcdef", `1: the token of "alice" contains spaces`},
		{"duplicate name", "alice:" + good + "\nbob:" + good + "x\n# c\nalice:" + good + "y", `4: name "alice" is already used on line 1`},
		{"duplicate token", "alice:" + good + "\nbob:" + good, `2: the token of "bob" is the same as that of "alice"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTokensFile(t, tt.content)
			_, err := server.LoadTokens(path)
			require.Error(t, err)
			require.Contains(t, err.Error(), "tokens file "+path+":"+tt.want)
			// A token must never appear in an error message.
			require.NotContains(t, err.Error(), good)
		})
	}

	t.Run("no tokens", func(t *testing.T) {
		path := writeTokensFile(t, "# nobody yet\n\n")
		_, err := server.LoadTokens(path)
		require.ErrorContains(t, err, "holds no token")
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := server.LoadTokens(filepath.Join(t.TempDir(), "absent"))
		require.ErrorIs(t, err, os.ErrNotExist)
		require.ErrorContains(t, err, "read tokens file")
	})
}

func TestTokensLookup(t *testing.T) {
	path := writeTokensFile(t, strings.Join([]string{
		"# on-call",
		"alice:aaaaaaaaaaaaaaaaaaaa",
		"  bob : bbbbbbbbbbbbbbbb:with:colons  ",
		"",
		"alertmanager:cccccccccccccccccccccccccccccccc\r",
	}, "\n"))
	tokens, err := server.LoadTokens(path)
	require.NoError(t, err)
	require.Equal(t, 3, tokens.Len())
	require.Equal(t, []string{"alice", "bob", "alertmanager"}, tokens.Names())

	tests := []struct {
		token string
		name  string
		ok    bool
	}{
		{"aaaaaaaaaaaaaaaaaaaa", "alice", true},
		{"bbbbbbbbbbbbbbbb:with:colons", "bob", true},
		{"cccccccccccccccccccccccccccccccc", "alertmanager", true},
		{"aaaaaaaaaaaaaaaaaaa", "", false},   // prefix
		{"aaaaaaaaaaaaaaaaaaaaa", "", false}, // one more
		{"AAAAAAAAAAAAAAAAAAAA", "", false},
		{"", "", false},
		{"alice", "", false},
	}
	for _, tt := range tests {
		name, ok := tokens.Lookup(tt.token)
		require.Equal(t, tt.ok, ok, "token %q", tt.token)
		require.Equal(t, tt.name, name, "token %q", tt.token)
	}

	var none *server.Tokens
	_, ok := none.Lookup("aaaaaaaaaaaaaaaaaaaa")
	require.False(t, ok)
	_, ok = (&server.Tokens{}).Lookup("")
	require.False(t, ok)
}

// TestLoadTokensPermissions: a tokens file anyone on the host may write
// would let them add a token of their own; it is refused with one line
// saying what to run. One they may read is loaded with a warning.
func TestLoadTokensPermissions(t *testing.T) {
	tests := []struct {
		mode    os.FileMode
		err     string
		warning string
	}{
		{0o666, "is writable by group or others (mode 0666): anyone on this host could add a token; run `chmod 600 ", ""},
		{0o620, "is writable by group or others (mode 0620)", ""},
		{0o602, "is writable by group or others (mode 0602)", ""},
		{0o644, "", "is readable by group or others (mode 0644): they can read every token; run `chmod 600 "},
		{0o640, "", "is readable by group or others (mode 0640)"},
		{0o600, "", ""},
		{0o400, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			path := writeTokensFile(t, "oncall:0123456789abcdef0123\n")
			require.NoError(t, os.Chmod(path, tt.mode))
			tokens, err := server.LoadTokens(path)
			if tt.err != "" {
				require.ErrorContains(t, err, "tokens file "+path+" "+tt.err)
				require.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			require.Equal(t, 1, tokens.Len())
			if tt.warning == "" {
				require.Empty(t, tokens.Warning())
			} else {
				require.Contains(t, tokens.Warning(), "tokens file "+path+" "+tt.warning)
			}
		})
	}
}

func TestLoadTokensRefusesFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, syscall.Mkfifo(path, 0o600))
	_, err := server.LoadTokens(path)
	require.ErrorContains(t, err, path+" is not a regular file but a named pipe (FIFO)")
}
