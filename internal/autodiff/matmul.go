package autodiff

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// gemm appends alpha·op(a)·op(b) as a Gemm without bias.
func (b *Builder) gemm(x, y string, transX, transY bool, alpha float64) string {
	attrs := []ir.Attr{}
	if alpha != 1 {
		attrs = append(attrs, ir.FloatAttr("alpha", float32(alpha)))
	}
	if transX {
		attrs = append(attrs, ir.IntAttr("transA", 1))
	}
	if transY {
		attrs = append(attrs, ir.IntAttr("transB", 1))
	}
	return b.Op("Gemm", []string{x, y}, attrs...)
}

// gradGemm: Y = alpha·A'·B' + beta·C with A' = transA ? Aᵀ : A and B' likewise. Then
// dA' = alpha·dY·B'ᵀ, dB' = alpha·A'ᵀ·dY, and dC = beta·dY summed to C's shape; each is
// one Gemm with the transposes folded into its flags.
func gradGemm(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	a, w := n.Inputs[0], n.Inputs[1]
	alpha := float64(n.AttrFloat("alpha", 1))
	beta := float64(n.AttrFloat("beta", 1))
	ta, tb := n.AttrInt("transA", 0) == 1, n.AttrInt("transB", 0) == 1
	g := dy[0]
	dx := make([]string, len(n.Inputs))
	if need[0] {
		if !ta {
			dx[0] = b.gemm(g, w, false, !tb, alpha) // dY·B'ᵀ
		} else {
			dx[0] = b.gemm(w, g, tb, true, alpha) // (dY·B'ᵀ)ᵀ = B'·dYᵀ
		}
	}
	if need[1] {
		if !tb {
			dx[1] = b.gemm(a, g, !ta, false, alpha) // A'ᵀ·dY
		} else {
			dx[1] = b.gemm(g, a, true, ta, alpha) // (A'ᵀ·dY)ᵀ = dYᵀ·A'
		}
	}
	if len(need) > 2 && need[2] {
		dx[2] = b.SumTo(b.Scale(g, beta), b.Shape(n.Inputs[2]))
	}
	return dx, nil
}

// gradMatMul handles numpy-style MatMul with broadcast batch axes and 1-D operands:
// dA = dY·Bᵀ and dB = Aᵀ·dY, each summed back over the batch axes its operand lacks.
func gradMatMul(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	a, w := n.Inputs[0], n.Inputs[1]
	as, ws := b.Shape(a), b.Shape(w)
	if as == nil || ws == nil {
		return nil, b.Err()
	}
	if len(as) == 1 && len(ws) == 1 {
		// Dot product: dA = dY·B, dB = dY·A, dY a scalar.
		dx := make([]string, 2)
		if need[0] {
			dx[0] = b.Mul(dy[0], w)
		}
		if need[1] {
			dx[1] = b.Mul(dy[0], a)
		}
		return dx, nil
	}
	a2, w2 := a, w
	as2, ws2 := as, ws
	if len(as) == 1 {
		as2 = []int64{1, as[0]}
		a2 = b.Reshape(a, as2)
	}
	if len(ws) == 1 {
		ws2 = []int64{ws[0], 1}
		w2 = b.Reshape(w, ws2)
	}
	// dY with the axes MatMul dropped for 1-D operands put back: batch…, M, N.
	batch, err := broadcastShapes(as2[:len(as2)-2], ws2[:len(ws2)-2])
	if err != nil {
		return nil, err
	}
	ys := append(append([]int64{}, batch...), as2[len(as2)-2], ws2[len(ws2)-1])
	g := b.Reshape(dy[0], ys)
	dx := make([]string, 2)
	if need[0] {
		d := b.Op("MatMul", []string{g, b.Transpose(w2, lastTwoSwapped(len(ws2)))})
		dx[0] = b.Reshape(b.SumTo(d, as2), as)
	}
	if need[1] {
		d := b.Op("MatMul", []string{b.Transpose(a2, lastTwoSwapped(len(as2))), g})
		dx[1] = b.Reshape(b.SumTo(d, ws2), ws)
	}
	return dx, nil
}

// lastTwoSwapped is the permutation exchanging the last two of rank axes.
func lastTwoSwapped(rank int) []int64 {
	p := make([]int64, rank)
	for i := range p {
		p[i] = int64(i)
	}
	p[rank-1], p[rank-2] = p[rank-2], p[rank-1]
	return p
}

// broadcastShapes returns the numpy broadcast of two static shapes.
func broadcastShapes(x, y []int64) ([]int64, error) {
	if len(x) < len(y) {
		x, y = y, x
	}
	out := append([]int64{}, x...)
	off := len(x) - len(y)
	for i, d := range y {
		o := out[off+i]
		switch {
		case d == o || d == 1:
		case o == 1:
			out[off+i] = d
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", x, y)
		}
	}
	return out, nil
}
