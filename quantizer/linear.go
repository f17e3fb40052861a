package quantizer

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// canonicalLinear rewrites fully-connected layers into PyTorch's form, the one the quantizer
// handles: Gemm(x, W, B) with transB=1, W of shape [out, in] and alpha = beta = 1, so that
// per-output-channel weight quantization runs along W's first axis. It rewrites MatMul(x, W)
// with a constant 2-D W (as TensorFlow converters write Dense layers), and Gemm with transB=0
// or alpha, beta ≠ 1 and constant operands. A MatMul on an input of more than two dimensions
// (a Linear layer applied to channels-last feature maps, as ConvNeXt's pointwise layers are)
// becomes Reshape to [-1, K], the Gemm, and Reshape back, which needs every dimension of the
// input but the first static. A MatMul's bias, the Add of a constant vector that alone reads
// its output, becomes the Gemm's third input, so that a BatchNormalization after it folds
// into the layer as after PyTorch's Linear (Keras' Dense → BatchNormalization). It returns how
// many layers changed. The model computes the same function; run ir.InferShapes afterwards
// for the new initializers and values.
func canonicalLinear(g *ir.Graph) (int, error) {
	changed := 0
	nodes := make([]*ir.Node, 0, len(g.Nodes))
	defer func() { g.Nodes = nodes }()
	consumers := g.Consumers()
	absorbed := map[*ir.Node]bool{} // bias Adds taken into their Gemm
	for _, n := range g.Nodes {
		if absorbed[n] {
			continue
		}
		nodes = append(nodes, n)
		if n.Domain != "" || (n.OpType != "MatMul" && n.OpType != "Gemm") {
			continue
		}
		w := g.Initializer(n.Input(1))
		if w == nil || w.DType != ir.Float32 || len(w.Shape) != 2 {
			continue
		}
		x := g.ValueInfo[n.Input(0)]
		switch {
		case n.OpType == "MatMul":
			if x == nil || len(x.Shape) < 2 || !staticBeyondBatch(x.Shape) || x.Shape[len(x.Shape)-1] != w.Shape[0] {
				return changed, fmt.Errorf("quantizer: node %s: a MatMul layer needs an input of 2 or more dimensions, all static but the first, the last %d (its weight's rows); input %q has shape %v", n, w.Shape[0], n.Input(0), shapeOf(x))
			}
			t := transposed(g, w, 1)
			n.OpType = "Gemm"
			n.Inputs = []string{n.Input(0), t}
			n.Attrs = []ir.Attr{ir.IntAttr("transB", 1)}
			if add, b := biasAdd(g, consumers, n.Outputs[0], w.Shape[1]); add != nil {
				n.Inputs = append(n.Inputs, b)
				n.Outputs[0] = add.Outputs[0]
				absorbed[add] = true
			}
			if len(x.Shape) > 2 {
				flat, out := g.UniqueName(n.Name+"_rows"), n.Outputs[0]
				n.Inputs[0], n.Outputs[0] = flat, g.UniqueName(n.Name+"_gemm")
				nodes[len(nodes)-1] = reshape(g, n.Name+"_to_rows", x.Name, flat, -1, w.Shape[0])
				back := append(append([]int64{-1}, x.Shape[1:len(x.Shape)-1]...), w.Shape[1])
				nodes = append(nodes, n, reshape(g, n.Name+"_from_rows", n.Outputs[0], out, back...))
			}
			changed++
		case n.AttrInt("transA", 0) != 0:
			continue // newPlan refuses it with its own message
		default:
			alpha, beta := n.AttrFloat("alpha", 1), n.AttrFloat("beta", 1)
			transB := n.AttrInt("transB", 0) != 0
			var c *ir.Tensor
			if n.Input(2) != "" {
				if c = g.Initializer(n.Input(2)); c == nil || c.DType != ir.Float32 {
					continue
				}
			}
			if transB && alpha == 1 && (beta == 1 || c == nil) {
				continue
			}
			t := w.Name
			if !transB {
				t = transposed(g, w, alpha)
			} else if alpha != 1 {
				t = scaled(g, w, alpha)
			}
			n.Inputs[1] = t
			if c != nil && beta != 1 {
				n.Inputs[2] = scaled(g, c, beta)
			}
			n.Attrs = []ir.Attr{ir.IntAttr("transB", 1)}
			changed++
		}
	}
	return changed, nil
}

// biasAdd returns the Add that alone reads value v (not a graph output) and adds a constant
// float vector of out values to it, and that vector's name; nil when there is none.
func biasAdd(g *ir.Graph, consumers map[string][]*ir.Node, v string, out int64) (*ir.Node, string) {
	readers := consumers[v]
	if len(readers) != 1 || g.IsOutput(v) {
		return nil, ""
	}
	add := readers[0]
	if add.OpType != "Add" || add.Domain != "" || len(add.Inputs) != 2 {
		return nil, ""
	}
	b := add.Inputs[1]
	if b == v {
		b = add.Inputs[0]
	}
	t := g.Initializer(b)
	if t == nil || t.DType != ir.Float32 || len(t.Shape) != 1 || t.Shape[0] != out {
		return nil, ""
	}
	return add, b
}

// staticBeyondBatch reports whether every dimension of shape but the first is known.
func staticBeyondBatch(shape []int64) bool {
	for _, d := range shape[1:] {
		if d <= 0 {
			return false
		}
	}
	return true
}

// reshape returns a Reshape node (named from name) of value in to out with the target shape
// dims, added as an int64 initializer.
func reshape(g *ir.Graph, name, in, out string, dims ...int64) *ir.Node {
	target := ir.NewInt64(g.UniqueName(name+"_shape"), []int64{int64(len(dims))}, dims)
	g.AddInitializer(target)
	return &ir.Node{Name: g.UniqueName(name), OpType: "Reshape", Inputs: []string{in, target.Name}, Outputs: []string{out}}
}

func shapeOf(v *ir.Value) []int64 {
	if v == nil {
		return nil
	}
	return v.Shape
}

// transposed adds scale·wᵀ (w 2-D) as a new initializer and returns its name.
func transposed(g *ir.Graph, w *ir.Tensor, scale float32) string {
	rows, cols := int(w.Shape[0]), int(w.Shape[1])
	data := make([]float32, len(w.F32))
	for i := range rows {
		for j := range cols {
			data[j*rows+i] = scale * w.F32[i*cols+j]
		}
	}
	t := ir.NewFloat32(g.UniqueName(w.Name+"_transposed"), []int64{int64(cols), int64(rows)}, data)
	g.AddInitializer(t)
	return t.Name
}

// scaled adds scale·t as a new initializer and returns its name.
func scaled(g *ir.Graph, t *ir.Tensor, scale float32) string {
	data := make([]float32, len(t.F32))
	for i, v := range t.F32 {
		data[i] = scale * v
	}
	s := ir.NewFloat32(g.UniqueName(t.Name+"_scaled"), t.Shape, data)
	g.AddInitializer(s)
	return s.Name
}
