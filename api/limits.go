package api

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Caps on the free text of requests, in bytes. A reason is stored in the
// control state and written to the log; a policy name is looked up. Both
// are short in real use; the caps keep one request from filling the
// ledger or the log.
const (
	// MaxReason caps a reason (pause, resume, halt).
	MaxReason = 1024
	// MaxName caps a policy name or a duration given in a request.
	MaxName = 256
)

// CheckText returns an error (saying which field and why) when value is
// longer than max bytes, is not UTF-8, or holds control characters other
// than tab: text of a request is one line, so that it cannot forge lines
// of the log or of a table.
func CheckText(field, value string, max int) error {
	if len(value) > max {
		return fmt.Errorf("%s is %d bytes long; at most %d are allowed", field, len(value), max)
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	if i := strings.IndexFunc(value, func(r rune) bool { return r != '\t' && unicode.IsControl(r) }); i >= 0 {
		return fmt.Errorf("%s holds a control character (%q at byte %d); it must be one line of text", field, value[i:i+utf8.RuneLen([]rune(value[i:])[0])], i)
	}
	return nil
}
