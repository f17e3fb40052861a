package autodiff

import (
	"fmt"
	"testing"

	"github.com/sharpq/sharpq/ir"
)

func TestBatchNormGrad(t *testing.T) {
	// Inference mode, every input differentiated; inputs are positive so that var > 0.
	for _, shape := range [][]int64{{2, 3, 4, 5}, {4, 3}, {2, 3, 6}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			tg := newGraph(ir.Float64, 13)
			c := shape[1]
			y := tg.op("BatchNormalization", []string{tg.in("x", shape...), tg.in("scale", c), tg.in("bias", c),
				tg.in("mean", c), tg.in("var", c)}, ir.FloatAttr("epsilon", 1e-3))
			o := smoothFD
			o.positive = true
			checkGrad(t, tg, y, o)
		})
	}
}

func TestBatchNormTrainGrad(t *testing.T) {
	cases := []struct {
		name   string
		affine bool
		x      []int64
	}{
		{"affine", true, []int64{3, 2, 3, 4}},
		{"no affine", false, []int64{4, 3, 2, 2}},
		{"2-D", true, []int64{5, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newGraph(ir.Float64, 13)
			x := tg.in("x", c.x...)
			scale, bias := "", ""
			if c.affine {
				scale, bias = tg.in("scale", c.x[1]), tg.in("bias", c.x[1])
			}
			if err := ir.InferShapes(tg.m); err != nil {
				t.Fatal(err)
			}
			b := NewBuilder(tg.m)
			y := BatchNormTrain(b, x, scale, bias, 1e-5)
			if err := b.Err(); err != nil {
				t.Fatal(err)
			}
			checkGrad(t, tg, y, smoothFD)
		})
	}
}

func TestMomentsGrad(t *testing.T) {
	tg := newGraph(ir.Float64, 13)
	x := tg.in("x", 3, 2, 4, 4)
	if err := ir.InferShapes(tg.m); err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(tg.m)
	mean, variance := Moments(b, x)
	y := b.Op("Concat", []string{mean, variance}, ir.IntAttr("axis", 0))
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	checkGrad(t, tg, y, smoothFD)
}

func TestSoftmaxGrad(t *testing.T) {
	cases := []struct {
		name  string
		op    string
		opset int64
		attrs []ir.Attr
	}{
		{"Softmax default axis", "Softmax", 13, nil},
		{"Softmax axis 1", "Softmax", 13, []ir.Attr{ir.IntAttr("axis", 1)}},
		{"LogSoftmax axis -2", "LogSoftmax", 13, []ir.Attr{ir.IntAttr("axis", -2)}},
		{"Softmax opset 11, flattened from axis 1", "Softmax", 11, nil},
		{"LogSoftmax opset 11, flattened from axis 2", "LogSoftmax", 11, []ir.Attr{ir.IntAttr("axis", 2)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newGraph(ir.Float64, c.opset)
			y := tg.op(c.op, []string{tg.in("x", 2, 3, 4)}, c.attrs...)
			checkGrad(t, tg, y, smoothFD)
		})
	}
}

func TestLayerNormGrad(t *testing.T) {
	cases := []struct {
		name        string
		x, scale    []int64
		axis        int64
		bias, stats bool
	}{
		{"last axis, as ConvNeXt's channels-last LayerNorm", []int64{2, 3, 3, 4}, []int64{4}, -1, true, false},
		{"from axis 1 (GroupNorm with one group's shape)", []int64{2, 3, 2, 2}, []int64{3, 2, 2}, 1, true, false},
		{"no bias, 2-D", []int64{4, 5}, []int64{5}, -1, false, false},
		{"broadcast scale", []int64{2, 3, 4}, []int64{1, 4}, -2, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := newGraph(ir.Float64, 17)
			ins := []string{tg.in("x", c.x...), tg.in("scale", c.scale...)}
			if c.bias {
				ins = append(ins, tg.in("bias", c.scale...))
			}
			// stash_type double: ONNX Runtime computes the statistics in the input's precision.
			attrs := []ir.Attr{ir.IntAttr("axis", c.axis), ir.FloatAttr("epsilon", 1e-3), ir.IntAttr("stash_type", int64(ir.Float64))}
			outs := []string{"y"}
			if c.stats {
				outs = append(outs, "mean", "inv_std")
			}
			tg.m.Graph.AddNode(&ir.Node{Name: "ln", OpType: "LayerNormalization", Inputs: ins, Outputs: outs, Attrs: attrs})
			checkGrad(t, tg, "y", smoothFD)
		})
	}
}

func TestInstanceNormGrad(t *testing.T) {
	for _, shape := range [][]int64{{2, 3, 4, 5}, {2, 4, 6}, {3, 2, 2, 2, 2}} {
		t.Run(fmt.Sprint(shape), func(t *testing.T) {
			// ONNX Runtime has InstanceNormalization for float32 only: central differences in
			// float32, as the elementwise checks take them.
			tg := newGraph(ir.Float32, 13)
			c := shape[1]
			y := tg.op("InstanceNormalization", []string{tg.in("x", shape...), tg.in("scale", c), tg.in("bias", c)}, ir.FloatAttr("epsilon", 1e-3))
			checkGrad(t, tg, y, fdOpts{eps: 1e-3, tol: 2e-3})
		})
	}
}

func TestGroupNormGrad(t *testing.T) {
	cases := []struct {
		name   string
		opset  int64
		x      []int64
		groups int64
		param  int64 // scale and bias length: C at opset 21, the groups at 18
	}{
		{"opset 21, per-channel scale", 21, []int64{2, 6, 3, 3}, 3, 6},
		{"opset 21, 3-D", 21, []int64{2, 4, 5}, 2, 4},
		{"opset 18, per-group scale", 18, []int64{2, 6, 2, 3}, 2, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// float32: ONNX Runtime has no float64 GroupNormalization.
			tg := newGraph(ir.Float32, c.opset)
			y := tg.op("GroupNormalization", []string{tg.in("x", c.x...), tg.in("scale", c.param), tg.in("bias", c.param)},
				ir.IntAttr("num_groups", c.groups), ir.FloatAttr("epsilon", 1e-3))
			checkGrad(t, tg, y, fdOpts{eps: 1e-3, tol: 2e-3})
		})
	}
}
