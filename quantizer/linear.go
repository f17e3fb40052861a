package quantizer

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// canonicalLinear rewrites fully-connected layers into PyTorch's form, the one the quantizer
// handles: Gemm(x, W, B) with transB=1, W of shape [out, in] and alpha = beta = 1, so that
// per-output-channel weight quantization runs along W's first axis. It rewrites MatMul(x, W)
// with a constant 2-D W and a 2-D x (as TensorFlow converters write Dense layers), and Gemm
// with transB=0 or alpha, beta ≠ 1 and constant operands. It returns how many layers changed.
// The model computes the same function; run ir.InferShapes afterwards for the new initializers.
func canonicalLinear(g *ir.Graph) (int, error) {
	changed := 0
	for _, n := range g.Nodes {
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
			if x == nil || len(x.Shape) != 2 {
				return changed, fmt.Errorf("quantizer: node %s: a MatMul layer needs a 2-D input (flatten it first); input %q has shape %v", n, n.Input(0), shapeOf(x))
			}
			t := transposed(g, w, 1)
			n.OpType = "Gemm"
			n.Inputs = []string{n.Input(0), t}
			n.Attrs = []ir.Attr{ir.IntAttr("transB", 1)}
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
