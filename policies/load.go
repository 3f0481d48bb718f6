package policies

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/inferensys/tumult/internal/hclread"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/inferensys/tumult/internal/fileread"
)

// Sources maps file names to parsed files, so diagnostics can be printed
// with the offending source line.
type Sources map[string]*hcl.File

// LoadOptions say how policies are checked.
type LoadOptions struct {
	// Config, when set, is used to check and fill references to endpoints
	// and sources. Without it those references are not checked. The agent
	// config (config.Config) implements it.
	Config Refs
	// Now anchors checks that look ahead, such as a window that never
	// opens. Zero means time.Now().
	Now time.Time
}

// Set is the result of loading policy files.
type Set struct {
	// Policies that decoded without errors, in file order. Policies of a
	// file with errors are still here if they themselves are fine; callers
	// that need all-or-nothing check the diagnostics.
	Policies []*Policy
	Files    []string
	Sources  Sources
}

// ByName returns the policy with that name.
func (s *Set) ByName(name string) (*Policy, bool) {
	for _, p := range s.Policies {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

// Refs is what a policy's references are checked against: the named
// blocks of the agent config.
type Refs interface {
	// Names lists the labels of the config's blocks of kind ("docker",
	// "nomad", "alertmanager", "prometheus") in config order.
	Names(kind string) []string
	// HasConsul reports whether the config has a consul block.
	HasConsul() bool
	// Path is the config's file, for messages.
	Path() string
	// OptIn is the label (Docker) or job meta key (Nomad) that must be
	// "true" on a member for tumult to touch it, and the label pairs that
	// protect a member; selectors are checked against them.
	OptIn() (label string, protect map[string]string)
}

// Known reports whether refs has a block of kind labelled name; when not,
// have says what it has, for messages: `it has "a" or "b"`, or `it has
// none`.
func Known(refs Refs, kind, name string) (ok bool, have string) {
	names := refs.Names(kind)
	if slices.Contains(names, name) {
		return true, ""
	}
	if len(names) == 0 {
		return false, "it has none"
	}
	return false, "it has " + oneOf(names)
}

type loader struct {
	cfg Refs
	now time.Time
}

// PolicyFiles expands paths — files or directories — into the list of
// policy files: every *.hcl directly inside a directory, in name order.
func PolicyFiles(paths []string) ([]string, hcl.Diagnostics) {
	var files []string
	var ds hcl.Diagnostics
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			ds = append(ds, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot read policy path", Detail: err.Error()})
			continue
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(p, "*.hcl"))
		if err != nil {
			ds = append(ds, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Cannot list policy directory", Detail: err.Error()})
			continue
		}
		sort.Strings(matches)
		files = append(files, matches...)
	}
	return files, ds
}

// LoadPolicies reads every policy in paths (files or directories). All
// problems of all files are returned, errors and warnings.
func LoadPolicies(paths []string, opts LoadOptions) (*Set, hcl.Diagnostics) {
	files, ds := PolicyFiles(paths)
	parser := hclparse.NewParser()
	set := &Set{Files: files, Sources: Sources{}}
	var declared []declaration
	for _, f := range files {
		src, err := fileread.Regular(f, fileread.MaxPolicyFile)
		if err != nil {
			ds = append(ds, unreadable(f, err))
			continue
		}
		file, pds := parser.ParseHCL(src, f)
		set.Sources[f] = file
		ds = append(ds, pds...)
		if file == nil || pds.HasErrors() {
			continue
		}
		ps, decls, fds := decodePolicyBody(file.Body, opts)
		ds = append(ds, fds...)
		set.Policies = append(set.Policies, ps...)
		declared = append(declared, decls...)
	}
	set.Policies, ds = dedupe(set.Policies, declared, ds)
	return set, ds
}

// unreadable is the diagnostic for a policy file that cannot be read: it
// points at the file (line 1), so that the file is named wherever
// diagnostics are printed.
func unreadable(file string, err error) *hcl.Diagnostic {
	summary := "Cannot read policy file"
	switch {
	case errors.Is(err, fileread.ErrNotRegular):
		summary = "Not a policy file"
	case errors.Is(err, fileread.ErrTooLarge):
		summary = "Policy file too large"
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError, Summary: summary, Detail: err.Error() + ".",
		Subject: &hcl.Range{Filename: file, Start: hcl.InitialPos, End: hcl.InitialPos},
	}
}

// ParsePolicies decodes policies from source held in memory, as if read
// from filename. Used by tests and the fuzzer.
func ParsePolicies(src []byte, filename string, opts LoadOptions) ([]*Policy, hcl.Diagnostics) {
	file, ds := hclparse.NewParser().ParseHCL(src, filename)
	if file == nil || ds.HasErrors() {
		return nil, ds
	}
	ps, decls, fds := decodePolicyBody(file.Body, opts)
	ps, ds = dedupe(ps, decls, append(ds, fds...))
	return ps, ds
}

// declaration is one policy block's name and where it was written, kept
// even when the block has errors, so a reused name is reported in the same
// run as the block's other mistakes.
type declaration struct {
	name string
	rng  hcl.Range
}

// decodePolicyBody returns the policies that decoded without error, every
// policy block declared (valid or not) and the diagnostics.
func decodePolicyBody(body hcl.Body, opts LoadOptions) ([]*Policy, []declaration, hcl.Diagnostics) {
	l := &loader{cfg: opts.Config, now: opts.Now}
	if l.now.IsZero() {
		l.now = time.Now()
	}
	d := &diags{}
	content, cds := body.Content(&hcl.BodySchema{Blocks: policyBlockSchema})
	d.Add(cds...)
	var out []*Policy
	var decls []declaration
	for _, b := range content.Blocks {
		decls = append(decls, declaration{name: b.Labels[0], rng: b.DefRange})
		if p := l.decodePolicy(d, b); p != nil {
			out = append(out, p)
		}
	}
	return out, decls, d.List
}

// dedupe reports every declared policy whose name was already used, whether
// or not either block decoded, and drops the later ones from ps.
func dedupe(ps []*Policy, decls []declaration, ds hcl.Diagnostics) ([]*Policy, hcl.Diagnostics) {
	first := map[string]hcl.Range{}
	dropped := map[hcl.Range]bool{}
	for _, dc := range decls {
		if at, ok := first[dc.name]; ok {
			ds = append(ds, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate policy name",
				Detail:   fmt.Sprintf("A policy named %q is already defined at %s; names must be unique across all policy files.", dc.name, hclread.Pos(at)),
				Subject:  dc.rng.Ptr(),
			})
			dropped[dc.rng] = true
			continue
		}
		first[dc.name] = dc.rng
	}
	var out []*Policy
	for _, p := range ps {
		if !dropped[p.DeclRange] {
			out = append(out, p)
		}
	}
	return out, ds
}

func (l *loader) reference(d *diags, b *block, attr, kind string) string {
	return Reference(d, b, attr, kind, l.cfg)
}

// Reference reads attribute attr of b, which names a block of kind in the
// agent config. Left out, it defaults to the config's only block of that
// kind. With refs nil nothing is checked. Mistakes go to d with the
// attribute's (or the block's) range.
func Reference(d *hclread.Diags, b *hclread.Block, attr, kind string, refs Refs) string {
	a := b.Attrs[attr]
	if a == nil {
		if refs == nil {
			return ""
		}
		names := refs.Names(kind)
		if len(names) == 1 {
			return names[0]
		}
		if len(names) == 0 {
			d.Errorf(b.Def, "No "+kind+" block", "This needs a %s block in the agent config %s, and it has none.", kind, refs.Path())
		} else {
			d.Errorf(b.Def, "Missing argument "+attr, "The agent config %s has %d %s blocks (%s); say which with %s = \"…\".", refs.Path(), len(names), kind, strings.Join(names, ", "), attr)
		}
		return ""
	}
	name, ok := d.Str(a)
	if !ok || refs == nil {
		return name
	}
	known, have := Known(refs, kind, name)
	if known {
		return name
	}
	d.Errorf(a.Expr.Range(), "Unknown "+kind, "%s %q is not a %s block of the agent config %s; %s.", attr, name, kind, refs.Path(), have)
	return name
}

// lookahead is how far checks for windows that never open look.
const lookahead = 366 * 24 * time.Hour

// warnPolicy reports what is legal but almost certainly not meant.
func (l *loader) warnPolicy(d *diags, p *Policy, b *block) {
	// Each check looks at few instants (the first opening, the freezes'
	// ends, the zone's offset changes), never at every opening of the year:
	// a window opening every minute costs what one opening yearly does.
	from, to := l.now, l.now.Add(lookahead)
	windows := b.OfType("window")
	var open bool
	for i, w := range p.Windows {
		if _, ok := w.FirstOverlap(from, to); !ok {
			d.Warnf(windows[i].DefRange, "Window never opens", "cron %q does not fire in the year after %s, so this window never opens.", w.Cron, from.Format("2006-01-02"))
			continue
		}
		open = true
		warnClockChanges(d, w, windows[i], from, to)
	}
	if _, ok := p.NextOpen(from, lookahead); open && !ok {
		freezes := b.OfType("freeze")
		d.Warnf(freezes[0].DefRange, "Policy always frozen", "Freezes cover every opening of this policy's windows in the year after %s: it will never inject a fault.", from.Format("2006-01-02"))
	}
	lim := p.Limits
	limits := limitsBlock(b)
	switch {
	case lim.MaxDisrupted.IsPercent && lim.MaxDisrupted.Percent == 0, !lim.MaxDisrupted.IsPercent && lim.MaxDisrupted.Count == 0:
		d.Warnf(limits, "No fault possible", "max_disrupted is 0, so no member may ever be disrupted.")
	}
	if lim.MinHealthy == 0 {
		d.Warnf(limits, "Whole fleet may go down", "min_healthy = 0 lets tumult disrupt every member of the fleet at once.")
	}
	if p.Target.Task != "" && (p.Fault.Kind == FaultKill || p.Fault.Kind == FaultStop) {
		d.Warnf(b.OfType("target")[0].DefRange, "Task ignored", "task only applies to restart and signal faults; a %s fault stops the whole allocation.", p.Fault.Kind)
	}
	if p.Every.Mean > 0 && len(p.Windows) > 0 && p.Every.Min > 0 {
		longest := time.Duration(0)
		for _, w := range p.Windows {
			longest = max(longest, w.Duration)
		}
		if p.Every.Min >= longest {
			d.Warnf(b.OfType("every")[0].DefRange, "At most one fault per window", "min (%s) is at least as long as the longest window (%s): at most one fault fits in each opening.", FormatDuration(p.Every.Min), FormatDuration(longest))
		}
	}
}

// limitsBlock returns where limit warnings point: the limits block, or the
// policy header when the defaults apply.
func limitsBlock(b *block) hcl.Range {
	if ls := b.OfType("limits"); len(ls) > 0 {
		return ls[0].DefRange
	}
	return b.Def
}
