package ledger

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"
)

// idTime is the time prefix of record IDs: UTC, to the second, so that IDs
// sort by when they were made and a person can read one in a table.
const idTime = "20060102-150405"

// NewID returns a new record ID such as "20261016-093015-4f3a9c2b": the UTC
// time to the second, then 32 random bits. IDs made in different seconds
// sort by time; within one second they are in random order.
func NewID() string {
	// crypto/rand.Reader never fails (since Go 1.24 a failure is fatal
	// inside crypto/rand), so the error cannot happen here.
	id, _ := NewIDFrom(time.Now(), rand.Reader)
	return id
}

// NewIDFrom is NewID with the time and randomness given, for tests and for
// deterministic runs.
func NewIDFrom(now time.Time, random io.Reader) (string, error) {
	var b [4]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("make record ID: read random bytes: %w", err)
	}
	return now.UTC().Format(idTime) + "-" + hex.EncodeToString(b[:]), nil
}
