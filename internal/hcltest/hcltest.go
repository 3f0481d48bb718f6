// Package hcltest helps tests of HCL decoders say where a diagnostic must
// point: a marker in the source stands at the expected line:column.
//
// Only tests import it; it must not import any tumult package.
package hcltest

import (
	"fmt"
	"strings"
)

// Marker stands where a test expects a diagnostic to point.
const Marker = "‸"

// Located strips every Marker from src and returns the markers'
// line:column positions (1-based; columns count characters, as HCL does).
func Located(src string) (string, []string) {
	var locs []string
	var out strings.Builder
	line, col := 1, 1
	for _, r := range src {
		if string(r) == Marker {
			locs = append(locs, fmt.Sprintf("%d:%d", line, col))
			continue
		}
		out.WriteRune(r)
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++ // HCL counts columns in characters
		}
	}
	return out.String(), locs
}
