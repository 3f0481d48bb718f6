package policies

import (
	"github.com/hashicorp/hcl/v2"
)

// block is one HCL block read against a schema: its attributes by name and
// its nested blocks in order.
type block struct {
	typ    string
	labels []string
	// def is the block's header (`target "docker"`), where messages about
	// the block as a whole point.
	def        hcl.Range
	labelRange []hcl.Range
	attrs      hcl.Attributes
	blocks     hcl.Blocks
}

// blockSpec is what may appear in a block. Required attributes are
// checked here rather than by HCL, so that a missing one is reported at
// the block's header instead of at its opening brace.
type blockSpec struct {
	attrs    []string
	required []string
	blocks   []hcl.BlockHeaderSchema
}

func (d *diags) read(b *hcl.Block, spec blockSpec) *block {
	return d.readBody(b.Body, b.Type, b.Labels, b.DefRange, b.LabelRanges, spec)
}

func (d *diags) readBody(body hcl.Body, typ string, labels []string, def hcl.Range, labelRanges []hcl.Range, spec blockSpec) *block {
	schema := &hcl.BodySchema{Blocks: spec.blocks}
	for _, a := range spec.attrs {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: a})
	}
	content, ds := body.Content(schema)
	d.add(ds...)
	out := &block{typ: typ, labels: labels, def: def, labelRange: labelRanges, attrs: content.Attributes, blocks: content.Blocks}
	for _, r := range spec.required {
		if _, ok := content.Attributes[r]; !ok {
			what := typ
			if typ == "" {
				what = "the file"
			} else {
				what = "a " + typ + " block"
			}
			d.errorf(def, "Missing required argument", "The argument %q is required in %s.", r, what)
		}
	}
	return out
}

// ofType returns the nested blocks of one type.
func (b *block) ofType(typ string) hcl.Blocks {
	var out hcl.Blocks
	for _, nb := range b.blocks {
		if nb.Type == typ {
			out = append(out, nb)
		}
	}
	return out
}

// atMostOne returns the single block of a type, reporting every extra one.
func (d *diags) atMostOne(b *block, typ string) *hcl.Block {
	bs := b.ofType(typ)
	for _, extra := range bs[min(1, len(bs)):] {
		d.errorf(extra.DefRange, "Duplicate "+typ+" block", "Only one %s block is allowed here; the first is at %s.", typ, bs[0].DefRange.String())
	}
	if len(bs) == 0 {
		return nil
	}
	return bs[0]
}

// exactlyOne is atMostOne that also reports a missing block at the
// enclosing block's header.
func (d *diags) exactlyOne(b *block, typ, example string) *hcl.Block {
	one := d.atMostOne(b, typ)
	if one == nil {
		d.errorf(b.def, "Missing "+typ+" block", "A %s block needs exactly one %s block, e.g. %s.", b.typ, typ, example)
	}
	return one
}
