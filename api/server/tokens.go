package server

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/inferensys/tumult/internal/fileread"
)

// MinTokenLength is the shortest token a tokens file may hold. 16
// characters of `openssl rand -hex 16` are 64 bits; shorter ones are
// guessable by someone who can reach the API.
const MinTokenLength = 16

// tokenName is what a name may look like: it is written into audit records
// as the actor, so it stays printable and free of separators.
var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]*$`)

// Tokens are the API's bearer tokens, each with the name of who holds it.
// The zero value holds no token and refuses every one.
type Tokens struct {
	entries []tokenEntry
	// warning is what LoadTokens found worth a loud word but not a
	// refusal (a file others can read).
	warning string
}

type tokenEntry struct {
	name string
	// sum is the token's SHA-256: comparing fixed-length digests keeps the
	// comparison's time independent of the token's length.
	sum [sha256.Size]byte
}

// LoadTokens reads a tokens file (agent config http.tokens_file): one
// "name:token" per line; blank lines and lines starting with '#' are
// skipped. The name is the actor recorded for the token's calls. Names and
// tokens must be unique and tokens at least MinTokenLength characters.
// Errors name the file and line but never print a token.
//
// As ssh does with its keys, LoadTokens refuses a file that group or others
// may write (anyone on the host could add a token of their own) and, via
// Warning, warns when they may read it. Only a regular file of at most
// fileread.MaxTokensFile bytes is read.
func LoadTokens(path string) (Tokens, error) {
	f, info, err := fileread.Open(path)
	if err != nil {
		return Tokens{}, fmt.Errorf("read tokens file: %w", err)
	}
	defer f.Close()
	perm := info.Mode().Perm()
	if perm&0o022 != 0 {
		return Tokens{}, fmt.Errorf("tokens file %s is writable by group or others (mode %04o): anyone on this host could add a token; run `chmod 600 %s`",
			path, perm, path)
	}
	if info.Size() > fileread.MaxTokensFile {
		return Tokens{}, fmt.Errorf("tokens file %s is %d bytes, more than the %d a tokens file may hold", path, info.Size(), fileread.MaxTokensFile)
	}
	t, err := parseTokens(io.LimitReader(f, fileread.MaxTokensFile), path)
	if err != nil {
		return Tokens{}, err
	}
	if perm&0o044 != 0 {
		t.warning = fmt.Sprintf("tokens file %s is readable by group or others (mode %04o): they can read every token; run `chmod 600 %s`", path, perm, path)
	}
	return t, nil
}

// Warning is what LoadTokens found wrong but not bad enough to refuse the
// file (it is readable by others), or "".
func (t *Tokens) Warning() string {
	if t == nil {
		return ""
	}
	return t.warning
}

func parseTokens(r io.Reader, path string) (Tokens, error) {
	var t Tokens
	nameLine := map[string]int{}
	sumLine := map[[sha256.Size]byte]string{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		fail := func(format string, args ...any) (Tokens, error) {
			return Tokens{}, fmt.Errorf("tokens file %s:%d: "+format, append([]any{path, line}, args...)...)
		}
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, token, ok := strings.Cut(text, ":")
		if !ok {
			return fail("expected name:token")
		}
		name, token = strings.TrimSpace(name), strings.TrimSpace(token)
		switch {
		case name == "":
			return fail("expected name:token, the name is empty")
		case !tokenName.MatchString(name):
			return fail("name %q may hold only letters, digits and . _ @ + -, and must start with a letter or digit", name)
		case token == "":
			return fail("the token of %q is empty", name)
		case strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			return fail("the token of %q contains spaces or control characters", name)
		case len(token) < MinTokenLength:
			return fail("the token of %q is %d characters long; use at least %d (e.g. the output of `openssl rand -hex 32`)",
				name, len(token), MinTokenLength)
		}
		if prev, dup := nameLine[name]; dup {
			return fail("name %q is already used on line %d", name, prev)
		}
		sum := sha256.Sum256([]byte(token))
		if prev, dup := sumLine[sum]; dup {
			return fail("the token of %q is the same as that of %q; give each its own", name, prev)
		}
		nameLine[name] = line
		sumLine[sum] = name
		t.entries = append(t.entries, tokenEntry{name: name, sum: sum})
	}
	if err := sc.Err(); err != nil {
		return Tokens{}, fmt.Errorf("read tokens file %s: %w", path, err)
	}
	if len(t.entries) == 0 {
		return Tokens{}, fmt.Errorf("tokens file %s holds no token; add lines \"name:token\", or remove tokens_file to run without authentication", path)
	}
	return t, nil
}

// Lookup returns the name of the token. It compares the token against
// every entry, in constant time each and without stopping at a match, so
// that the answer's timing says nothing about which entry matched or how
// much of a token was right.
func (t *Tokens) Lookup(token string) (name string, ok bool) {
	if t == nil {
		return "", false
	}
	sum := sha256.Sum256([]byte(token))
	found, index := 0, 0
	for i := range t.entries {
		eq := subtle.ConstantTimeCompare(sum[:], t.entries[i].sum[:])
		index = subtle.ConstantTimeSelect(eq, i, index)
		found |= eq
	}
	if found == 0 {
		return "", false
	}
	return t.entries[index].name, true
}

// Len is the number of tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}

// Names are the tokens' names in file order, for the startup log.
func (t *Tokens) Names() []string {
	if t == nil {
		return nil
	}
	names := make([]string, len(t.entries))
	for i, e := range t.entries {
		names[i] = e.name
	}
	return names
}
