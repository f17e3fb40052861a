package ir_test

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/testmodels"
)

// upgradeModel is a model at opset with one float input x of shape in, node n reading it, and
// its first output y as the graph output (of the given output shape).
func upgradeModel(opset int64, in, out []int64, n *ir.Node, inits ...*ir.Tensor) *ir.Model {
	g := &ir.Graph{
		Name:      "upgrade",
		Inputs:    []*ir.Value{{Name: "x", DType: ir.Float32, Shape: in}},
		Outputs:   []*ir.Value{{Name: "y", DType: ir.Float32, Shape: out}},
		Nodes:     []*ir.Node{n},
		ValueInfo: map[string]*ir.Value{},
	}
	for _, t := range inits {
		g.AddInitializer(t)
	}
	g.ValueInfo["x"] = g.Inputs[0]
	g.ValueInfo["y"] = g.Outputs[0]
	g.Index()
	return &ir.Model{IRVersion: 3, Opsets: []ir.Opset{{Domain: "", Version: opset}}, Graph: g}
}

// runORT runs m in ONNX Runtime on x, without any of sharpq's rewriting.
func runORT(t *testing.T, rt *ort.Runtime, m *ir.Model, x []float32) []float32 {
	t.Helper()
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	in, out := m.Graph.Inputs[0], m.Graph.Outputs[0]
	s, err := rt.NewSession(data,
		[]ort.TensorSpec{{Name: in.Name, DType: ort.Float32, Shape: in.Shape}},
		[]ort.TensorSpec{{Name: out.Name, DType: ort.Float32, Shape: out.Shape}})
	if err != nil {
		t.Fatalf("opset %d: %v", m.Opset(""), err)
	}
	defer s.Close()
	copy(s.Float32(in.Name), x)
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(s.Float32(out.Name))
}

func TestUpgradeOpsetKeepsOutputs(t *testing.T) {
	rt := orttest.Runtime(t)
	node := func(op string, attrs ...ir.Attr) *ir.Node {
		return &ir.Node{Name: "n", OpType: op, Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: attrs}
	}
	bn := &ir.Node{Name: "bn", OpType: "BatchNormalization", Inputs: []string{"x", "s", "b", "m", "v"}, Outputs: []string{"y"},
		Attrs: []ir.Attr{ir.IntAttr("spatial", 1), ir.FloatAttr("epsilon", 1e-3)}}
	bnParams := []*ir.Tensor{
		ir.NewFloat32("s", []int64{3}, []float32{1.5, -0.5, 2}), ir.NewFloat32("b", []int64{3}, []float32{0.1, 0.2, -0.3}),
		ir.NewFloat32("m", []int64{3}, []float32{0.3, -0.1, 0}), ir.NewFloat32("v", []int64{3}, []float32{0.5, 2, 1}),
	}
	x := []int64{2, 3, 4, 5}
	tests := []struct {
		name  string
		opset int64
		out   []int64
		n     *ir.Node
		inits []*ir.Tensor
	}{
		{"BatchNormalization-7 spatial", 7, x, bn, bnParams},
		{"Slice-9 attributes", 9, []int64{2, 2, 4, 3}, node("Slice", ir.IntsAttr("starts", 1, 1), ir.IntsAttr("ends", 3, -1), ir.IntsAttr("axes", 1, 3)), nil},
		{"Clip-7 min and max", 7, x, node("Clip", ir.FloatAttr("min", -0.5), ir.FloatAttr("max", 0.7)), nil},
		{"Clip-7 max only", 7, x, node("Clip", ir.FloatAttr("max", 0.2)), nil},
		{"Pad-7 constant value", 7, []int64{2, 3, 7, 6}, node("Pad", ir.IntsAttr("pads", 0, 0, 1, 0, 0, 0, 2, 1), ir.FloatAttr("value", 1.5)), nil},
		{"Pad-7 reflect", 7, []int64{2, 3, 6, 7}, node("Pad", ir.StringAttr("mode", "reflect"), ir.IntsAttr("pads", 0, 0, 1, 1, 0, 0, 1, 1)), nil},
		{"Dropout-11 ratio", 11, x, node("Dropout", ir.FloatAttr("ratio", 0.3)), nil},
		{"Unsqueeze-11 axes", 11, []int64{2, 1, 3, 4, 5}, node("Unsqueeze", ir.IntsAttr("axes", 1)), nil},
		{"ReduceSum-11 axes", 11, []int64{2, 3}, node("ReduceSum", ir.IntsAttr("axes", 2, 3), ir.IntAttr("keepdims", 0)), nil},
		{"ReduceMean-13 axes", 13, []int64{2, 3, 1, 1}, node("ReduceMean", ir.IntsAttr("axes", -2, -1)), nil},
		{"ReduceMax-17 axes", 17, []int64{2, 4, 5}, node("ReduceMax", ir.IntsAttr("axes", 1), ir.IntAttr("keepdims", 0)), nil},
		{"ReduceL2-13 all axes", 13, []int64{1, 1, 1, 1}, node("ReduceL2"), nil},
		{"Softmax-11 default axis on 4-D", 11, x, node("Softmax"), nil},
		{"LogSoftmax-11 axis 2 on 4-D", 11, x, node("LogSoftmax", ir.IntAttr("axis", 2)), nil},
		{"Softmax-12 last axis", 12, x, node("Softmax", ir.IntAttr("axis", 3)), nil},
		{"Split-11 sizes", 11, []int64{2, 1, 4, 5}, &ir.Node{Name: "n", OpType: "Split", Inputs: []string{"x"}, Outputs: []string{"y", "rest"},
			Attrs: []ir.Attr{ir.IntAttr("axis", 1), ir.IntsAttr("split", 1, 2)}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := upgradeModel(tc.opset, x, tc.out, tc.n, tc.inits...)
			if err := ir.Validate(m); err != nil {
				t.Fatal(err)
			}
			in := make([]float32, ir.NumElements(x))
			for i := range in {
				in[i] = float32(math.Sin(float64(i)*0.7)) * 1.3
			}
			want := runORT(t, rt, m, in)
			up, err := onnxio.Decode(mustEncode(t, m), "")
			if err != nil {
				t.Fatal(err)
			}
			if err := ir.UpgradeOpset(up, ir.LatestOpset); err != nil {
				t.Fatal(err)
			}
			if v := up.Opset(""); v != ir.LatestOpset || up.IRVersion < 10 {
				t.Fatalf("upgraded model: opset %d, IR %d", v, up.IRVersion)
			}
			if m.Opset("") != tc.opset || len(m.Graph.Nodes) != 1 || !slices.Equal(m.Graph.Nodes[0].Inputs, tc.n.Inputs) {
				t.Fatalf("the original model changed")
			}
			got := runORT(t, rt, up, in)
			if len(got) != len(want) {
				t.Fatalf("%d outputs, want %d", len(got), len(want))
			}
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-6*max(1, math.Abs(float64(want[i]))) {
					t.Fatalf("output %d: %g at opset %d, %g at %d", i, want[i], tc.opset, got[i], ir.LatestOpset)
				}
			}
		})
	}
}

func mustEncode(t *testing.T, m *ir.Model) []byte {
	t.Helper()
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestUpgradeOpsetRefuses(t *testing.T) {
	x := []int64{2, 3, 4, 5}
	bn := &ir.Node{Name: "per_activation_bn", OpType: "BatchNormalization", Inputs: []string{"x", "s", "b", "m", "v"}, Outputs: []string{"y"},
		Attrs: []ir.Attr{ir.IntAttr("spatial", 0)}}
	params := []*ir.Tensor{ir.NewFloat32("s", []int64{3}, make([]float32, 3)), ir.NewFloat32("b", []int64{3}, make([]float32, 3)),
		ir.NewFloat32("m", []int64{3}, make([]float32, 3)), ir.NewFloat32("v", []int64{3}, make([]float32, 3))}
	tests := []struct {
		name string
		m    *ir.Model
		want []string
	}{
		{"opset 6", upgradeModel(6, x, x, &ir.Node{Name: "r", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"y"}}), []string{"opset 6", "opsets 7 to 26"}},
		{"per-activation BatchNormalization", upgradeModel(8, x, x, bn, params...), []string{`"per_activation_bn"`, "spatial=0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, attrs := tc.m.Opset(""), len(tc.m.Graph.Nodes[0].Attrs)
			err := ir.UpgradeOpset(tc.m, ir.LatestOpset)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if tc.m.Opset("") != before || len(tc.m.Graph.Nodes[0].Attrs) != attrs {
				t.Errorf("the model changed")
			}
		})
	}
}

// TestCheckOpset checks which default-domain opsets sharpq reads, and that each refusal says
// why in terms of the file.
func TestCheckOpset(t *testing.T) {
	x := []int64{2, 3}
	relu := func() *ir.Node {
		return &ir.Node{Name: "r", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"y"}}
	}
	tests := []struct {
		name  string
		ir    int64
		opset int64 // 0: no default-domain entry
		want  string
	}{
		{"IR 2, before operator sets", 2, 0, "IR version 2, which predates operator sets (IR 3)"},
		{"IR 8 without a default-domain opset", 8, 0, "imports no ONNX operator set"},
		{"opset 6", 3, 6, "imports opset 6; sharpq reads opsets 7 to 26"},
		{"opset 7", 3, 7, ""},
		{"opset 21", 10, 21, ""},
		{"opset 26", 13, 26, ""},
		{"opset 27", 13, 27, "imports opset 27; sharpq reads opsets 7 to 26, the newest ONNX Runtime 1.30 runs (re-export it at opset 26 or earlier)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := upgradeModel(max(tc.opset, 7), x, x, relu())
			m.IRVersion = tc.ir
			m.Opsets = nil
			if tc.opset != 0 {
				m.SetOpset("", tc.opset)
			}
			err := ir.CheckOpset(m)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if err := ir.Canonicalize(m); err != nil {
					t.Fatalf("Canonicalize: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if err := ir.Canonicalize(m); err == nil || err.Error() != ir.CheckOpset(m).Error() {
				t.Errorf("Canonicalize: %v, want CheckOpset's error", err)
			}
		})
	}
}

// TestUpgradeOpsetRealModel rewrites the bundled ResNet-20 as older exporters write it and
// checks that ONNX Runtime computes the same logits from the old form as from its upgrade.
func TestUpgradeOpsetRealModel(t *testing.T) {
	rt := orttest.Runtime(t)
	for _, opset := range []int64{7, 9, 11, 12} {
		m, err := onnxio.Read(filepath.Join("../testmodels", testmodels.DefaultModel))
		if err != nil {
			t.Fatal(err)
		}
		old := testmodels.AsOldExport(m, opset)
		if err := ir.FixBatch(old, 4); err != nil {
			t.Fatal(err)
		}
		// FixBatch canonicalizes, which upgrades: rebuild the old form at the fixed batch.
		fixed, err := onnxio.Read(filepath.Join("../testmodels", testmodels.DefaultModel))
		if err != nil {
			t.Fatal(err)
		}
		fixed = testmodels.AsOldExport(fixed, opset)
		fixed.Graph.Inputs[0].Shape[0] = 4
		fixed.Graph.Outputs[0].Shape = []int64{4, 10}
		x := make([]float32, 4*32*32)
		for i := range x {
			x[i] = float32(math.Cos(float64(i)*0.37)) * 1.5
		}
		want := runORT(t, rt, fixed, x)
		if old.Opset("") != ir.BaseOpset {
			t.Fatalf("opset %d: canonical model at opset %d, want %d", opset, old.Opset(""), ir.BaseOpset)
		}
		for _, target := range []int64{ir.BaseOpset, ir.LatestOpset} {
			if err := ir.UpgradeOpset(old, target); err != nil {
				t.Fatal(err)
			}
			got := runORT(t, rt, old, x)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-4 {
					t.Fatalf("opset %d: logit %d is %g at opset %d, %g as exported", opset, i, got[i], target, want[i])
				}
			}
		}
	}
}

// TestFlattenBatchView: x.view(x.size(0), -1), exported as a shape chain, becomes a Flatten
// whose second dimension shape inference knows although the batch is dynamic.
func TestFlattenBatchView(t *testing.T) {
	for _, opset := range []int64{11, 13} {
		m, err := onnxio.Read(filepath.Join("../testmodels", testmodels.DefaultModel))
		if err != nil {
			t.Fatal(err)
		}
		m = testmodels.AsOldExport(m, opset)
		if err := ir.Canonicalize(m); err != nil {
			t.Fatal(err)
		}
		if err := ir.InferShapes(m); err != nil {
			t.Fatal(err)
		}
		var flat *ir.Node
		for _, n := range m.Graph.Nodes {
			switch n.OpType {
			case "Reshape", "Shape", "Gather", "Concat", "Unsqueeze":
				t.Errorf("opset %d: %s left after canonicalization", opset, n)
			case "Flatten":
				flat = n
			}
		}
		if flat == nil {
			t.Fatalf("opset %d: no Flatten", opset)
		}
		if v := m.Graph.ValueInfo[flat.Outputs[0]]; v == nil || len(v.Shape) != 2 || v.Shape[1] != 64 {
			t.Errorf("opset %d: Flatten output %v, want [batch 64]", opset, v)
		}
	}
}

// TestUpgradeGroupNorm: GroupNormalization-18's per-group scale and bias become per-channel
// ones at opset 21 (three groups of two channels, each group's values distinct), computing
// what ONNX Runtime computes at 18.
func TestUpgradeGroupNorm(t *testing.T) {
	rt := orttest.Runtime(t)
	shape := []int64{2, 6, 3, 3}
	n := &ir.Node{Name: "gn", OpType: "GroupNormalization", Inputs: []string{"x", "scale", "bias"}, Outputs: []string{"y"},
		Attrs: []ir.Attr{ir.IntAttr("num_groups", 3), ir.FloatAttr("epsilon", 1e-3)}}
	m := upgradeModel(18, shape, shape, n, ir.NewFloat32("scale", []int64{3}, []float32{1.5, -0.5, 2}),
		ir.NewFloat32("bias", []int64{3}, []float32{0.1, 0.2, -0.3}))
	in := make([]float32, ir.NumElements(shape))
	for i := range in {
		in[i] = float32(math.Sin(float64(i)*0.7)) * 1.3
	}
	want := runORT(t, rt, m, in)
	if err := ir.UpgradeOpset(m, 21); err != nil {
		t.Fatal(err)
	}
	got := runORT(t, rt, m, in)
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("output %d: %g at opset 18, %g at 21", i, want[i], got[i])
		}
	}
}
