package policies

import (
	"time"

	"github.com/inferensys/tumult/internal/hclread"
)

// The decoding kit policies share with the agent config: diagnostics with
// their ranges, blocks read against a schema.
type (
	diags     = hclread.Diags
	block     = hclread.Block
	blockSpec = hclread.Spec
)

// ParseDuration reads durations as Go does ("90s", "1h30m") and also with
// days and weeks ("30d", "1w"), as Prometheus users write them. It is the
// syntax of every duration in tumult's HCL files, its API and its CLI.
func ParseDuration(s string) (time.Duration, error) { return hclread.ParseDuration(s) }

// FormatDuration prints a duration the way a policy author writes it:
// "45m", "1h30m", "7d".
func FormatDuration(d time.Duration) string { return hclread.FormatDuration(d) }

// oneOf formats a list of allowed words for messages: "a, b or c".
func oneOf(words []string) string { return hclread.OneOf(words) }
