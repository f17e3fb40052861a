package generator

import (
	"fmt"
	"math/rand/v2"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/ir"
)

// Swing ("swing convolution", GENIE): every strided convolution of the float model sees its
// input shifted by a random offset of −1, 0 or +1 pixel along each spatial axis, drawn anew at
// every step, with the border reflected — the same as padding the input by one pixel
// (reflect) and cropping it at a random position in 0–2 pixels. A strided convolution
// otherwise never sees the pixels between its sampling positions shift, and the synthetic
// images learn a grid pattern.
//
// The IR has static shapes and Slice needs constant starts, so the shift is written as two
// products with selection matrices fed at every step: x' = S_h · x · S_w, with S_h [H, H] and
// S_w [W, W] holding one 1 per row (column), the reflected source pixel. Two small MatMuls
// forward, two backward.

// swingTap is one strided convolution whose input is shifted.
type swingTap struct {
	rows, cols string // the fed selection matrices S_h [H, H] and S_w [W, W]
	h, w       int
}

// addSwing rewires every strided Conv of m (the nodes given) to read a shifted copy of its
// input, and returns the selection-matrix inputs it added. The new nodes are appended; the
// caller reorders the graph (sortNodes).
func addSwing(b *autodiff.Builder, nodes []*ir.Node, prefix string) ([]swingTap, error) {
	m := b.Model()
	var taps []swingTap
	for _, n := range nodes {
		if n.OpType != "Conv" || (n.Domain != "" && n.Domain != "ai.onnx") {
			continue
		}
		strided := false
		for _, s := range n.AttrInts("strides", nil) {
			strided = strided || s > 1
		}
		if !strided {
			continue
		}
		xs := b.Shape(n.Inputs[0])
		if xs == nil {
			return nil, b.Err()
		}
		if len(xs) != 4 {
			return nil, fmt.Errorf("generator: swing: node %s input %q has shape %v; only 2-D convolutions are supported", n, n.Inputs[0], xs)
		}
		h, w := xs[2], xs[3]
		if h < 2 || w < 2 {
			continue // nothing to reflect
		}
		t := swingTap{h: int(h), w: int(w)}
		i := len(taps)
		t.rows = fmt.Sprintf("%sswing%d.rows", prefix, i)
		t.cols = fmt.Sprintf("%sswing%d.cols", prefix, i)
		for _, in := range []struct {
			name string
			dim  int64
		}{{t.rows, h}, {t.cols, w}} {
			if m.Graph.ValueInfo[in.name] != nil {
				return nil, fmt.Errorf("generator: the model already has a value named %q", in.name)
			}
			shape := []int64{in.dim, in.dim}
			m.Graph.Inputs = append(m.Graph.Inputs, &ir.Value{Name: in.name, DType: ir.Float32, Shape: shape})
			m.Graph.ValueInfo[in.name] = &ir.Value{Name: in.name, DType: ir.Float32, Shape: append([]int64{}, shape...)}
		}
		old := b.SetPrefix(fmt.Sprintf("%sswing%d/", prefix, i))
		shifted := b.Op("MatMul", []string{b.Op("MatMul", []string{t.rows, n.Inputs[0]}), t.cols})
		b.SetPrefix(old)
		if err := b.Err(); err != nil {
			return nil, err
		}
		n.Inputs[0] = shifted
		taps = append(taps, t)
	}
	return taps, nil
}

// reflect maps position k of a length-n axis shifted out of range back into it, mirroring
// at the borders without repeating the edge (PyTorch's and ONNX's "reflect" padding).
func reflect(k, n int) int {
	if k < 0 {
		return -k
	}
	if k >= n {
		return 2*(n-1) - k
	}
	return k
}

// fillShift writes the selection matrix of a shift by d pixels into s ([n, n], zeroed first).
// For rows (transposed false) S[i][reflect(i+d)] = 1, so that (S · x)[i] = x[reflect(i+d)];
// for columns (transposed) S[reflect(j+d)][j] = 1, so that (x · S)[j] = x[reflect(j+d)].
func fillShift(s []float32, n, d int, transposed bool) {
	clear(s)
	for i := 0; i < n; i++ {
		src := reflect(i+d, n)
		if transposed {
			s[src*n+i] = 1
		} else {
			s[i*n+src] = 1
		}
	}
}

// shiftSetter fills a trainer's swing inputs.
type shiftSetter struct {
	taps []swingTap
	feed func(name string) []float32
}

// random draws a new shift in {−1, 0, 1}² for every tap.
func (s shiftSetter) random(rng *rand.Rand) {
	for _, t := range s.taps {
		fillShift(s.feed(t.rows), t.h, rng.IntN(3)-1, false)
		fillShift(s.feed(t.cols), t.w, rng.IntN(3)-1, true)
	}
}

// identity sets every shift to zero.
func (s shiftSetter) identity() {
	for _, t := range s.taps {
		fillShift(s.feed(t.rows), t.h, 0, false)
		fillShift(s.feed(t.cols), t.w, 0, true)
	}
}
