package hclread

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Diags collects diagnostics while a file is decoded, so that every
// mistake in it is reported, not only the first.
type Diags struct {
	List hcl.Diagnostics
}

// Add appends diagnostics as they are.
func (d *Diags) Add(ds ...*hcl.Diagnostic) { d.List = append(d.List, ds...) }

// Errorf reports an error at rng.
func (d *Diags) Errorf(rng hcl.Range, summary, format string, args ...any) {
	d.Add(&hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng.Ptr()})
}

// Warnf reports a warning at rng.
func (d *Diags) Warnf(rng hcl.Range, summary, format string, args ...any) {
	d.Add(&hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: rng.Ptr()})
}

// Pos names where rng starts the way diagnostics do, "file:line:column",
// for messages that point at a second place (the first of two duplicates)
// — not hcl.Range's own "file:line,column-column".
func Pos(rng hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", rng.Filename, rng.Start.Line, rng.Start.Column)
}

// Value evaluates an attribute as a constant: policies have no variables
// or functions.
func (d *Diags) Value(a *hcl.Attribute, want cty.Type) (cty.Value, bool) {
	v, ds := a.Expr.Value(nil)
	if ds.HasErrors() {
		d.Add(ds...)
		return cty.NilVal, false
	}
	if v.IsNull() {
		d.Errorf(a.Expr.Range(), "Invalid value", "%s must not be null.", a.Name)
		return cty.NilVal, false
	}
	cv, err := convert.Convert(v, want)
	if err != nil {
		d.Errorf(a.Expr.Range(), "Invalid value", "%s must be %s: %s.", a.Name, typeName(want), err)
		return cty.NilVal, false
	}
	if !cv.IsWhollyKnown() {
		d.Errorf(a.Expr.Range(), "Invalid value", "%s must be a constant.", a.Name)
		return cty.NilVal, false
	}
	return cv, true
}

func typeName(t cty.Type) string {
	switch {
	case t == cty.String:
		return "a string"
	case t == cty.Number:
		return "a number"
	case t == cty.Bool:
		return "true or false"
	case t.IsMapType():
		return "a map of strings"
	case t.IsListType() && t.ElementType() == cty.Number:
		return "a list of numbers"
	case t.IsListType():
		return "a list of strings"
	}
	return t.FriendlyName()
}

// Str reads a string attribute.
func (d *Diags) Str(a *hcl.Attribute) (string, bool) {
	v, ok := d.Value(a, cty.String)
	if !ok {
		return "", false
	}
	return v.AsString(), true
}

// Bool reads a true/false attribute.
func (d *Diags) Bool(a *hcl.Attribute) (bool, bool) {
	v, ok := d.Value(a, cty.Bool)
	if !ok {
		return false, false
	}
	return v.True(), true
}

// Number reads a finite number.
func (d *Diags) Number(a *hcl.Attribute) (float64, bool) {
	v, ok := d.Value(a, cty.Number)
	if !ok {
		return 0, false
	}
	f, _ := v.AsBigFloat().Float64()
	if math.IsInf(f, 0) || math.IsNaN(f) {
		d.Errorf(a.Expr.Range(), "Invalid number", "%s must be a finite number.", a.Name)
		return 0, false
	}
	return f, true
}

// Integer reads a whole number of at least min.
func (d *Diags) Integer(a *hcl.Attribute, min int) (int, bool) {
	f, ok := d.Number(a)
	if !ok {
		return 0, false
	}
	if f != math.Trunc(f) || f > math.MaxInt32 {
		d.Errorf(a.Expr.Range(), "Invalid number", "%s must be a whole number, got %g.", a.Name, f)
		return 0, false
	}
	if int(f) < min {
		d.Errorf(a.Expr.Range(), "Invalid number", "%s must be at least %d, got %g.", a.Name, min, f)
		return 0, false
	}
	return int(f), true
}

// StringMap reads a map of strings.
func (d *Diags) StringMap(a *hcl.Attribute) (map[string]string, bool) {
	v, ok := d.Value(a, cty.Map(cty.String))
	if !ok {
		return nil, false
	}
	out := map[string]string{}
	for k, e := range v.AsValueMap() {
		out[k] = e.AsString()
	}
	return out, true
}

// StringList reads a list of strings.
func (d *Diags) StringList(a *hcl.Attribute) ([]string, bool) {
	v, ok := d.Value(a, cty.List(cty.String))
	if !ok {
		return nil, false
	}
	var out []string
	for _, e := range v.AsValueSlice() {
		out = append(out, e.AsString())
	}
	return out, true
}

// Duration decodes a duration string. min is the smallest allowed value.
func (d *Diags) Duration(a *hcl.Attribute, min time.Duration) (time.Duration, bool) {
	s, ok := d.Str(a)
	if !ok {
		return 0, false
	}
	dur, err := ParseDuration(s)
	if err != nil {
		d.Errorf(a.Expr.Range(), "Invalid duration", "%s: %s.", a.Name, err)
		return 0, false
	}
	if dur < min {
		if min == 1 {
			d.Errorf(a.Expr.Range(), "Invalid duration", "%s must be positive, got %q.", a.Name, s)
		} else {
			d.Errorf(a.Expr.Range(), "Invalid duration", "%s must be at least %s, got %q.", a.Name, FormatDuration(min), s)
		}
		return 0, false
	}
	return dur, true
}

var durationPart = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h|d|w)`)

// ParseDuration reads durations as Go does ("90s", "1h30m") and also with
// days and weeks ("30d", "1w"), as Prometheus users write them.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	if s == "" {
		return 0, fmt.Errorf("empty duration; write a number and a unit, e.g. \"90s\", \"5m\", \"2h\", \"7d\"")
	}
	if s == "0" {
		return 0, nil
	}
	units := map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond,
		"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour, "w": 7 * 24 * time.Hour}
	var total float64
	for s != "" {
		m := durationPart.FindStringSubmatch(s)
		if m == nil {
			return 0, fmt.Errorf("%q is not a duration; write a number and a unit, e.g. \"90s\", \"5m\", \"2h\", \"7d\"", orig)
		}
		n, _ := strconv.ParseFloat(m[1], 64)
		total += n * float64(units[m[2]])
		s = s[len(m[0]):]
	}
	if total > float64(math.MaxInt64) {
		return 0, fmt.Errorf("%q is too long", orig)
	}
	return time.Duration(total), nil
}

// FormatDuration prints a duration the way a policy author writes it:
// "45m", "1h30m", "7d".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	for _, u := range []struct {
		n string
		d time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}} {
		if d >= u.d {
			fmt.Fprintf(&b, "%d%s", d/u.d, u.n)
			d %= u.d
		}
	}
	if d > 0 {
		b.WriteString(d.String())
	}
	return b.String()
}

// OneOf formats a list of allowed words for messages: "a, b or c".
func OneOf(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	if len(q) == 1 {
		return q[0]
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}
