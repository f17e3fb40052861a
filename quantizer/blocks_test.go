package quantizer_test

import (
	"slices"
	"testing"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
)

func TestPartitionRealModels(t *testing.T) {
	// Block counts follow the architectures in ../shared/models/train_fmnist.py: ResNet-20 has
	// 9 basic blocks, ResNet-18 8; MobileNetV2 has 10 inverted residuals with a shortcut.
	tests := []struct {
		model         string
		residual, all int
		bnNodes       int
		folded        bool
	}{
		{"resnet20_fmnist.onnx", 9, 11, 21, false},
		{"resnet20_fmnist_folded.onnx", 9, 11, 0, true},
		{"resnet18w16_fmnist.onnx", 8, 10, 20, false},
		{"mobilenetv2_fmnist.onnx", 10, 0, 52, false},
		{"mobilenetv2_fmnist_folded.onnx", 10, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.model, func(t *testing.T) {
			m, err := onnxio.Read("../../shared/models/" + tc.model)
			if err != nil {
				t.Skip(err)
			}
			if err := ir.FixBatch(m, 1); err != nil {
				t.Fatal(err)
			}
			blocks, err := quantizer.Partition(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			res, layers, nodes := 0, 0, 0
			for _, b := range blocks {
				if b.Kind == quantizer.Residual {
					res++
				}
				layers += len(b.Layers)
				nodes += len(b.Nodes)
			}
			if res != tc.residual {
				t.Errorf("%d residual blocks, want %d", res, tc.residual)
			}
			if tc.all > 0 && len(blocks) != tc.all {
				t.Errorf("%d blocks, want %d", len(blocks), tc.all)
			}
			if nodes != len(m.Graph.Nodes) {
				t.Errorf("blocks cover %d nodes, graph has %d", nodes, len(m.Graph.Nodes))
			}
			want := 0
			for _, n := range m.Graph.Nodes {
				if quantizer.IsQuantizable(m.Graph, n) {
					want++
				}
			}
			if layers != want {
				t.Errorf("blocks hold %d layers, graph has %d", layers, want)
			}
			bn := quantizer.InspectBN(m.Graph)
			if bn.Nodes != tc.bnNodes || bn.FoldedLike != tc.folded {
				t.Errorf("BN state %+v, want %d nodes, folded %v", bn, tc.bnNodes, tc.folded)
			}
		})
	}
}

// graphBuilder writes small graphs for partition tests: every conv is 1×1 with c channels.
type graphBuilder struct {
	g *ir.Graph
	c int64
}

func newGraphBuilder(c int64) *graphBuilder {
	g := ir.NewGraph("partition")
	g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: []int64{1, c, 4, 4}}}
	return &graphBuilder{g: g, c: c}
}

func (b *graphBuilder) node(op, out string, ins ...string) string {
	b.g.AddNode(&ir.Node{Name: out, OpType: op, Inputs: ins, Outputs: []string{out}})
	return out
}

func (b *graphBuilder) conv(out, in string, cin int64) string {
	w := out + ".w"
	b.g.AddInitializer(ir.NewFloat32(w, []int64{b.c, cin, 1, 1}, make([]float32, b.c*cin)))
	return b.node("Conv", out, in, w)
}

// head ends the graph with GlobalAveragePool → Flatten → Gemm and returns it.
func (b *graphBuilder) head(in string, cin int64) *ir.Graph {
	b.node("GlobalAveragePool", "pool", in)
	b.node("Flatten", "flat", "pool")
	b.g.AddInitializer(ir.NewFloat32("fc.w", []int64{3, cin}, make([]float32, 3*cin)))
	b.node("Gemm", "logits", "flat", "fc.w")
	b.g.Nodes[len(b.g.Nodes)-1].Attrs = []ir.Attr{ir.IntAttr("transB", 1)}
	b.g.Outputs = []*ir.Value{{Name: "logits", DType: ir.Float32}}
	return b.g
}

// TestPartitionBranches: spans that branch and join again form one block each, whatever the
// join (Add, Concat); a gating Mul stays inside its chain; no block reads a value from
// outside it other than its input.
func TestPartitionBranches(t *testing.T) {
	type want struct {
		kind   quantizer.BlockKind
		layers int
	}
	tests := []struct {
		name  string
		build func() *ir.Graph
		want  []want
	}{
		{"residual add", func() *ir.Graph {
			b := newGraphBuilder(4)
			b.node("Relu", "r0", b.conv("c0", "x", 4))
			b.node("Add", "sum", b.conv("c2", b.conv("c1", "r0", 4), 4), "r0")
			return b.head(b.node("Relu", "r1", "sum"), 4)
		}, []want{{quantizer.Single, 1}, {quantizer.Residual, 2}, {quantizer.Single, 1}}},
		{"fire module (concat)", func() *ir.Graph {
			b := newGraphBuilder(4)
			b.conv("c0", "x", 4)
			sq := b.node("Relu", "sq", b.conv("squeeze", "c0", 4))
			cat := b.node("Concat", "cat", b.conv("e1", sq, 4), b.conv("e3", sq, 4))
			b.g.Nodes[len(b.g.Nodes)-1].Attrs = []ir.Attr{ir.IntAttr("axis", 1)}
			return b.head(cat, 8)
		}, []want{{quantizer.Single, 1}, {quantizer.Single, 1}, {quantizer.Residual, 2}, {quantizer.Single, 1}}},
		{"dense block then transition", func() *ir.Graph {
			b := newGraphBuilder(4)
			a := b.conv("c0", "x", 4)
			c1 := b.node("Concat", "cat1", a, b.conv("d1", a, 4))
			b.g.Nodes[len(b.g.Nodes)-1].Attrs = []ir.Attr{ir.IntAttr("axis", 1)}
			c2 := b.node("Concat", "cat2", a, "d1", b.conv("d2", c1, 8))
			b.g.Nodes[len(b.g.Nodes)-1].Attrs = []ir.Attr{ir.IntAttr("axis", 1)}
			return b.head(b.node("Relu", "tr", b.conv("trans", c2, 12)), 4)
		}, []want{{quantizer.Single, 1}, {quantizer.Residual, 2}, {quantizer.Single, 1}, {quantizer.Single, 1}}},
		{"squeeze-and-excitation in a chain", func() *ir.Graph {
			b := newGraphBuilder(4)
			x := b.node("Relu", "r0", b.conv("c1", b.conv("c0", "x", 4), 4))
			s := b.node("Sigmoid", "s", b.conv("fc2", b.node("Relu", "r1", b.conv("fc1", b.node("GlobalAveragePool", "sp", x), 4)), 4))
			return b.head(b.conv("c2", b.node("Mul", "gated", x, s), 4), 4)
		}, []want{{quantizer.Single, 1}, {quantizer.Single, 4}, {quantizer.Single, 1}}},
		{"gating right after the first layer", func() *ir.Graph {
			b := newGraphBuilder(4)
			x := b.conv("c0", "x", 4)
			s := b.node("Sigmoid", "s", b.conv("se", b.node("GlobalAveragePool", "sp", x), 4))
			return b.head(b.conv("c1", b.node("Mul", "gated", x, s), 4), 4)
		}, []want{{quantizer.Single, 3}, {quantizer.Single, 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.build()
			m := &ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Domain: "", Version: 13}}, Graph: g}
			if err := ir.InferShapes(m); err != nil {
				t.Fatal(err)
			}
			blocks, err := quantizer.Partition(g)
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			nodes := 0
			for _, b := range blocks {
				got = append(got, want{b.Kind, len(b.Layers)})
				nodes += len(b.Nodes)
				inside := map[string]bool{b.Input: true}
				for _, n := range b.Nodes {
					for _, in := range n.Inputs {
						if in != "" && !inside[in] && g.Initializer(in) == nil {
							t.Errorf("%s reads %q from outside (input %q)", b.Name, in, b.Input)
						}
					}
					for _, o := range n.Outputs {
						inside[o] = true
					}
				}
			}
			if nodes != len(g.Nodes) {
				t.Errorf("blocks cover %d nodes, graph has %d", nodes, len(g.Nodes))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("blocks (kind, layers) %v, want %v", got, tc.want)
			}
		})
	}
}

// TestConcatOfReLUsIsUnsigned: a concatenation of non-negative values (SqueezeNet's expand
// ReLUs) is non-negative, so the layer reading it gets an unsigned activation grid; one signed
// input makes it signed.
func TestConcatOfReLUsIsUnsigned(t *testing.T) {
	for _, tc := range []struct {
		name       string
		secondReLU bool
		wantSigned bool
	}{{"both inputs ReLU", true, false}, {"one input signed", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			b := newGraphBuilder(4)
			sq := b.node("Relu", "sq", b.conv("c0", "x", 4))
			e1 := b.node("Relu", "e1r", b.conv("e1", sq, 4))
			e3 := b.conv("e3", sq, 4)
			if tc.secondReLU {
				e3 = b.node("Relu", "e3r", e3)
			}
			cat := b.node("Concat", "cat", e1, e3)
			b.g.Nodes[len(b.g.Nodes)-1].Attrs = []ir.Attr{ir.IntAttr("axis", 1)}
			g := b.head(b.conv("c2", cat, 8), 4)
			m := &ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Domain: "", Version: 13}}, Graph: g}
			if err := ir.InferShapes(m); err != nil {
				t.Fatal(err)
			}
			p, err := quantizer.NewPlan(g, quantizer.DefaultBits(4, 4), false)
			if err != nil {
				t.Fatal(err)
			}
			a := p.Act("cat")
			if a == nil {
				t.Fatal("no activation quantizer on the concatenation")
			}
			if a.Signed != tc.wantSigned {
				t.Errorf("signed %v, want %v", a.Signed, tc.wantSigned)
			}
		})
	}
}
