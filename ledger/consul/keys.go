package consul

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/inferensys/tumult/config"
)

// Relative key names under the prefix.
const (
	keySchema     = "schema"
	keyControl    = "control"
	keyLeader     = "leader"
	dirActive     = "active/"
	dirHistory    = "history/"
	dirIDs        = "ids/"
	dirInjections = "injections/"
)

// schemaVersion is written on first Open and checked on every Open, so that
// a future layout change can migrate instead of misreading.
const schemaVersion = "1"

// timeLayout encodes times in keys: UTC, fixed width for years 0000–9999,
// so that byte order is time order, and readable in `consul kv get`.
const timeLayout = "20060102T150405.000000000Z"

// timeKey encodes t for a key.
func timeKey(t time.Time) string { return t.UTC().Format(timeLayout) }

// timeIDKey is a time key, a dash, and a record ID. The time part holds no
// dash, so the first dash separates it from the ID.
func timeIDKey(t time.Time, id string) string { return timeKey(t) + "-" + id }

// splitTimeIDKey parses a key made by timeIDKey (without its directory).
func splitTimeIDKey(k string) (time.Time, string, error) {
	ts, id, ok := strings.Cut(k, "-")
	if !ok {
		return time.Time{}, "", fmt.Errorf("key %q: no time-ID separator", k)
	}
	t, err := time.Parse(timeLayout, ts)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("key %q: %w", k, err)
	}
	return t, id, nil
}

// policyDir is the directory of one policy's injection index. Policy names
// are escaped so that a slash in one cannot reach into another's.
func policyDir(policy string) string {
	return dirInjections + url.PathEscape(policy) + "/"
}

// normPrefix makes a prefix end in exactly one slash and start with none:
// Consul keys never start with a slash, and "tumult" and "tumult/" mean the
// same place.
func normPrefix(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return config.DefaultConsulPrefix
	}
	return p + "/"
}
