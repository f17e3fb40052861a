package ir_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/testmodels"
)

// constNode returns a Constant node producing a 0-D (dims nil) or 1-D int64 tensor.
func constNode(out string, dims []int64, v ...int64) *ir.Node {
	return &ir.Node{Name: out, OpType: "Constant", Outputs: []string{out},
		Attrs: []ir.Attr{ir.TensorAttr("value", ir.NewInt64("", dims, v))}}
}

func opTypes(g *ir.Graph) []string {
	var ops []string
	for _, n := range g.Nodes {
		ops = append(ops, n.OpType)
	}
	return ops
}

// viewModel is what torch.onnx.export emits for x.view(x.size(0), -1) after a Relu:
// Shape → Gather(0) → Unsqueeze(0) → Concat with [-1] → Reshape, the Unsqueeze axes an
// attribute before opset 13 and a Constant input from then on.
func viewModel(opset int64) *ir.Model {
	g := ir.NewGraph("view")
	g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: []int64{-1, 3, 4, 4}, DimNames: []string{"batch", "", "", ""}}}
	g.Outputs = []*ir.Value{{Name: "flat", DType: ir.Float32, Shape: []int64{-1, -1}, DimNames: []string{"batch", "cols"}}}
	g.AddNode(&ir.Node{Name: "relu", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"r"}})
	g.AddNode(&ir.Node{Name: "shape", OpType: "Shape", Inputs: []string{"r"}, Outputs: []string{"s"}})
	g.AddNode(constNode("c0", nil, 0))
	g.AddNode(&ir.Node{Name: "gather", OpType: "Gather", Inputs: []string{"s", "c0"}, Outputs: []string{"g"}, Attrs: []ir.Attr{ir.IntAttr("axis", 0)}})
	if opset < 13 {
		g.AddNode(&ir.Node{Name: "unsqueeze", OpType: "Unsqueeze", Inputs: []string{"g"}, Outputs: []string{"u"}, Attrs: []ir.Attr{ir.IntsAttr("axes", 0)}})
	} else {
		g.AddNode(constNode("c1", []int64{1}, 0))
		g.AddNode(&ir.Node{Name: "unsqueeze", OpType: "Unsqueeze", Inputs: []string{"g", "c1"}, Outputs: []string{"u"}})
	}
	g.AddNode(constNode("c2", []int64{1}, -1))
	g.AddNode(&ir.Node{Name: "concat", OpType: "Concat", Inputs: []string{"u", "c2"}, Outputs: []string{"target"}, Attrs: []ir.Attr{ir.IntAttr("axis", 0)}})
	g.AddNode(&ir.Node{Name: "reshape", OpType: "Reshape", Inputs: []string{"r", "target"}, Outputs: []string{"flat"}})
	return &ir.Model{IRVersion: 7, Opsets: []ir.Opset{{Domain: "", Version: opset}}, Graph: g}
}

func TestFixBatchFoldsViewChain(t *testing.T) {
	const batch = 4
	for _, opset := range []int64{11, 13, 21} {
		t.Run(fmt.Sprintf("opset%d", opset), func(t *testing.T) {
			m := viewModel(opset)
			if err := ir.FixBatch(m, batch); err != nil {
				t.Fatal(err)
			}
			g := m.Graph
			// The chain is x.view(x.size(0), -1): Canonicalize makes it a Flatten and the
			// shape nodes and constants go.
			if got, want := opTypes(g), []string{"Relu", "Flatten"}; !slices.Equal(got, want) {
				t.Fatalf("nodes %v, want %v", got, want)
			}
			if a := g.Nodes[1].AttrInt("axis", 1); a != 1 || len(g.Nodes[1].Inputs) != 1 || g.Nodes[1].Inputs[0] != "r" {
				t.Errorf("Flatten %v axis %d, want Flatten(r) at axis 1", g.Nodes[1].Inputs, a)
			}
			if len(g.Initializers) != 0 {
				t.Errorf("%d initializers left, want none", len(g.Initializers))
			}
			out := g.Outputs[0]
			// 3*4*4 = 48 features per example.
			if out.Name != "flat" || !slices.Equal(out.Shape, []int64{batch, 48}) || out.DimNames != nil {
				t.Errorf("output %+v, want flat [%d 48] without dim names", out, batch)
			}
			if err := ir.Validate(m); err != nil {
				t.Errorf("folded graph does not validate: %v", err)
			}
		})
	}
}

func TestCanonicalizeKeepsOutputNames(t *testing.T) {
	x := func() []*ir.Value { return []*ir.Value{{Name: "x", DType: ir.Float32, Shape: []int64{-1, 3}}} }
	outs := func(names ...string) []*ir.Value {
		var v []*ir.Value
		for _, n := range names {
			v = append(v, &ir.Value{Name: n, DType: ir.Float32})
		}
		return v
	}
	node := func(op string, ins, outs []string) *ir.Node {
		return &ir.Node{Name: op + "_" + outs[0], OpType: op, Inputs: ins, Outputs: outs}
	}
	for _, tc := range []struct {
		name  string
		nodes []*ir.Node
		outs  []string
		// want lists each remaining node as "OpType:inputs->outputs".
		want    []string
		wantErr string
	}{
		{
			name: "dropout then identity to output",
			nodes: []*ir.Node{
				node("Dropout", []string{"x"}, []string{"d", "mask"}),
				node("Relu", []string{"d"}, []string{"r"}),
				node("Identity", []string{"r"}, []string{"out"}),
			},
			outs: []string{"out"},
			want: []string{"Relu:x->out"},
		},
		{
			name: "identity from graph input to output stays",
			nodes: []*ir.Node{
				node("Identity", []string{"x"}, []string{"out"}),
			},
			outs: []string{"out"},
			want: []string{"Identity:x->out"},
		},
		{
			name: "two identities to two outputs",
			nodes: []*ir.Node{
				node("Relu", []string{"x"}, []string{"r"}),
				node("Identity", []string{"r"}, []string{"out1"}),
				node("Identity", []string{"r"}, []string{"out2"}),
			},
			outs: []string{"out1", "out2"},
			want: []string{"Relu:x->out1", "Identity:out1->out2"},
		},
		{
			name: "identity between two outputs",
			nodes: []*ir.Node{
				node("Relu", []string{"x"}, []string{"a"}),
				node("Identity", []string{"a"}, []string{"b"}),
			},
			outs: []string{"a", "b"},
			want: []string{"Relu:x->a", "Identity:a->b"},
		},
		{
			name: "dead branch pruned",
			nodes: []*ir.Node{
				node("Relu", []string{"x"}, []string{"out"}),
				node("Sigmoid", []string{"x"}, []string{"unused"}),
			},
			outs: []string{"out"},
			want: []string{"Relu:x->out"},
		},
		{
			name: "dropout mask used",
			nodes: []*ir.Node{
				node("Dropout", []string{"x"}, []string{"d", "mask"}),
				node("Cast", []string{"mask"}, []string{"out"}),
			},
			outs:    []string{"out"},
			wantErr: `node "Dropout_d" (Dropout)`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := ir.NewGraph("g")
			g.Inputs = x()
			g.Nodes = tc.nodes
			g.Outputs = outs(tc.outs...)
			m := &ir.Model{IRVersion: 7, Opsets: []ir.Opset{{Domain: "", Version: 13}}, Graph: g}
			err := ir.Canonicalize(m)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range g.Nodes {
				got = append(got, n.OpType+":"+strings.Join(n.Inputs, ",")+"->"+strings.Join(n.Outputs, ","))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("nodes %q, want %q", got, tc.want)
			}
			for i, o := range g.Outputs {
				if o.Name != tc.outs[i] {
					t.Errorf("graph output %d renamed to %q, want %q", i, o.Name, tc.outs[i])
				}
			}
			if err := ir.Validate(m); err != nil {
				t.Errorf("canonical graph does not validate: %v", err)
			}
			// FixBatch (which canonicalises too) must also give every output a static shape.
			if err := ir.FixBatch(m, 2); err != nil {
				t.Fatal(err)
			}
			for _, o := range g.Outputs {
				if !slices.Equal(o.Shape, []int64{2, 3}) {
					t.Errorf("output %q shape %v, want [2 3]", o.Name, o.Shape)
				}
			}
		})
	}
}

func TestCanonicalizeConstantBecomesInitializer(t *testing.T) {
	g := ir.NewGraph("g")
	g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: []int64{2, 3}}}
	g.AddNode(&ir.Node{Name: "k", OpType: "Constant", Outputs: []string{"k"},
		Attrs: []ir.Attr{{Name: "value_floats", Type: ir.AttrFloats, Floats: []float32{1, 2, 3}}}})
	g.AddNode(&ir.Node{Name: "add", OpType: "Add", Inputs: []string{"x", "k"}, Outputs: []string{"y"}})
	g.Outputs = []*ir.Value{{Name: "y", DType: ir.Float32}}
	m := &ir.Model{IRVersion: 7, Opsets: []ir.Opset{{Domain: "", Version: 13}}, Graph: g}
	if err := ir.Canonicalize(m); err != nil {
		t.Fatal(err)
	}
	if got := opTypes(g); !slices.Equal(got, []string{"Add"}) {
		t.Fatalf("nodes %v, want [Add]", got)
	}
	k := g.Initializer("k")
	if k == nil || !slices.Equal(k.F32, []float32{1, 2, 3}) || !slices.Equal(k.Shape, []int64{3}) {
		t.Fatalf("initializer k = %+v, want [1 2 3] of shape [3]", k)
	}
}

// A Transpose of a float initializer (a Linear layer's weight as PyTorch exports it with
// do_constant_folding=False) becomes the transposed initializer, so the layer reading it has a
// constant weight; a Transpose of an activation stays.
func TestCanonicalizeFoldsConstantTranspose(t *testing.T) {
	tests := []struct {
		name  string
		shape []int64
		perm  []int64 // nil: Transpose's default, the axes reversed
		want  []float32
		wantS []int64
	}{
		{"2-D default", []int64{2, 3}, nil, []float32{0, 3, 1, 4, 2, 5}, []int64{3, 2}},
		{"2-D identity", []int64{2, 3}, []int64{0, 1}, []float32{0, 1, 2, 3, 4, 5}, []int64{2, 3}},
		// w[a][b][c] = 6a + 3b + c, shape [2, 2, 3]; out[c][a][b] = w[a][b][c].
		{"3-D", []int64{2, 2, 3}, []int64{2, 0, 1}, []float32{0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11}, []int64{3, 2, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := ir.NewGraph("g")
			g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: tt.shape}}
			data := make([]float32, ir.NumElements(tt.shape))
			for i := range data {
				data[i] = float32(i)
			}
			g.AddInitializer(ir.NewFloat32("w", tt.shape, data))
			var attrs []ir.Attr
			if tt.perm != nil {
				attrs = []ir.Attr{ir.IntsAttr("perm", tt.perm...)}
			}
			g.AddNode(&ir.Node{Name: "wt", OpType: "Transpose", Inputs: []string{"w"}, Outputs: []string{"wt"}, Attrs: attrs})
			g.AddNode(&ir.Node{Name: "xt", OpType: "Transpose", Inputs: []string{"x"}, Outputs: []string{"xt"}, Attrs: attrs})
			g.AddNode(&ir.Node{Name: "add", OpType: "Add", Inputs: []string{"xt", "wt"}, Outputs: []string{"y"}})
			g.Outputs = []*ir.Value{{Name: "y", DType: ir.Float32}}
			m := &ir.Model{IRVersion: 7, Opsets: []ir.Opset{{Domain: "", Version: 13}}, Graph: g}
			if err := ir.Canonicalize(m); err != nil {
				t.Fatal(err)
			}
			if got := opTypes(g); !slices.Equal(got, []string{"Transpose", "Add"}) {
				t.Fatalf("nodes %v, want [Transpose Add]: the activation's Transpose alone", got)
			}
			wt := g.Initializer("wt")
			if wt == nil || !slices.Equal(wt.F32, tt.want) || !slices.Equal(wt.Shape, tt.wantS) {
				t.Fatalf("initializer wt = %+v, want %v of shape %v", wt, tt.want, tt.wantS)
			}
		})
	}
}

func TestFixBatchDynamicDimensionErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		input   *ir.Value
		wantErr []string
	}{
		{
			name:    "named height",
			input:   &ir.Value{Name: "image", DType: ir.Float32, Shape: []int64{-1, 3, -1, 8}, DimNames: []string{"batch", "", "height", ""}},
			wantErr: []string{`input "image"`, "dimension 2", `"height"`, "batch dimension (axis 0)"},
		},
		{
			name:    "unnamed",
			input:   &ir.Value{Name: "image", DType: ir.Float32, Shape: []int64{-1, 3, 8, -1}},
			wantErr: []string{`input "image"`, "dimension 3"},
		},
		{
			// IR built by hand may carry fewer names than dimensions.
			name:    "short dim names",
			input:   &ir.Value{Name: "image", DType: ir.Float32, Shape: []int64{-1, 3, 8, -1}, DimNames: []string{"batch"}},
			wantErr: []string{`input "image"`, "dimension 3"},
		},
		{
			name:    "no shape",
			input:   &ir.Value{Name: "image", DType: ir.Float32},
			wantErr: []string{`input "image" has no shape`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := ir.NewGraph("g")
			g.Inputs = []*ir.Value{tc.input}
			g.AddNode(&ir.Node{Name: "relu", OpType: "Relu", Inputs: []string{"image"}, Outputs: []string{"y"}})
			g.Outputs = []*ir.Value{{Name: "y", DType: ir.Float32}}
			m := &ir.Model{IRVersion: 7, Opsets: []ir.Opset{{Domain: "", Version: 13}}, Graph: g}
			err := ir.FixBatch(m, 1)
			if err == nil {
				t.Fatal("FixBatch succeeded, want an error")
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

// TestMalformedNodesAreErrors feeds FixBatch nodes that a decoded file may hold but no
// exporter writes (missing inputs, outputs or attributes); each must be an error naming the
// node, not a panic.
func TestMalformedNodesAreErrors(t *testing.T) {
	value := ir.TensorAttr("value", ir.NewInt64("", []int64{1}, []int64{1}))
	for _, tc := range []struct {
		name string
		node *ir.Node
		want string
	}{
		{"where with one input", &ir.Node{Name: "bad", OpType: "Where", Inputs: []string{"x"}, Outputs: []string{"y"}}, "has 1 input; Where takes 3 inputs"},
		{"add without inputs", &ir.Node{Name: "bad", OpType: "Add", Outputs: []string{"y"}}, "has 0 inputs; Add takes 2 inputs"},
		// Its shape broadcasts alone; its gradient rule indexed the missing second input.
		{"add with one input", &ir.Node{Name: "bad", OpType: "Add", Inputs: []string{"x"}, Outputs: []string{"y"}}, "has 1 input; Add takes 2 inputs"},
		{"add with three inputs", &ir.Node{Name: "bad", OpType: "Add", Inputs: []string{"x", "x", "x"}, Outputs: []string{"y"}}, "has 3 inputs; Add takes 2 inputs"},
		{"conv without its weight", &ir.Node{Name: "bad", OpType: "Conv", Inputs: []string{"x", ""}, Outputs: []string{"y"}}, "input 1 is empty, and Conv requires it"},
		{"relu with two outputs", &ir.Node{Name: "bad", OpType: "Relu", Inputs: []string{"x"}, Outputs: []string{"y", "z"}}, "has 2 outputs; Relu gives 1 output"},
		// Shape inference read it as absent, the gradient rule as an empty list.
		{"dilations as one int", &ir.Node{Name: "bad", OpType: "MaxPool", Inputs: []string{"x"}, Outputs: []string{"y"},
			Attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 2, 2), ir.IntAttr("dilations", 1)}}, "attribute dilations is INT, want INTS"},
		{"concat without inputs", &ir.Node{Name: "bad", OpType: "Concat", Outputs: []string{"y"}, Attrs: []ir.Attr{ir.IntAttr("axis", 1)}}, "Concat takes 1 or more inputs"},
		{"identity without inputs", &ir.Node{Name: "bad", OpType: "Identity", Outputs: []string{"y"}}, "no input"},
		{"constant without outputs", &ir.Node{Name: "bad", OpType: "Constant", Attrs: []ir.Attr{value}}, "no outputs"},
		{"reshape without outputs", &ir.Node{Name: "bad", OpType: "Reshape", Inputs: []string{"x", "x"}}, "no outputs"},
		{"maxunpool without kernel", &ir.Node{Name: "bad", OpType: "MaxUnpool", Inputs: []string{"x", "x"}, Outputs: []string{"y"}}, "kernel_shape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := ir.NewGraph("g")
			g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: []int64{-1, 3, 4, 4}}}
			g.AddNode(tc.node)
			g.Outputs = []*ir.Value{{Name: "y", DType: ir.Float32}}
			m := &ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Domain: "", Version: 13}}, Graph: g}
			err := ir.FixBatch(m, 2)
			if err == nil || !strings.Contains(err.Error(), `node "bad"`) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming node \"bad\" and containing %q", err, tc.want)
			}
		})
	}
}

func TestValidateRejectsNodeWithoutOutputs(t *testing.T) {
	g := ir.NewGraph("g")
	g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: []int64{1}}}
	g.AddNode(&ir.Node{Name: "sink", OpType: "Relu", Inputs: []string{"x"}})
	g.Outputs = []*ir.Value{{Name: "x", DType: ir.Float32}}
	err := ir.Validate(&ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Domain: "", Version: 13}}, Graph: g})
	if err == nil || !strings.Contains(err.Error(), `node "sink" (Relu) has no outputs`) {
		t.Fatalf("error %v, want one saying node \"sink\" has no outputs", err)
	}
}

// TestInferBatchShapes: a channel shuffle exported for a dynamic batch computes its Reshape
// targets from Shape, so the plain rules leave its outputs' channels unknown; inferring at two
// batch sizes finds them, with the batch left dynamic. The nodes stay as they were.
func TestInferBatchShapes(t *testing.T) {
	m := testmodels.WithChannelShuffle(testmodels.TinyResNet(1))
	if err := ir.Canonicalize(m); err != nil {
		t.Fatal(err)
	}
	nodes := len(m.Graph.Nodes)
	if err := ir.InferShapes(m); err != nil {
		t.Fatal(err)
	}
	if s := m.Graph.ValueInfo["sh.out"].Shape; len(s) == 4 && s[1] > 0 {
		t.Fatalf("plain inference already knows %v: the test model does not need InferBatchShapes", s)
	}
	if err := ir.InferBatchShapes(m); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]int64{"sh.split": {-1, 2, 2, 8, 8}, "sh.swapped": {-1, 2, 2, 8, 8}, "sh.out": {-1, 4, 8, 8}} {
		if got := m.Graph.ValueInfo[name].Shape; !slices.Equal(got, want) {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
	if len(m.Graph.Nodes) != nodes {
		t.Errorf("%d nodes after inference, %d before", len(m.Graph.Nodes), nodes)
	}
}
