package policies

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"

	"github.com/inferensys/tumult/internal/hclread"
)

// The rule for selectors: a target must pick out a real part of what its
// endpoint runs. A selector whose effect is every member, or no member,
// is an error at the attribute that makes it so, however it is spelled.
// A typo there would otherwise pass validate and then either disrupt
// anything opted in on the engine or silently never act.

// decodeDockerSelector reads labels and name of a docker target into sel
// and checks that together they select some containers but not all.
func (l *loader) decodeDockerSelector(d *hclread.Diags, b *hclread.Block, sel *Selector) {
	optIn, protect := l.safety()
	before := len(d.List.Errs())
	restricts := false // some attribute narrows the fleet below "everything opted in"
	labels := b.Attrs["labels"]
	if labels != nil {
		if m, ok := d.StringMap(labels); ok {
			sel.Labels = m
			restricts = checkLabels(d, labels, m, optIn, protect)
		}
	}
	name := b.Attrs["name"]
	if name != nil {
		if s, ok := d.Str(name); ok {
			re, err := regexp.Compile(s)
			if err != nil {
				d.Errorf(name.Expr.Range(), "Invalid name pattern", "name must be an RE2 regular expression: %s.", err)
				return
			}
			sel.Name = re
			switch nameCoverage(s) {
			case coverNothing:
				d.Errorf(name.Expr.Range(), "Target matches nothing", "name %q matches no container name Docker allows ([a-zA-Z0-9][a-zA-Z0-9_.-]+, without the leading slash), so this policy would never act.", s)
			case coverAll:
				if restricts {
					d.Warnf(name.Expr.Range(), "Name matches everything", "name %q matches every container name, so it narrows nothing; remove it or make it pick the names you mean.", s)
				} else {
					d.Errorf(name.Expr.Range(), "Target too broad", "name %q matches every container name, so this target would select every opted-in container on the endpoint; give labels or a name pattern that picks the fleet, e.g. \"^checkout-\".", s)
				}
			default:
				restricts = true
			}
		}
	}
	if restricts || len(d.List.Errs()) > before {
		return
	}
	switch {
	case labels == nil && name == nil:
		d.Errorf(b.Def, "Target too broad", "A docker target needs labels or name; without them it would match every opted-in container on the endpoint.")
	case labels != nil:
		d.Errorf(labels.Expr.Range(), "Target too broad", "labels %s narrow nothing (every target must carry %s = \"true\" anyway), so this target would match every opted-in container on the endpoint; add the labels of the fleet, e.g. { \"app\" = \"checkout\" }.", formatLabels(sel.Labels), optIn)
	}
}

// checkLabels reports label pairs that select nothing, and says whether
// some pair narrows the fleet. Errors point at the offending key or value.
func checkLabels(d *hclread.Diags, a *hcl.Attribute, labels map[string]string, optIn string, protect map[string]string) bool {
	keyRange, valueRange := map[string]hcl.Range{}, map[string]hcl.Range{}
	if pairs, ds := hcl.ExprMap(a.Expr); !ds.HasErrors() {
		for _, kv := range pairs {
			k, kds := kv.Key.Value(nil)
			if kds.HasErrors() || !k.IsWhollyKnown() || k.IsNull() {
				continue
			}
			if ks, err := convert.Convert(k, cty.String); err == nil {
				keyRange[ks.AsString()], valueRange[ks.AsString()] = kv.Key.Range(), kv.Value.Range()
			}
		}
	}
	at := func(m map[string]hcl.Range, k string) hcl.Range {
		if r, ok := m[k]; ok {
			return r
		}
		return a.Expr.Range()
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	restricts := false
	for _, k := range keys {
		v := labels[k]
		pv, protected := protect[k]
		switch {
		case strings.TrimSpace(k) == "":
			d.Errorf(at(keyRange, k), "Target matches nothing", "labels has an empty key; Docker labels always have a name, so no container matches.")
		case strings.TrimSpace(v) == "":
			d.Errorf(at(valueRange, k), "Invalid label value", "label %q has an empty value; write the value the fleet's containers carry (a label without value does not tell a fleet apart).", k)
		case k == optIn && v != "true":
			d.Errorf(at(valueRange, k), "Target matches nothing", "label %q = %q selects only containers that are not opted in (tumult touches a container only when %s = \"true\"), so this policy would never act.", k, v, optIn)
		case k == optIn:
			// Every member must carry it anyway: it narrows nothing.
		case protected && pv == v:
			d.Errorf(at(keyRange, k), "Target matches nothing", "label %q = %q is protected by the agent config's safety block, so no container this selects may ever be touched.", k, v)
		default:
			restricts = true
		}
	}
	return restricts
}

func formatLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = strconv.Quote(k) + " = " + strconv.Quote(m[k])
	}
	return "{ " + strings.Join(parts, ", ") + " }"
}

// checkNomadSelector refuses nomad selectors whose effect is everything or
// nothing. Nomad IDs and names hold no surrounding blanks, and "*" as a
// namespace means every namespace to Nomad's API.
func checkNomadSelector(d *hclread.Diags, b *hclread.Block, sel *Selector) {
	for _, name := range []string{"namespace", "job", "group", "task"} {
		a := b.Attrs[name]
		if a == nil {
			continue
		}
		v := map[string]string{"namespace": sel.Namespace, "job": sel.Job, "group": sel.Group, "task": sel.Task}[name]
		switch {
		case strings.TrimSpace(v) == "":
			d.Errorf(a.Expr.Range(), "Invalid value", "%s must not be empty.", name)
		case strings.TrimSpace(v) != v:
			d.Errorf(a.Expr.Range(), "Target matches nothing", "%s %q has blanks around it; Nomad names never do, so nothing would match.", name, v)
		case strings.Contains(v, "*"):
			d.Errorf(a.Expr.Range(), "Target too broad", "%s %q: Nomad reads \"*\" as a wildcard over every %s; name one.", name, v, name)
		}
	}
}

// defaultOptIn is the agent config's default opt-in label, which
// selectors are checked against when no config is given.
const defaultOptIn = "tumult.enable"

// safety is the opt-in label and protected pairs that selectors are
// checked against: the agent config's, or the default without one.
func (l *loader) safety() (string, map[string]string) {
	if l.cfg == nil {
		return defaultOptIn, nil
	}
	return l.cfg.OptIn()
}
