package autodiff

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// reduceAxes returns the axes a Reduce* node reduces (normalised, nil for all) and whether
// it is a no-op (empty axes with noop_with_empty_axes).
func reduceAxes(b *Builder, n *ir.Node, rank int) ([]int64, bool, error) {
	inputFrom := int64(18)
	if n.OpType == "ReduceSum" {
		inputFrom = 13
	}
	var axes []int64
	if b.opset < inputFrom {
		axes = n.AttrInts("axes", nil)
	} else {
		v, ok := constInts(b, n.Input(1))
		if !ok {
			return nil, false, fmt.Errorf("axes input %q must be a constant", n.Input(1))
		}
		axes = v
	}
	if len(axes) == 0 {
		return nil, n.AttrInt("noop_with_empty_axes", 0) == 1, nil
	}
	out := make([]int64, len(axes))
	for i, a := range axes {
		if a < 0 {
			a += int64(rank)
		}
		out[i] = a
	}
	return out, false, nil
}

// gradReduce differentiates ReduceSum, ReduceMean and ReduceSumSquare: dY, with the reduced
// axes restored as 1s, is broadcast back over the input (divided by the count for the mean,
// times 2x for the sum of squares).
func gradReduce(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x := n.Inputs[0]
	xs := b.Shape(x)
	if xs == nil {
		return nil, b.Err()
	}
	axes, noop, err := reduceAxes(b, n, len(xs))
	if err != nil {
		return nil, err
	}
	g := dy[0]
	if !noop {
		keep := append([]int64{}, xs...)
		count := int64(1)
		if axes == nil {
			for i := range keep {
				count *= keep[i]
				keep[i] = 1
			}
		} else {
			for _, a := range axes {
				count *= keep[a]
				keep[a] = 1
			}
		}
		g = b.Reshape(g, keep)
		if n.OpType == "ReduceMean" {
			g = b.Scale(g, 1/float64(count))
		}
		g = b.Expand(g, xs)
	}
	if n.OpType == "ReduceSumSquare" {
		g = b.Mul(g, b.Scale(x, 2))
	}
	return padGrads(g, len(n.Inputs)), nil
}

// gradReduceMaxMin routes dY to the elements equal to the extremum, split evenly between
// ties (as PyTorch's amax/amin).
func gradReduceMaxMin(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x, y := n.Inputs[0], n.Outputs[0]
	xs := b.Shape(x)
	if xs == nil {
		return nil, b.Err()
	}
	axes, noop, err := reduceAxes(b, n, len(xs))
	if err != nil {
		return nil, err
	}
	if noop {
		return padGrads(dy[0], len(n.Inputs)), nil
	}
	keep := append([]int64{}, xs...)
	for i := range keep {
		if axes == nil {
			keep[i] = 1
		}
	}
	for _, a := range axes {
		keep[a] = 1
	}
	dt := b.DType(x)
	hit := b.Op("Cast", []string{b.Op("Equal", []string{x, b.Reshape(y, keep)})}, ir.IntAttr("to", int64(dt)))
	share := b.Div(b.Reshape(dy[0], keep), b.ReduceSum(hit, axes, true))
	return padGrads(b.Mul(hit, share), len(n.Inputs)), nil
}
