package ir_test

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
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
