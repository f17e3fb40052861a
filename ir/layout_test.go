package ir_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/testmodels"
)

// TestChannelsLayoutKeepsOutputs takes the bundled ResNet-20 in a channels-last export
// (testmodels.WithNHWCInput), rewrites it channels-first and back, and runs each form in
// ONNX Runtime on the same images in its layout: the logits must not change.
func TestChannelsLayoutKeepsOutputs(t *testing.T) {
	rt := orttest.Runtime(t)
	read := func() *ir.Model {
		m, err := onnxio.Read(filepath.Join("../testmodels", testmodels.DefaultModel))
		if err != nil {
			t.Fatal(err)
		}
		if err := ir.FixBatch(m, 2); err != nil {
			t.Fatal(err)
		}
		return m
	}
	nchw := make([]float32, 2*1*32*32)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range nchw {
		nchw[i] = float32(rng.NormFloat64())
	}
	nhwc := make([]float32, len(nchw)) // C = 1: the same numbers, another shape
	copy(nhwc, nchw)
	want := runORT(t, rt, read(), nchw)

	m := testmodels.WithNHWCInput(read())
	if got := runORT(t, rt, m, nhwc); !slices.Equal(got, want) {
		t.Fatal("the channels-last export itself gives other logits")
	}
	if !ir.ChannelsFirstInput(m) {
		t.Fatal("ChannelsFirstInput did not recognise the channels-last input")
	}
	if s := m.Graph.Inputs[0].Shape; !slices.Equal(s, []int64{2, 1, 32, 32}) {
		t.Fatalf("channels-first input shape %v, want [2 1 32 32]", s)
	}
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Transpose" {
			t.Fatalf("Transpose %s left in", n.Name)
		}
	}
	if got := runORT(t, rt, m, nchw); !slices.Equal(got, want) {
		t.Fatal("channels-first rewrite changed the logits")
	}
	if err := ir.ChannelsLastInput(m); err != nil {
		t.Fatal(err)
	}
	if s := m.Graph.Inputs[0].Shape; !slices.Equal(s, []int64{2, 32, 32, 1}) {
		t.Fatalf("channels-last input shape %v, want [2 32 32 1]", s)
	}
	if got := runORT(t, rt, m, nhwc); !slices.Equal(got, want) {
		t.Fatal("channels-last interface changed the logits")
	}
}

// TestChannelsFirstInputLeavesOthers checks the inputs ChannelsFirstInput must not touch.
func TestChannelsFirstInputLeavesOthers(t *testing.T) {
	transpose := func(perm ...int64) *ir.Node {
		return &ir.Node{Name: "t", OpType: "Transpose", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []ir.Attr{ir.IntsAttr("perm", perm...)}}
	}
	tests := []struct {
		name string
		m    *ir.Model
	}{
		{"channels-first already (no Transpose)", upgradeModel(13, []int64{1, 3, 8, 8}, []int64{1, 3, 8, 8}, &ir.Node{Name: "r", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"y"}})},
		{"another permutation", upgradeModel(13, []int64{1, 8, 8, 3}, []int64{1, 8, 3, 8}, transpose(0, 1, 3, 2))},
		{"rank 3", upgradeModel(13, []int64{8, 8, 3}, []int64{3, 8, 8}, transpose(2, 0, 1))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := slices.Clone(tc.m.Graph.Inputs[0].Shape)
			if ir.ChannelsFirstInput(tc.m) {
				t.Fatal("rewritten")
			}
			if s := tc.m.Graph.Inputs[0].Shape; !slices.Equal(s, before) || len(tc.m.Graph.Nodes) != 1 {
				t.Fatalf("model changed: input %v, %d nodes", s, len(tc.m.Graph.Nodes))
			}
		})
	}
}

// TestChannelsLayoutThreeChannels does the same on a three-channel convolution with a
// non-square image, where a wrong permutation of channels, height or width shows.
func TestChannelsLayoutThreeChannels(t *testing.T) {
	rt := orttest.Runtime(t)
	const n, h, w, c, k = 2, 4, 5, 3, 2
	rng := rand.New(rand.NewPCG(3, 4))
	weights := make([]float32, k*c*3*3)
	for i := range weights {
		weights[i] = float32(rng.NormFloat64())
	}
	conv := &ir.Node{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"y"},
		Attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("pads", 1, 1, 1, 1)}}
	m := upgradeModel(13, []int64{n, c, h, w}, []int64{n, k, h, w}, conv, ir.NewFloat32("w", []int64{k, c, 3, 3}, weights))
	nchw := make([]float32, n*c*h*w)
	for i := range nchw {
		nchw[i] = float32(rng.NormFloat64())
	}
	nhwc := make([]float32, len(nchw))
	for b := range n {
		for ch := range c {
			for y := range h {
				for x := range w {
					nhwc[((b*h+y)*w+x)*c+ch] = nchw[((b*c+ch)*h+y)*w+x]
				}
			}
		}
	}
	want := runORT(t, rt, m, nchw)
	if err := ir.ChannelsLastInput(m); err != nil {
		t.Fatal(err)
	}
	if got := runORT(t, rt, m, nhwc); !slices.Equal(got, want) {
		t.Fatal("channels-last interface changed the outputs")
	}
	if !ir.ChannelsFirstInput(m) {
		t.Fatal("ChannelsFirstInput did not recognise the channels-last input")
	}
	if got := runORT(t, rt, m, nchw); !slices.Equal(got, want) {
		t.Fatal("channels-first rewrite changed the outputs")
	}
}

// runPixels runs m, whose input is uint8, in ONNX Runtime on the pixels p.
func runPixels(t *testing.T, rt *ort.Runtime, m *ir.Model, p []uint8) []float32 {
	t.Helper()
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	in, out := m.Graph.Inputs[0], m.Graph.Outputs[0]
	s, err := rt.NewSession(data, []ort.TensorSpec{{Name: in.Name, DType: ort.Uint8, Shape: in.Shape}},
		[]ort.TensorSpec{{Name: out.Name, DType: ort.Float32, Shape: out.Shape}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	copy(s.Uint8(in.Name), p)
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	return slices.Clone(s.Float32(out.Name))
}

// TestPixelInputKeepsOutputs takes the bundled ResNet-20 with its normalisation baked in for
// uint8 pixels (a Cast, then (x − 255·mean)/(255·std)), reads it as a float input in [0,1]
// (FloatPixelInput) and writes it back (IntegerPixelInput): ONNX Runtime must compute the
// same logits from the pixels p in the uint8 forms and from p/255 in the float one.
func TestPixelInputKeepsOutputs(t *testing.T) {
	rt := orttest.Runtime(t)
	read := func() *ir.Model {
		m, err := onnxio.Read(filepath.Join("../testmodels", testmodels.DefaultModel))
		if err != nil {
			t.Fatal(err)
		}
		if err := ir.FixBatch(m, 2); err != nil {
			t.Fatal(err)
		}
		return m
	}
	p := make([]uint8, 2*32*32)
	unit := make([]float32, len(p))
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range p {
		p[i] = uint8(rng.IntN(256))
		unit[i] = float32(p[i]) / 255
	}
	const mean, std = 0.2860, 0.3530
	m := testmodels.WithUint8Input(testmodels.WithPreprocessing(read(), 255*mean, 255*std))
	want := runPixels(t, rt, m, p)
	if !ir.FloatPixelInput(m) {
		t.Fatal("a uint8 input read by a Cast to float32 was not recognised")
	}
	if in := m.Graph.Inputs[0]; in.DType != ir.Float32 {
		t.Fatalf("input %s after FloatPixelInput", in.DType)
	}
	closeTo := func(what string, got []float32) {
		t.Helper()
		for i := range want {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-4 {
				t.Fatalf("%s: logit %d is %g, the uint8 model's %g", what, i, got[i], want[i])
			}
		}
	}
	closeTo("float input in [0,1]", runORT(t, rt, m, unit))
	if err := ir.IntegerPixelInput(m); err != nil {
		t.Fatal(err)
	}
	if got := runPixels(t, rt, m, p); !slices.Equal(got, want) {
		t.Errorf("written back: logits %v, the original's %v", got[:4], want[:4])
	}
	if n := m.Graph.Nodes[0]; n.OpType != "Cast" || len(m.Graph.Nodes) != len(read().Graph.Nodes)+3 {
		t.Errorf("written back with first node %s and %d nodes: want the Cast alone added", n.OpType, len(m.Graph.Nodes))
	}

	// A float model given a uint8 interface gets a Cast and a division by 255.
	plain := testmodels.WithPreprocessing(read(), mean, std)
	want = runORT(t, rt, plain, unit)
	if err := ir.IntegerPixelInput(plain); err != nil {
		t.Fatal(err)
	}
	closeTo("a [0,1] model behind a uint8 interface", runPixels(t, rt, plain, p))

	// Inputs that are not 8-bit pixels cast to float32 are left alone.
	float := read()
	half := testmodels.WithUint8Input(read())
	half.Graph.Nodes[0].Attrs = []ir.Attr{ir.IntAttr("to", int64(ir.Float16))}
	for name, m := range map[string]*ir.Model{"float32 input": float, "cast to float16": half} {
		if ir.FloatPixelInput(m) {
			t.Errorf("%s: rewritten", name)
		}
	}
}

// TestStaticBatchExport runs the bundled ResNet-20 exported at a fixed batch of 1, its
// flattening a Reshape to [1, -1], at batch 4: each image's logits must be those of the
// dynamic-batch original.
func TestStaticBatchExport(t *testing.T) {
	rt := orttest.Runtime(t)
	read := func() *ir.Model {
		m, err := onnxio.Read(filepath.Join("../testmodels", testmodels.DefaultModel))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	x := make([]float32, 4*32*32)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	want := read()
	if err := ir.FixBatch(want, 4); err != nil {
		t.Fatal(err)
	}
	m := testmodels.WithStaticBatch(read())
	if err := ir.FixBatch(m, 4); err != nil {
		t.Fatalf("a model exported at batch 1 at batch 4: %v", err)
	}
	got, exp := runORT(t, rt, m, x), runORT(t, rt, want, x)
	for i := range exp {
		if math.Abs(float64(got[i]-exp[i])) > 1e-5 {
			t.Fatalf("logit %d: %g, the dynamic-batch model's %g", i, got[i], exp[i])
		}
	}
	// A Reshape of a constant whose target starts with the batch size is not the batch's: it
	// must keep reshaping [2, 2] to [1, 4] (to [0, 4] it would fail), whose sum, 10, is added.
	c := testmodels.WithStaticBatch(read())
	g := c.Graph
	g.AddInitializer(&ir.Tensor{Name: "k", DType: ir.Float32, Shape: []int64{2, 2}, F32: []float32{1, 2, 3, 4}})
	g.AddInitializer(&ir.Tensor{Name: "k_shape", DType: ir.Int64, Shape: []int64{2}, I64: []int64{1, 4}})
	g.Nodes = append(g.Nodes, &ir.Node{Name: "k_view", OpType: "Reshape", Inputs: []string{"k", "k_shape"}, Outputs: []string{"k_flat"}},
		&ir.Node{Name: "k_use", OpType: "Add", Inputs: []string{g.Outputs[0].Name, "k_sum"}, Outputs: []string{"out2"}},
		&ir.Node{Name: "k_sum", OpType: "ReduceSum", Inputs: []string{"k_flat"}, Outputs: []string{"k_sum"}, Attrs: []ir.Attr{ir.IntAttr("keepdims", 0)}})
	g.Nodes[len(g.Nodes)-1], g.Nodes[len(g.Nodes)-2] = g.Nodes[len(g.Nodes)-2], g.Nodes[len(g.Nodes)-1]
	g.Outputs[0] = &ir.Value{Name: "out2", DType: ir.Float32, Shape: []int64{1, 10}}
	if err := ir.FixBatch(c, 4); err != nil {
		t.Fatal(err)
	}
	got = runORT(t, rt, c, x)
	for i := range exp {
		if math.Abs(float64(got[i]-exp[i]-10)) > 1e-4 {
			t.Fatalf("with the constant's 10 added, logit %d: %g, want %g", i, got[i], exp[i]+10)
		}
	}
}
