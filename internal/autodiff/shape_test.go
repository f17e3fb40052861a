package autodiff

import (
	"testing"

	"github.com/sharpq/sharpq/ir"
)

func TestShapeOpGrad(t *testing.T) {
	cases := []struct {
		name  string
		build func(tg *tgraph) string
		opset int64
	}{
		{"Reshape", func(tg *tgraph) string {
			return tg.op("Reshape", []string{tg.in("x", 2, 3, 4), tg.ints(4, -1)})
		}, 13},
		{"Flatten axis 2", func(tg *tgraph) string {
			return tg.op("Flatten", []string{tg.in("x", 2, 3, 2, 2)}, ir.IntAttr("axis", 2))
		}, 13},
		{"Squeeze", func(tg *tgraph) string {
			return tg.op("Squeeze", []string{tg.in("x", 2, 1, 3), tg.ints(1)})
		}, 13},
		{"Unsqueeze", func(tg *tgraph) string {
			return tg.op("Unsqueeze", []string{tg.in("x", 2, 3), tg.ints(0, 3)})
		}, 13},
		{"Transpose", func(tg *tgraph) string {
			return tg.op("Transpose", []string{tg.in("x", 2, 3, 4, 5)}, ir.IntsAttr("perm", 2, 0, 3, 1))
		}, 13},
		{"Transpose default", func(tg *tgraph) string {
			return tg.op("Transpose", []string{tg.in("x", 2, 3, 4)})
		}, 13},
		{"DepthToSpace DCR", func(tg *tgraph) string {
			return tg.op("DepthToSpace", []string{tg.in("x", 2, 12, 2, 3)}, ir.IntAttr("blocksize", 2))
		}, 13},
		{"DepthToSpace CRD", func(tg *tgraph) string {
			return tg.op("DepthToSpace", []string{tg.in("x", 2, 12, 2, 3)}, ir.IntAttr("blocksize", 2), ir.StringAttr("mode", "CRD"))
		}, 13},
		{"SpaceToDepth", func(tg *tgraph) string {
			return tg.op("SpaceToDepth", []string{tg.in("x", 2, 3, 4, 6)}, ir.IntAttr("blocksize", 2))
		}, 13},
		{"Concat", func(tg *tgraph) string {
			return tg.op("Concat", []string{tg.in("a", 2, 1, 3), tg.in("b", 2, 4, 3), tg.in("c", 2, 2, 3)}, ir.IntAttr("axis", 1))
		}, 13},
		{"Concat negative axis", func(tg *tgraph) string {
			return tg.op("Concat", []string{tg.in("a", 2, 3), tg.in("b", 2, 2)}, ir.IntAttr("axis", -1))
		}, 13},
		{"Split", func(tg *tgraph) string {
			ys := tg.multi("Split", []string{tg.in("x", 2, 6, 3), tg.ints(1, 3, 2)}, 3, ir.IntAttr("axis", 1))
			return tg.op("Concat", []string{tg.op("Mul", []string{ys[0], ys[0]}), ys[1], ys[2]}, ir.IntAttr("axis", 1))
		}, 13},
		{"Split with an output unused", func(tg *tgraph) string {
			// The middle part does not reach the loss: its place in dX is zeros.
			ys := tg.multi("Split", []string{tg.in("x", 2, 3, 6)}, 3, ir.IntAttr("axis", -1))
			return tg.op("Concat", []string{ys[2], tg.op("Mul", []string{ys[0], ys[0]})}, ir.IntAttr("axis", 2))
		}, 13},
		{"Slice", func(tg *tgraph) string {
			return tg.op("Slice", []string{tg.in("x", 4, 6, 5), tg.ints(1, -4), tg.ints(3, 100), tg.ints(0, 1)})
		}, 13},
		{"Slice steps", func(tg *tgraph) string {
			return tg.op("Slice", []string{tg.in("x", 3, 7, 8), tg.ints(1, 0), tg.ints(7, 8), tg.ints(1, 2), tg.ints(2, 3)})
		}, 13},
		{"Slice steps crop", func(tg *tgraph) string {
			// Elements 0, 2, 4 of 5: the stepped span (6) runs past the axis.
			return tg.op("Slice", []string{tg.in("x", 2, 5), tg.ints(0), tg.ints(5), tg.ints(-1), tg.ints(2)})
		}, 13},
		{"Pad", func(tg *tgraph) string {
			return tg.op("Pad", []string{tg.in("x", 2, 3, 4), tg.ints(0, 1, 2, 1, 0, 3)})
		}, 13},
		{"Pad negative", func(tg *tgraph) string {
			return tg.op("Pad", []string{tg.in("x", 2, 5, 4), tg.ints(0, -1, 2, 0, 2, -2), tg.floats([]int64{}, 0.5)})
		}, 13},
		{"Pad axes", func(tg *tgraph) string {
			return tg.op("Pad", []string{tg.in("x", 2, 3, 4), tg.ints(1, 2, 0, 1), "", tg.ints(2, 0)})
		}, 18},
		{"Expand", func(tg *tgraph) string {
			return tg.op("Expand", []string{tg.in("x", 3, 1), tg.ints(2, 3, 4)})
		}, 13},
		{"Tile", func(tg *tgraph) string {
			return tg.op("Tile", []string{tg.in("x", 2, 3, 1), tg.ints(3, 1, 4)})
		}, 13},
		{"Tile feeding a product", func(tg *tgraph) string {
			// Each copy meets other weights, so a gradient summed over the wrong axes shows.
			y := tg.op("Tile", []string{tg.in("x", 2, 3), tg.ints(2, 3)})
			return tg.op("Mul", []string{y, tg.op("Mul", []string{y, y})})
		}, 13},
		{"Gather scalar index", func(tg *tgraph) string {
			// x[:, 1] as torchvision's GoogLeNet writes its transform_input.
			tg.m.Graph.AddInitializer(ir.NewInt64("one", []int64{}, []int64{1}))
			y := tg.op("Gather", []string{tg.in("x", 2, 3, 4), "one"}, ir.IntAttr("axis", 1))
			return tg.op("Mul", []string{y, y})
		}, 13},
		{"Gather repeated and negative indices", func(tg *tgraph) string {
			// 3, 4, −1 (= 5) form one run; 0 comes twice and must get both gradients.
			y := tg.op("Gather", []string{tg.in("x", 2, 6), tg.ints(0, 3, 4, -1, 0)}, ir.IntAttr("axis", -1))
			return tg.op("Mul", []string{y, tg.op("Mul", []string{y, y})})
		}, 13},
		{"Gather 2-D indices", func(tg *tgraph) string {
			tg.m.Graph.AddInitializer(ir.NewInt64("ix", []int64{2, 2}, []int64{2, 0, 0, 1}))
			y := tg.op("Gather", []string{tg.in("x", 3, 4), "ix"})
			return tg.op("Mul", []string{y, y})
		}, 13},
		{"Upsample 2x", func(tg *tgraph) string {
			b := NewBuilder(tg.m)
			if err := ir.InferShapes(tg.m); err != nil {
				panic(err)
			}
			y := UpsampleNearest(b, tg.in("x", 2, 3, 3, 4), 2)
			if b.Err() != nil {
				panic(b.Err())
			}
			return y
		}, 13},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newGraph(ir.Float64, c.opset)
			y := c.build(tg)
			checkGrad(t, tg, y, smoothFD)
		})
	}
}
