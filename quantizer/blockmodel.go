package quantizer

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// blockModel returns a model computing one block alone: its input is the block's input value
// (batch dimension dynamic), its output the block's output. fm must have inferred shapes
// (dynamic batch). The nodes and initializers are shared with fm, not copied; callers clone
// before changing them.
func blockModel(fm *ir.Model, b Block) (*ir.Model, error) {
	g := fm.Graph
	in := g.ValueInfo[b.Input]
	out := g.ValueInfo[b.Output]
	if in == nil || in.Shape == nil || out == nil || out.Shape == nil {
		return nil, fmt.Errorf("quantizer: block %s: shapes of %q or %q unknown", b.Name, b.Input, b.Output)
	}
	bg := ir.NewGraph(b.Name)
	inShape := append([]int64{}, in.Shape...)
	inShape[0] = -1
	outShape := append([]int64{}, out.Shape...)
	outShape[0] = -1
	bg.Inputs = []*ir.Value{{Name: b.Input, DType: in.DType, Shape: inShape}}
	bg.Outputs = []*ir.Value{{Name: b.Output, DType: out.DType, Shape: outShape}}
	defined := map[string]bool{b.Input: true}
	added := map[string]bool{}
	for _, n := range b.Nodes {
		for i, x := range n.Inputs {
			if x == "" || defined[x] {
				continue
			}
			t := g.Initializer(x)
			if t == nil {
				return nil, fmt.Errorf("quantizer: block %s: node %s input %d (%q) comes from outside the block", b.Name, n, i, x)
			}
			if !added[x] {
				bg.AddInitializer(t)
				added[x] = true
			}
		}
		c := *n
		c.Inputs = append([]string{}, n.Inputs...)
		c.Outputs = append([]string{}, n.Outputs...)
		c.Attrs = append([]ir.Attr{}, n.Attrs...)
		bg.Nodes = append(bg.Nodes, &c)
		for _, o := range n.Outputs {
			defined[o] = true
		}
	}
	m := &ir.Model{IRVersion: fm.IRVersion, Opsets: append([]ir.Opset{}, fm.Opsets...), Graph: bg}
	if err := ir.InferShapes(m); err != nil {
		return nil, fmt.Errorf("quantizer: block %s: %w", b.Name, err)
	}
	return m, nil
}

// Subset returns the part of p that applies to graph g: weights of nodes in g and activations
// of values in g. The entries are shared, not copied.
func (p *Plan) Subset(g *ir.Graph) *Plan {
	nodes := map[string]bool{}
	values := map[string]bool{}
	for _, v := range g.Inputs {
		values[v.Name] = true
	}
	for _, n := range g.Nodes {
		nodes[n.Name] = true
		for _, o := range n.Outputs {
			values[o] = true
		}
	}
	s := &Plan{FloatResidual: p.FloatResidual}
	for _, w := range p.Weights {
		if nodes[w.Node] {
			s.Weights = append(s.Weights, w)
		}
	}
	for _, a := range p.Acts {
		if values[a.Value] {
			s.Acts = append(s.Acts, a)
		}
	}
	return s
}
