package testmodels

import (
	"slices"

	"github.com/sharpq/sharpq/ir"
)

// AsFloat16 rewrites m (float32) to compute in float16, as onnxconverter-common's float16
// conversion writes a model: weights and constants rounded to float16, every float value and
// Cast target float16. With keepIO the graph inputs and outputs stay float32 behind Casts
// (the converter's keep_io_types); without, they are float16 too, as PyTorch exports a
// model.half().
func AsFloat16(m *ir.Model, keepIO bool) *ir.Model {
	g := m.Graph
	for i, t := range g.Initializers {
		if t.DType == ir.Float32 {
			g.Initializers[i] = ir.NarrowToFloat16(t)
		}
	}
	g.Index()
	for _, n := range g.Nodes {
		for i := range n.Attrs {
			a := &n.Attrs[i]
			switch {
			case a.Type == ir.AttrTensor && a.T != nil && a.T.DType == ir.Float32:
				a.T = ir.NarrowToFloat16(a.T)
			case a.Type == ir.AttrInt && n.OpType == "Cast" && a.Name == "to" && a.I == int64(ir.Float32):
				a.I = int64(ir.Float16)
			}
		}
	}
	for _, v := range g.ValueInfo {
		if v.DType == ir.Float32 {
			v.DType = ir.Float16
		}
	}
	io := slices.Concat(g.Inputs, g.Outputs)
	for _, v := range io {
		if v.DType == ir.Float32 {
			v.DType = ir.Float16
		}
	}
	if !keepIO {
		return m
	}
	var front, back []*ir.Node
	for _, in := range g.Inputs {
		inner := in.Name + "_fp16"
		rewire(g, in.Name, inner)
		front = append(front, &ir.Node{Name: "graph_input_cast_" + in.Name, OpType: "Cast", Inputs: []string{in.Name}, Outputs: []string{inner},
			Attrs: []ir.Attr{ir.IntAttr("to", int64(ir.Float16))}})
		in.DType = ir.Float32
	}
	for _, out := range g.Outputs {
		inner := out.Name + "_fp16"
		rewire(g, out.Name, inner)
		for _, n := range g.Nodes {
			for i, x := range n.Outputs {
				if x == out.Name {
					n.Outputs[i] = inner
				}
			}
		}
		back = append(back, &ir.Node{Name: "graph_output_cast_" + out.Name, OpType: "Cast", Inputs: []string{inner}, Outputs: []string{out.Name},
			Attrs: []ir.Attr{ir.IntAttr("to", int64(ir.Float32))}})
		out.DType = ir.Float32
	}
	g.Nodes = slices.Concat(front, g.Nodes, back)
	for _, v := range io {
		g.ValueInfo[v.Name] = v
	}
	return m
}
