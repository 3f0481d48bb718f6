package hclread

import (
	"github.com/hashicorp/hcl/v2"
)

// Block is one HCL block read against a schema: its attributes by name and
// its nested blocks in order.
type Block struct {
	Type   string
	Labels []string
	// def is the block's header (`target "docker"`), where messages about
	// the block as a whole point.
	Def         hcl.Range
	LabelRanges []hcl.Range
	Attrs       hcl.Attributes
	Blocks      hcl.Blocks
}

// Spec is what may appear in a block. Required attributes are
// checked here rather than by HCL, so that a missing one is reported at
// the block's header instead of at its opening brace.
type Spec struct {
	Attrs    []string
	Required []string
	Blocks   []hcl.BlockHeaderSchema
}

// Read reads a nested block against spec.
func (d *Diags) Read(b *hcl.Block, spec Spec) *Block {
	return d.ReadBody(b.Body, b.Type, b.Labels, b.DefRange, b.LabelRanges, spec)
}

// ReadBody reads a body against spec; typ, labels and def describe the
// block it belongs to for messages (typ "" is the file itself).
func (d *Diags) ReadBody(body hcl.Body, typ string, labels []string, def hcl.Range, labelRanges []hcl.Range, spec Spec) *Block {
	schema := &hcl.BodySchema{Blocks: spec.Blocks}
	for _, a := range spec.Attrs {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: a})
	}
	content, ds := body.Content(schema)
	d.Add(ds...)
	out := &Block{Type: typ, Labels: labels, Def: def, LabelRanges: labelRanges, Attrs: content.Attributes, Blocks: content.Blocks}
	for _, r := range spec.Required {
		if _, ok := content.Attributes[r]; !ok {
			what := typ
			if typ == "" {
				what = "the file"
			} else {
				what = "a " + typ + " block"
			}
			d.Errorf(def, "Missing required argument", "The argument %q is required in %s.", r, what)
		}
	}
	return out
}

// OfType returns the nested blocks of one type.
func (b *Block) OfType(typ string) hcl.Blocks {
	var out hcl.Blocks
	for _, nb := range b.Blocks {
		if nb.Type == typ {
			out = append(out, nb)
		}
	}
	return out
}

// AtMostOne returns the single block of a type, reporting every extra one.
func (d *Diags) AtMostOne(b *Block, typ string) *hcl.Block {
	bs := b.OfType(typ)
	for _, extra := range bs[min(1, len(bs)):] {
		d.Errorf(extra.DefRange, "Duplicate "+typ+" block", "Only one %s block is allowed here; the first is at %s.", typ, bs[0].DefRange.String())
	}
	if len(bs) == 0 {
		return nil
	}
	return bs[0]
}

// ExactlyOne is AtMostOne that also reports a missing block at the
// enclosing block's header.
func (d *Diags) ExactlyOne(b *Block, typ, example string) *hcl.Block {
	one := d.AtMostOne(b, typ)
	if one == nil {
		d.Errorf(b.Def, "Missing "+typ+" block", "A %s block needs exactly one %s block, e.g. %s.", b.Type, typ, example)
	}
	return one
}
