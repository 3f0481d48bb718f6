package policies

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// Sort orders diagnostics by file, line and column, errors before warnings
// at the same place, so output is stable.
func Sort(ds hcl.Diagnostics) {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i].Subject, ds[j].Subject
		switch {
		case a == nil || b == nil:
			return a == nil && b != nil
		case a.Filename != b.Filename:
			return a.Filename < b.Filename
		case a.Start.Line != b.Start.Line:
			return a.Start.Line < b.Start.Line
		case a.Start.Column != b.Start.Column:
			return a.Start.Column < b.Start.Column
		}
		return ds[i].Severity < ds[j].Severity
	})
}

// Message is a diagnostic's text on one line: summary and detail.
func Message(d *hcl.Diagnostic) string {
	if d.Detail == "" {
		return d.Summary
	}
	return d.Summary + ": " + d.Detail
}

// Location is "file:line:column", or "" when the diagnostic has no place.
func Location(d *hcl.Diagnostic) string {
	if d.Subject == nil {
		return ""
	}
	return fmt.Sprintf("%s:%d:%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
}

func severity(d *hcl.Diagnostic) string {
	if d.Severity == hcl.DiagWarning {
		return "warning"
	}
	return "error"
}

// WriteDiagnostics prints diagnostics the way compilers do:
//
//	policies/checkout.hcl:12:21: error: Invalid duration: restore_after: "2x" is not a duration; …
//	   12 |     restore_after = "2x"
//	      |                     ^^^^
func WriteDiagnostics(w io.Writer, ds hcl.Diagnostics, srcs Sources) {
	for _, d := range ds {
		loc := Location(d)
		if loc != "" {
			loc += ": "
		}
		fmt.Fprintf(w, "%s%s: %s\n", loc, severity(d), Message(d))
		if d.Subject == nil {
			continue
		}
		f := srcs[d.Subject.Filename]
		if f == nil {
			continue
		}
		line, ok := sourceLine(f.Bytes, d.Subject.Start.Line)
		if !ok {
			continue
		}
		num := fmt.Sprint(d.Subject.Start.Line)
		pad := strings.Repeat(" ", len(num))
		fmt.Fprintf(w, "  %s | %s\n", num, strings.ReplaceAll(line, "\t", " "))
		width := 1
		if d.Subject.End.Line == d.Subject.Start.Line && d.Subject.End.Column > d.Subject.Start.Column {
			width = d.Subject.End.Column - d.Subject.Start.Column
		}
		fmt.Fprintf(w, "  %s | %s%s\n", pad, strings.Repeat(" ", max(0, d.Subject.Start.Column-1)), strings.Repeat("^", width))
	}
}

func sourceLine(src []byte, n int) (string, bool) {
	lines := bytes.Split(src, []byte("\n"))
	if n < 1 || n > len(lines) {
		return "", false
	}
	return strings.TrimRight(string(lines[n-1]), "\r"), true
}

// JSONDiagnostic is the machine-readable form of one diagnostic.
type JSONDiagnostic struct {
	Severity  string `json:"severity"`
	Summary   string `json:"summary"`
	Detail    string `json:"detail,omitempty"`
	File      string `json:"file,omitempty"`
	Line      int    `json:"line,omitempty"`
	Column    int    `json:"column,omitempty"`
	EndLine   int    `json:"end_line,omitempty"`
	EndColumn int    `json:"end_column,omitempty"`
}

// ToJSON converts diagnostics for -json output.
func ToJSON(ds hcl.Diagnostics) []JSONDiagnostic {
	out := make([]JSONDiagnostic, 0, len(ds))
	for _, d := range ds {
		j := JSONDiagnostic{Severity: severity(d), Summary: d.Summary, Detail: d.Detail}
		if s := d.Subject; s != nil {
			j.File, j.Line, j.Column, j.EndLine, j.EndColumn = s.Filename, s.Start.Line, s.Start.Column, s.End.Line, s.End.Column
		}
		out = append(out, j)
	}
	return out
}

// Count returns the number of errors and warnings.
func Count(ds hcl.Diagnostics) (errs, warns int) {
	for _, d := range ds {
		if d.Severity == hcl.DiagError {
			errs++
		} else {
			warns++
		}
	}
	return errs, warns
}
