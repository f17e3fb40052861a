package ir_test

import (
	"slices"
	"testing"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/testmodels"
)

// TestCanonicalizeFoldsPadsIntoConvs: TensorFlow-style explicit zero Pads before Convs become
// the Convs' padding, added to what they pad already.
func TestCanonicalizeFoldsPadsIntoConvs(t *testing.T) {
	m := testmodels.WithExplicitPads(testmodels.TinyResNet(1))
	if err := ir.Canonicalize(m); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(opTypes(m.Graph), "Pad") {
		t.Fatalf("nodes %v: a Pad is left", opTypes(m.Graph))
	}
	want := map[string]string{"stem.conv": "input", "block.c1": "s3"}
	for _, n := range m.Graph.Nodes {
		if in, ok := want[n.Name]; ok {
			if n.Input(0) != in || !slices.Equal(n.AttrInts("pads", nil), []int64{1, 1, 1, 1}) {
				t.Errorf("%s reads %q with pads %v, want %q and [1 1 1 1]", n.Name, n.Input(0), n.AttrInts("pads", nil), in)
			}
		}
	}
}

// TestCanonicalizeKeepsOtherPads: a Pad that is not a zero spatial padding read only by Convs
// stays.
func TestCanonicalizeKeepsOtherPads(t *testing.T) {
	zeroPads := []int64{0, 0, 1, 1, 0, 0, 1, 1}
	for _, tc := range []struct {
		name     string
		pads     []int64
		attrs    []ir.Attr
		value    float32 // constant_value input when not 0
		consumer string  // the op reading the Pad besides nothing else
		autoPad  string
	}{
		{name: "non-zero value", pads: zeroPads, value: 1, consumer: "Conv"},
		{name: "reflect mode", pads: zeroPads, attrs: []ir.Attr{ir.StringAttr("mode", "reflect")}, consumer: "Conv"},
		{name: "channel padding", pads: []int64{0, 1, 1, 1, 0, 0, 1, 1}, consumer: "Conv"},
		{name: "cropping", pads: []int64{0, 0, -1, 0, 0, 0, 1, 1}, consumer: "Conv"},
		{name: "read by MaxPool", pads: zeroPads, consumer: "MaxPool"},
		{name: "Conv with auto_pad", pads: zeroPads, consumer: "Conv", autoPad: "SAME_UPPER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := ir.NewGraph("g")
			g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: []int64{1, 2, 6, 6}}}
			g.AddInitializer(ir.NewInt64("pads", []int64{8}, tc.pads))
			ins := []string{"x", "pads"}
			if tc.value != 0 {
				g.AddInitializer(&ir.Tensor{Name: "v", DType: ir.Float32, Shape: []int64{}, F32: []float32{tc.value}})
				ins = append(ins, "v")
			}
			g.AddNode(&ir.Node{Name: "pad", OpType: "Pad", Inputs: ins, Outputs: []string{"p"}, Attrs: tc.attrs})
			reader := &ir.Node{Name: "reader", OpType: tc.consumer, Inputs: []string{"p"}, Outputs: []string{"y"},
				Attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3)}}
			if tc.consumer == "Conv" {
				g.AddInitializer(&ir.Tensor{Name: "w", DType: ir.Float32, Shape: []int64{2, 2, 3, 3}, F32: make([]float32, 36)})
				reader.Inputs = append(reader.Inputs, "w")
			}
			if tc.autoPad != "" {
				reader.Attrs = append(reader.Attrs, ir.StringAttr("auto_pad", tc.autoPad))
			}
			g.AddNode(reader)
			g.Outputs = []*ir.Value{{Name: "y", DType: ir.Float32}}
			m := &ir.Model{IRVersion: 7, Opsets: []ir.Opset{{Domain: "", Version: 13}}, Graph: g}
			if err := ir.Canonicalize(m); err != nil {
				t.Fatal(err)
			}
			if got := opTypes(g); !slices.Equal(got, []string{"Pad", tc.consumer}) {
				t.Fatalf("nodes %v, want the Pad kept", got)
			}
			if in := g.Nodes[1].Input(0); in != "p" {
				t.Errorf("%s reads %q, want the Pad's output", tc.consumer, in)
			}
		})
	}
}
