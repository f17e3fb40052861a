package autodiff

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// gradMaxPool routes each output's gradient to the input element that won its window, read
// from MaxPool's Indices output (added to the forward node when absent). The indices are
// flat offsets into the whole input, so one ScatterElements into a flat zero tensor does it;
// where windows can overlap an element may win several windows, and the scatter adds
// (reduction "add", opset 16, to which the model is raised from 13–15).
func gradMaxPool(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	if n.AttrInt("storage_order", 0) != 0 {
		return nil, fmt.Errorf("MaxPool with storage_order 1 is not supported")
	}
	x := n.Inputs[0]
	xs, ys := b.Shape(x), b.Shape(n.Outputs[0])
	if xs == nil || ys == nil {
		return nil, b.Err()
	}
	if len(n.Outputs) < 2 || n.Outputs[1] == "" {
		idx := b.Fresh(n.Outputs[0] + "_indices")
		n.Outputs = append(n.Outputs[:1], idx)
		if err := ir.InferNode(b.m, n); err != nil {
			return nil, err
		}
	}
	win, err := windowOf(b, n, x, n.Outputs[0], n.AttrInts("kernel_shape", nil))
	if err != nil {
		return nil, err
	}
	overlap := false
	for i := 0; i < win.r; i++ {
		if win.strides[i] < win.dil[i]*(win.kernel[i]-1)+1 {
			overlap = true
		}
	}
	var attrs []ir.Attr
	attrs = append(attrs, ir.IntAttr("axis", 0))
	if overlap {
		if b.opset < 13 {
			return nil, fmt.Errorf("overlapping MaxPool windows need opset 13 or later (the gradient uses ScatterElements-16)")
		}
		if b.opset < 16 {
			b.m.SetOpset("", 16)
			b.opset = 16
		}
		attrs = append(attrs, ir.StringAttr("reduction", "add"))
	}
	total := ir.NumElements(xs)
	count := ir.NumElements(ys)
	zeros := b.zeros(b.DType(x), []int64{total})
	idx := b.Reshape(n.Outputs[1], []int64{count})
	upd := b.Reshape(dy[0], []int64{count})
	flat := b.Op("ScatterElements", []string{zeros, idx, upd}, attrs...)
	return []string{b.Reshape(flat, xs)}, nil
}

// gradAveragePool spreads each output's gradient evenly over its window: dY is divided by
// each window's element count (computed here, per count_include_pad and ceil_mode), then a
// depthwise ConvTranspose with a kernel of ones sums the windows back onto the input.
func gradAveragePool(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x := n.Inputs[0]
	xs := b.Shape(x)
	if xs == nil {
		return nil, b.Err()
	}
	win, err := windowOf(b, n, x, n.Outputs[0], n.AttrInts("kernel_shape", nil))
	if err != nil {
		return nil, err
	}
	dt := b.DType(x)
	includePad := n.AttrInt("count_include_pad", 0) == 1
	// The count of a window is the product of its per-axis counts.
	inv := []float64{1}
	for i := 0; i < win.r; i++ {
		lo, hi := int64(0), win.inSpatial[i]
		if includePad {
			lo, hi = -win.pads[i], win.inSpatial[i]+win.pads[i+win.r]
		}
		var next []float64
		for _, v := range inv {
			for o := int64(0); o < win.outSp[i]; o++ {
				cnt := int64(0)
				for k := int64(0); k < win.kernel[i]; k++ {
					p := o*win.strides[i] - win.pads[i] + k*win.dil[i]
					if p >= lo && p < hi {
						cnt++
					}
				}
				if cnt == 0 {
					next = append(next, 0)
				} else {
					next = append(next, v/float64(cnt))
				}
			}
		}
		inv = next
	}
	scale := b.Floats(dt, append([]int64{1, 1}, win.outSp...), inv)
	c := xs[1]
	kshape := append([]int64{c, 1}, win.kernel...)
	one := make([]float64, ir.NumElements(kshape))
	for i := range one {
		one[i] = 1
	}
	kernel := b.Floats(dt, kshape, one)
	win.group = c
	return []string{convTransposeBack(b, b.Mul(dy[0], scale), kernel, win)}, nil
}

// gradGlobalAveragePool spreads dY/(H·W) over the spatial axes.
// gradGlobalMaxPool: dy goes to each position that holds its channel's maximum (every one,
// should several tie).
func gradGlobalMaxPool(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x := n.Inputs[0]
	xs := b.Shape(x)
	if xs == nil {
		return nil, b.Err()
	}
	at := b.Op("Equal", []string{x, n.Outputs[0]})
	return []string{b.Mask(at, b.Expand(dy[0], xs))}, nil
}

func gradGlobalAveragePool(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	xs := b.Shape(n.Inputs[0])
	if xs == nil {
		return nil, b.Err()
	}
	count := ir.NumElements(xs[2:])
	return []string{b.Expand(b.Scale(dy[0], 1/float64(count)), xs)}, nil
}
