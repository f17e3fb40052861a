package generator

import (
	"fmt"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/ir"
)

// embedded is one copy of a model placed inside another graph by embed.
type embedded struct {
	input  string // the value the copy reads as its input
	output string // the copy's first output (the logits)
	rename func(string) string
}

// embed appends a copy of src's nodes (static shapes) to dst, reading the value input instead
// of src's single graph input. Values the nodes produce get valuePrefix; src's initializers
// are added to dst as initPrefix + name unless dst already has one of that name (copies of one
// model share their weights by using the same initPrefix). When ste is set, Round nodes become
// the straight-through RoundSTE, so that gradients pass through fake quantizers. The input
// value must be typed in dst by the caller; the copy's nodes must be put in order (sortNodes)
// once input has a producer.
func embed(dst, src *ir.Model, input, valuePrefix, initPrefix string, ste bool) (*embedded, error) {
	sg, dg := src.Graph, dst.Graph
	if len(sg.Inputs) != 1 || len(sg.Outputs) < 1 {
		return nil, fmt.Errorf("generator: model has %d inputs and %d outputs; want one input", len(sg.Inputs), len(sg.Outputs))
	}
	srcIn := sg.Inputs[0].Name
	inits := map[string]bool{}
	for _, t := range sg.Initializers {
		inits[t.Name] = true
	}
	rename := func(name string) string {
		switch {
		case name == "":
			return ""
		case name == srcIn:
			return input
		case inits[name]:
			return initPrefix + name
		}
		return valuePrefix + name
	}
	for _, t := range sg.Initializers {
		name := initPrefix + t.Name
		if dg.Initializer(name) != nil {
			continue
		}
		if dg.ValueInfo[name] != nil {
			return nil, fmt.Errorf("generator: embedding a model: %q is already a value", name)
		}
		c := t.Clone()
		c.Name = name
		dg.AddInitializer(c)
	}
	for _, n := range sg.Nodes {
		c := &ir.Node{Name: valuePrefix + n.Name, OpType: n.OpType, Domain: n.Domain, Attrs: append([]ir.Attr{}, n.Attrs...), Doc: n.Doc}
		for _, in := range n.Inputs {
			c.Inputs = append(c.Inputs, rename(in))
		}
		for _, o := range n.Outputs {
			r := rename(o)
			if o != "" && dg.ValueInfo[r] != nil {
				return nil, fmt.Errorf("generator: embedding a model: %q is already a value", r)
			}
			c.Outputs = append(c.Outputs, r)
			if v := sg.ValueInfo[o]; v != nil && o != "" {
				dg.ValueInfo[r] = &ir.Value{Name: r, DType: v.DType, Shape: append([]int64{}, v.Shape...)}
			}
		}
		if ste && n.OpType == "Round" && (n.Domain == "" || n.Domain == "ai.onnx") {
			c.OpType, c.Domain = "RoundSTE", autodiff.Domain
			dst.SetOpset(autodiff.Domain, 1)
		}
		dg.AddNode(c)
	}
	return &embedded{input: input, output: rename(sg.Outputs[0].Name), rename: rename}, nil
}
