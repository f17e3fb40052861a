package testmodels

import (
	"math/rand/v2"
	"slices"

	"github.com/sharpq/sharpq/ir"
)

// Bundled files, relative to this package's folder.
const (
	DefaultModel  = "resnet20_fmnist.onnx"
	SubsetImages  = "fmnist_test1k_u8.npy"
	SubsetLabels  = "fmnist_test1k_labels.npy"
	FMNISTMean    = 0.2860
	FMNISTStd     = 0.3530
	DefaultOpset  = 13
	tinyChannels  = 4
	tinyClasses   = 3
	tinyImageSize = 8
)

func randTensor(r *rand.Rand, name string, scale float32, shape ...int64) *ir.Tensor {
	data := make([]float32, ir.NumElements(shape))
	for i := range data {
		data[i] = scale * float32(r.NormFloat64())
	}
	return ir.NewFloat32(name, shape, data)
}

func positive(r *rand.Rand, name string, shape ...int64) *ir.Tensor {
	t := randTensor(r, name, 0.2, shape...)
	for i, v := range t.F32 {
		if v < 0 {
			v = -v
		}
		t.F32[i] = 0.5 + v
	}
	return t
}

// TinyResNet returns a residual CNN on 1×8×8 inputs with BatchNormalization kept:
// Conv-BN-Relu, a basic block (Conv-BN-Relu-Conv-BN + skip, Relu), GlobalAveragePool,
// Flatten, Gemm to 3 classes. Weights are random but fixed by seed.
func TinyResNet(seed uint64) *ir.Model {
	r := rand.New(rand.NewPCG(seed, 1))
	c := int64(tinyChannels)
	g := ir.NewGraph("tiny_resnet")
	g.Inputs = []*ir.Value{{Name: "input", DType: ir.Float32, Shape: []int64{-1, 1, tinyImageSize, tinyImageSize}, DimNames: []string{"batch", "", "", ""}}}
	g.Outputs = []*ir.Value{{Name: "logits", DType: ir.Float32, Shape: []int64{-1, tinyClasses}, DimNames: []string{"batch", ""}}}
	conv := func(name, in, out string, cin int64) {
		g.AddInitializer(randTensor(r, name+".weight", 0.5, c, cin, 3, 3))
		g.AddNode(&ir.Node{Name: name, OpType: "Conv", Inputs: []string{in, name + ".weight"}, Outputs: []string{out},
			Attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("pads", 1, 1, 1, 1)}})
	}
	bn := func(name, in, out string) {
		g.AddInitializer(positive(r, name+".weight", c))
		g.AddInitializer(randTensor(r, name+".bias", 0.1, c))
		g.AddInitializer(randTensor(r, name+".running_mean", 0.1, c))
		g.AddInitializer(positive(r, name+".running_var", c))
		g.AddNode(&ir.Node{Name: name, OpType: "BatchNormalization",
			Inputs:  []string{in, name + ".weight", name + ".bias", name + ".running_mean", name + ".running_var"},
			Outputs: []string{out}, Attrs: []ir.Attr{ir.FloatAttr("epsilon", 1e-5)}})
	}
	relu := func(name, in, out string) {
		g.AddNode(&ir.Node{Name: name, OpType: "Relu", Inputs: []string{in}, Outputs: []string{out}})
	}
	conv("stem.conv", "input", "s1", 1)
	bn("stem.bn", "s1", "s2")
	relu("stem.relu", "s2", "s3")
	conv("block.c1", "s3", "b1", c)
	bn("block.b1", "b1", "b2")
	relu("block.r1", "b2", "b3")
	conv("block.c2", "b3", "b4", c)
	bn("block.b2", "b4", "b5")
	g.AddNode(&ir.Node{Name: "block.add", OpType: "Add", Inputs: []string{"b5", "s3"}, Outputs: []string{"b6"}})
	relu("block.r2", "b6", "b7")
	g.AddNode(&ir.Node{Name: "pool", OpType: "GlobalAveragePool", Inputs: []string{"b7"}, Outputs: []string{"p"}})
	g.AddNode(&ir.Node{Name: "flatten", OpType: "Flatten", Inputs: []string{"p"}, Outputs: []string{"f"}, Attrs: []ir.Attr{ir.IntAttr("axis", 1)}})
	g.AddInitializer(randTensor(r, "fc.weight", 0.5, tinyClasses, c))
	g.AddInitializer(randTensor(r, "fc.bias", 0.1, tinyClasses))
	g.AddNode(&ir.Node{Name: "fc", OpType: "Gemm", Inputs: []string{"f", "fc.weight", "fc.bias"}, Outputs: []string{"logits"},
		Attrs: []ir.Attr{ir.IntAttr("transB", 1)}})
	return &ir.Model{IRVersion: 7, Opsets: []ir.Opset{{Domain: "", Version: DefaultOpset}}, ProducerName: "sharpq-testmodels", Graph: g}
}

// WithOps returns TinyResNet with extra nodes of the given op types appended after the
// logits (as dead-end outputs), for unsupported-operator tests.
func WithOps(seed uint64, ops ...string) *ir.Model {
	m := TinyResNet(seed)
	for i, op := range ops {
		out := "extra" + string(rune('a'+i))
		m.Graph.AddNode(&ir.Node{Name: "extra_" + op, OpType: op, Inputs: []string{"logits"}, Outputs: []string{out}})
		m.Graph.Outputs = append(m.Graph.Outputs, &ir.Value{Name: out, DType: ir.Float32})
	}
	return m
}

// DynamicSpatial returns TinyResNet whose input height and width are dynamic.
func DynamicSpatial(seed uint64) *ir.Model {
	m := TinyResNet(seed)
	m.Graph.Inputs[0].Shape = []int64{-1, 1, -1, -1}
	m.Graph.Inputs[0].DimNames = []string{"batch", "", "height", "width"}
	return m
}

// AsOldExport rewrites m (opset 13 or later, as exported by PyTorch) into the form an exporter
// writes at opset: Clip's bounds become attributes below opset 11,
// BatchNormalization gains opset 7–8's spatial attribute, GlobalAveragePool → Flatten becomes
// what `x.mean([2, 3], keepdim=True).view(x.size(0), -1)` exports (ReduceMean with its axes
// as an attribute, then Shape → Gather → Unsqueeze → Concat → Reshape, Unsqueeze's axes an
// attribute below opset 13), and the IR version drops to 3.
// It computes the same function; the tests of opset upgrading run real models through it.
func AsOldExport(m *ir.Model, opset int64) *ir.Model {
	g := m.Graph
	var nodes []*ir.Node
	pooled := map[string]string{} // GlobalAveragePool output → its input
	consts := map[string]*ir.Tensor{}
	for _, t := range g.Initializers {
		consts[t.Name] = t
	}
	for _, n := range g.Nodes {
		switch n.OpType {
		case "Constant":
			if t, err := ir.ConstantValue(n); err == nil {
				consts[n.Outputs[0]] = t
			}
		case "Clip":
			if opset >= 11 {
				break
			}
			var attrs []ir.Attr
			for i, name := range []string{"min", "max"} {
				if t := consts[n.Input(1+i)]; t != nil {
					attrs = append(attrs, ir.FloatAttr(name, t.F32[0]))
				}
			}
			n.Inputs, n.Attrs = n.Inputs[:1], append(n.Attrs, attrs...)
		case "BatchNormalization":
			if opset < 9 {
				n.SetAttr(ir.IntAttr("spatial", 1))
			}
		case "GlobalAveragePool":
			pooled[n.Outputs[0]] = n.Inputs[0]
			continue
		case "Flatten":
			if x, ok := pooled[n.Input(0)]; ok {
				// x.mean([2, 3], keepdim=True).view(x.size(0), -1)
				p, y := n.Name+"_mean", n.Outputs[0]
				g.AddInitializer(ir.NewInt64(n.Name+"_zero", []int64{}, []int64{0}))
				g.AddInitializer(ir.NewInt64(n.Name+"_rest", []int64{1}, []int64{-1}))
				unsq := &ir.Node{Name: n.Name + "_unsqueeze", OpType: "Unsqueeze", Inputs: []string{n.Name + "_n"}, Outputs: []string{n.Name + "_n1"}}
				if opset < 13 {
					unsq.Attrs = []ir.Attr{ir.IntsAttr("axes", 0)}
				} else {
					g.AddInitializer(ir.NewInt64(n.Name+"_axes", []int64{1}, []int64{0}))
					unsq.Inputs = append(unsq.Inputs, n.Name+"_axes")
				}
				nodes = append(nodes,
					&ir.Node{Name: p, OpType: "ReduceMean", Inputs: []string{x}, Outputs: []string{p},
						Attrs: []ir.Attr{ir.IntsAttr("axes", 2, 3), ir.IntAttr("keepdims", 1)}},
					&ir.Node{Name: n.Name + "_shape", OpType: "Shape", Inputs: []string{p}, Outputs: []string{n.Name + "_shape"}},
					&ir.Node{Name: n.Name + "_gather", OpType: "Gather", Inputs: []string{n.Name + "_shape", n.Name + "_zero"}, Outputs: []string{n.Name + "_n"}},
					unsq,
					&ir.Node{Name: n.Name + "_concat", OpType: "Concat", Inputs: []string{n.Name + "_n1", n.Name + "_rest"}, Outputs: []string{n.Name + "_target"},
						Attrs: []ir.Attr{ir.IntAttr("axis", 0)}},
					&ir.Node{Name: n.Name + "_view", OpType: "Reshape", Inputs: []string{p, n.Name + "_target"}, Outputs: []string{y}})
				continue
			}
		}
		nodes = append(nodes, n)
	}
	g.Nodes = nodes
	for name := range g.ValueInfo {
		if g.Initializer(name) == nil && g.Input(name) == nil && !g.IsOutput(name) {
			delete(g.ValueInfo, name)
		}
	}
	ir.PruneDead(g)
	m.SetOpset("", opset)
	m.IRVersion = 3
	return m
}

// WithSoftmax appends a Softmax over the classes to m's output, as many exported classifiers
// end: the graph output becomes probabilities instead of logits.
func WithSoftmax(m *ir.Model) *ir.Model {
	g := m.Graph
	out := g.Outputs[0]
	probs := &ir.Value{Name: "probabilities", DType: out.DType, Shape: append([]int64{}, out.Shape...), DimNames: append([]string{}, out.DimNames...)}
	g.AddNode(&ir.Node{Name: "softmax", OpType: "Softmax", Inputs: []string{out.Name}, Outputs: []string{probs.Name}, Attrs: []ir.Attr{ir.IntAttr("axis", 1)}})
	g.Outputs = []*ir.Value{probs}
	g.ValueInfo[probs.Name] = probs
	return m
}

// WithPreprocessing bakes input normalisation into m, as exports of complete pipelines do:
// the graph input becomes raw pixels x and the first node computes (x − mean)/std.
func WithPreprocessing(m *ir.Model, mean, std float32) *ir.Model {
	g := m.Graph
	in := g.Inputs[0].Name
	g.AddInitializer(ir.NewFloat32("preprocess_mean", []int64{}, []float32{mean}))
	g.AddInitializer(ir.NewFloat32("preprocess_std", []int64{}, []float32{std}))
	for _, n := range g.Nodes {
		for i, x := range n.Inputs {
			if x == in {
				n.Inputs[i] = "preprocessed"
			}
		}
	}
	g.Nodes = append([]*ir.Node{
		{Name: "preprocess_sub", OpType: "Sub", Inputs: []string{in, "preprocess_mean"}, Outputs: []string{"centred"}},
		{Name: "preprocess_div", OpType: "Div", Inputs: []string{"centred", "preprocess_std"}, Outputs: []string{"preprocessed"}},
	}, g.Nodes...)
	g.Index()
	return m
}

// WithUint8Input gives m a uint8 input and a Cast to the float32 it reads, as exports with
// their preprocessing baked in take raw image bytes: m must expect pixel values 0 to 255
// (WithPreprocessing with a mean and std scaled by 255).
func WithUint8Input(m *ir.Model) *ir.Model {
	g := m.Graph
	in := g.Inputs[0]
	cast := g.UniqueName(in.Name + "_float")
	g.Rename(in.Name, cast)
	in.DType = ir.Uint8
	g.ValueInfo[in.Name] = in
	g.Nodes = append([]*ir.Node{{Name: "pixels_to_float", OpType: "Cast", Inputs: []string{in.Name}, Outputs: []string{cast},
		Attrs: []ir.Attr{ir.IntAttr("to", int64(ir.Float32))}}}, g.Nodes...)
	g.Index()
	return m
}

// WithExtraOutputs gives m, which must have a GlobalAveragePool, three outputs beside its
// logits, as exports for serving add: "probs" (a Softmax of the logits), "features" (the
// pooled features, passed on by an Identity on the way to the classifier, which sharpq
// bypasses) and "aux" (a Gemm of its own weights on the flattened features, as an auxiliary
// head).
func WithExtraOutputs(m *ir.Model) *ir.Model {
	g := m.Graph
	at := slices.IndexFunc(g.Nodes, func(n *ir.Node) bool { return n.OpType == "GlobalAveragePool" })
	if at < 0 {
		panic("testmodels: WithExtraOutputs needs a GlobalAveragePool")
	}
	g.Rename(g.Nodes[at].Outputs[0], "features")
	g.Nodes[at].Outputs[0] = "pooled"
	g.Nodes = slices.Insert(g.Nodes, at+1, &ir.Node{Name: "features", OpType: "Identity", Inputs: []string{"pooled"}, Outputs: []string{"features"}})
	logits := g.Outputs[0]
	channels := int64(0)
	for _, t := range g.Initializers {
		if len(t.Shape) == 2 { // the classifier's weight: [classes, channels]
			channels = t.Shape[1]
		}
	}
	r := rand.New(rand.NewPCG(7, 7))
	g.AddInitializer(randTensor(r, "aux.weight", 0.1, 3, channels))
	g.AddInitializer(randTensor(r, "aux.bias", 0.1, 3))
	g.Nodes = append(g.Nodes,
		&ir.Node{Name: "probs", OpType: "Softmax", Inputs: []string{logits.Name}, Outputs: []string{"probs"}, Attrs: []ir.Attr{ir.IntAttr("axis", 1)}},
		&ir.Node{Name: "aux_flatten", OpType: "Flatten", Inputs: []string{"features"}, Outputs: []string{"aux_in"}, Attrs: []ir.Attr{ir.IntAttr("axis", 1)}},
		&ir.Node{Name: "aux", OpType: "Gemm", Inputs: []string{"aux_in", "aux.weight", "aux.bias"}, Outputs: []string{"aux"}, Attrs: []ir.Attr{ir.IntAttr("transB", 1)}},
	)
	batch := logits.Shape[0]
	var featureDims []string
	if len(logits.DimNames) > 0 {
		featureDims = []string{logits.DimNames[0], "", "", ""}
	}
	g.Outputs = append(g.Outputs,
		&ir.Value{Name: "probs", DType: ir.Float32, Shape: slices.Clone(logits.Shape), DimNames: slices.Clone(logits.DimNames)},
		&ir.Value{Name: "features", DType: ir.Float32, Shape: []int64{batch, channels, 1, 1}, DimNames: featureDims},
		&ir.Value{Name: "aux", DType: ir.Float32, Shape: []int64{batch, 3}, DimNames: slices.Clone(logits.DimNames)})
	g.Index()
	return m
}

// WithStaticBatch gives m the fixed batch size of 1 that an export without dynamic axes has,
// and writes its Flatten as the Reshape to [1, -1] that PyTorch's x.view(x.size(0), -1)
// becomes when constant folding knows the batch.
func WithStaticBatch(m *ir.Model) *ir.Model {
	g := m.Graph
	for _, v := range append(slices.Clone(g.Inputs), g.Outputs...) {
		v.Shape[0], v.DimNames = 1, nil
	}
	g.AddInitializer(&ir.Tensor{Name: "view_shape", DType: ir.Int64, Shape: []int64{2}, I64: []int64{1, -1}})
	for _, n := range g.Nodes {
		if n.OpType == "Flatten" {
			n.OpType, n.Attrs = "Reshape", nil
			n.Inputs = append(n.Inputs[:1], "view_shape")
		}
	}
	g.Index()
	return m
}

// WithNHWCInput gives m a channels-last input ([N, H, W, C]) and a Transpose to the
// channels-first layout its first layer reads, as TensorFlow converters export Keras models.
func WithNHWCInput(m *ir.Model) *ir.Model {
	g := m.Graph
	in := g.Inputs[0]
	s := in.Shape
	for _, n := range g.Nodes {
		for i, x := range n.Inputs {
			if x == in.Name {
				n.Inputs[i] = "input_nchw"
			}
		}
	}
	in.Shape = []int64{s[0], s[2], s[3], s[1]}
	g.Nodes = append([]*ir.Node{{Name: "input_to_nchw", OpType: "Transpose", Inputs: []string{in.Name}, Outputs: []string{"input_nchw"},
		Attrs: []ir.Attr{ir.IntsAttr("perm", 0, 3, 1, 2)}}}, g.Nodes...)
	g.Index()
	return m
}

// WithLinearAs rewrites m's PyTorch Linear layers (Gemm with transB=1) in another exporter's
// form: "matmul" is MatMul(x, Wᵀ) then Add(b), as TensorFlow converters write Dense layers;
// "gemm" is Gemm(x, Wᵀ/2, b) with transB=0 and alpha=2. The function stays the same.
func WithLinearAs(m *ir.Model, form string) *ir.Model {
	g := m.Graph
	var nodes []*ir.Node
	for _, n := range g.Nodes {
		if n.OpType != "Gemm" || n.AttrInt("transB", 0) != 1 {
			nodes = append(nodes, n)
			continue
		}
		w := g.Initializer(n.Input(1))
		rows, cols := int(w.Shape[0]), int(w.Shape[1])
		scale := float32(1)
		if form == "gemm" {
			scale = 0.5
		}
		t := make([]float32, len(w.F32))
		for i := range rows {
			for j := range cols {
				t[j*rows+i] = scale * w.F32[i*cols+j]
			}
		}
		wt := ir.NewFloat32(w.Name+"_in_out", []int64{int64(cols), int64(rows)}, t)
		g.AddInitializer(wt)
		switch form {
		case "matmul":
			mm := n.Name + "_matmul"
			nodes = append(nodes,
				&ir.Node{Name: mm, OpType: "MatMul", Inputs: []string{n.Input(0), wt.Name}, Outputs: []string{mm}},
				&ir.Node{Name: n.Name + "_bias", OpType: "Add", Inputs: []string{mm, n.Input(2)}, Outputs: n.Outputs})
		default:
			nodes = append(nodes, &ir.Node{Name: n.Name, OpType: "Gemm", Inputs: []string{n.Input(0), wt.Name, n.Input(2)}, Outputs: n.Outputs,
				Attrs: []ir.Attr{ir.FloatAttr("alpha", 2)}})
		}
	}
	g.Nodes = nodes
	ir.PruneDead(g)
	return m
}

// rewire makes every node reading value v, and the graph outputs, read to instead.
func rewire(g *ir.Graph, v, to string) {
	for _, n := range g.Nodes {
		for i, x := range n.Inputs {
			if x == v {
				n.Inputs[i] = to
			}
		}
	}
}

// insertAfter puts nodes right after the producer of value v; the last node's output takes v's
// place for v's former readers.
func insertAfter(g *ir.Graph, v string, nodes ...*ir.Node) {
	out := nodes[len(nodes)-1].Outputs[0]
	rewire(g, v, out)
	nodes[0].Inputs[0] = v
	var all []*ir.Node
	for _, n := range g.Nodes {
		all = append(all, n)
		for _, o := range n.Outputs {
			if o == v {
				all = append(all, nodes...)
			}
		}
	}
	g.Nodes = all
	g.Index()
}

// WithChannelShuffle puts ShuffleNet's channel shuffle (groups of 2) after TinyResNet's stem,
// as PyTorch exports x.view(n, 2, c/2, h, w).transpose(1, 2).reshape(n, -1, h, w) with a dynamic
// batch: targets computed from Shape, Unsqueeze axes from Constant nodes.
func WithChannelShuffle(m *ir.Model) *ir.Model {
	g := m.Graph
	constant := func(out string, v ...int64) *ir.Node {
		return &ir.Node{Name: out, OpType: "Constant", Outputs: []string{out},
			Attrs: []ir.Attr{ir.TensorAttr("value", ir.NewInt64("", []int64{int64(len(v))}, v))}}
	}
	scalar := func(out string, v int64) *ir.Node {
		return &ir.Node{Name: out, OpType: "Constant", Outputs: []string{out},
			Attrs: []ir.Attr{ir.TensorAttr("value", ir.NewInt64("", []int64{}, []int64{v}))}}
	}
	node := func(op, out string, ins ...string) *ir.Node {
		return &ir.Node{Name: "shuffle." + out, OpType: op, Inputs: ins, Outputs: []string{out}}
	}
	dim := func(i int64) []*ir.Node { // Unsqueeze(Gather(Shape(x), i), 0)
		s := "sh.dim" + string(rune('0'+i))
		return []*ir.Node{scalar(s+".i", i), node("Gather", s+".g", "sh.shape", s+".i"), node("Unsqueeze", s, s+".g", "sh.axes")}
	}
	nodes := []*ir.Node{node("Shape", "sh.shape", ""), constant("sh.axes", 0)}
	for i := int64(0); i < 4; i++ {
		nodes = append(nodes, dim(i)...)
	}
	nodes = append(nodes, constant("sh.groups", 2), scalar("sh.two", 2), node("Div", "sh.per", "sh.dim1.g", "sh.two"), node("Unsqueeze", "sh.per1", "sh.per", "sh.axes"),
		constant("sh.minus1", -1),
		node("Concat", "sh.target5", "sh.dim0", "sh.groups", "sh.per1", "sh.dim2", "sh.dim3"),
		node("Reshape", "sh.split", "sh.x", "sh.target5"),
		node("Transpose", "sh.swapped", "sh.split"),
		node("Concat", "sh.target4", "sh.dim0", "sh.minus1", "sh.dim2", "sh.dim3"),
		node("Reshape", "sh.out", "sh.swapped", "sh.target4"))
	for _, n := range nodes {
		switch n.OpType {
		case "Concat":
			n.Attrs = []ir.Attr{ir.IntAttr("axis", 0)}
		case "Transpose":
			n.Attrs = []ir.Attr{ir.IntsAttr("perm", 0, 2, 1, 3, 4)}
		case "Gather":
			n.Attrs = []ir.Attr{ir.IntAttr("axis", 0)}
		}
	}
	// Both the shape chain and the first Reshape read the stem's output.
	insertAfter(g, "s3", append([]*ir.Node{node("Identity", "sh.x", "")}, nodes...)...)
	for _, n := range nodes {
		if n.OpType == "Shape" {
			n.Inputs[0] = "sh.x"
		}
	}
	return m
}

// WithChannelPick rebuilds TinyResNet's input channel from x[:, 0] before the stem, as
// torchvision's GoogLeNet and Inception v3 export transform_input: Gather (a scalar index on
// axis 1) → Unsqueeze → Mul → Add with constants from Constant nodes. The model computes
// x·1.1 − 0.05 in place of x.
func WithChannelPick(m *ir.Model) *ir.Model {
	g := m.Graph
	constant := func(out string, t *ir.Tensor) *ir.Node {
		return &ir.Node{Name: out, OpType: "Constant", Outputs: []string{out}, Attrs: []ir.Attr{ir.TensorAttr("value", t)}}
	}
	pick := []*ir.Node{
		constant("pick.index", ir.NewInt64("", []int64{}, []int64{0})),
		constant("pick.axes", ir.NewInt64("", []int64{1}, []int64{1})),
		constant("pick.scale", ir.NewFloat32("", []int64{}, []float32{1.1})),
		constant("pick.shift", ir.NewFloat32("", []int64{}, []float32{-0.05})),
		{Name: "pick.gather", OpType: "Gather", Inputs: []string{"input", "pick.index"}, Outputs: []string{"pick.c0"}, Attrs: []ir.Attr{ir.IntAttr("axis", 1)}},
		{Name: "pick.unsqueeze", OpType: "Unsqueeze", Inputs: []string{"pick.c0", "pick.axes"}, Outputs: []string{"pick.u"}},
		{Name: "pick.mul", OpType: "Mul", Inputs: []string{"pick.u", "pick.scale"}, Outputs: []string{"pick.m"}},
		{Name: "pick.add", OpType: "Add", Inputs: []string{"pick.m", "pick.shift"}, Outputs: []string{"input.picked"}},
	}
	rewire(g, "input", "input.picked")
	g.Nodes = append(pick, g.Nodes...)
	g.Index()
	return m
}

// WithActivation replaces every Relu of m with op: "PRelu" (a slope per channel, [C, 1, 1], as
// PyTorch exports nn.PReLU(C); face-recognition ResNets use it), or a unary op such as "Elu",
// "Mish" (opset 18), "Gelu" (opset 20) or "Swish" (opset 24), whose opset m is raised to
// when it is lower.
func WithActivation(m *ir.Model, op string) *ir.Model {
	g := m.Graph
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range g.Nodes {
		if n.OpType != "Relu" {
			continue
		}
		n.OpType = op
		if op == "PRelu" {
			slope := randTensor(r, n.Name+".slope", 0.2, tinyChannels, 1, 1)
			for i, v := range slope.F32 {
				slope.F32[i] = 0.25 + v
			}
			g.AddInitializer(slope)
			n.Inputs = append(n.Inputs, slope.Name)
		}
	}
	need := map[string]int64{"Mish": 18, "Gelu": 20, "Swish": 24}[op]
	if v := m.Opset(""); need > v {
		m.SetOpset("", need)
	}
	return m
}

// WithShuffleUnit puts a ShuffleNetV2 unit after TinyResNet's residual block: Split the
// channels in two halves, one kept, the other through 1×1 Conv-BN-Relu, depthwise 3×3 Conv-BN
// and 1×1 Conv-BN-Relu, then Concat the two, as torchvision's shufflenet_v2 exports
// x.chunk(2, dim=1).
func WithShuffleUnit(m *ir.Model) *ir.Model {
	g := m.Graph
	r := rand.New(rand.NewPCG(11, 11))
	half := int64(tinyChannels / 2)
	var nodes []*ir.Node
	layer := func(name, in, out string, k, group int64, relu bool) {
		g.AddInitializer(randTensor(r, name+".weight", 0.7, half, half/group, k, k))
		nodes = append(nodes, &ir.Node{Name: name, OpType: "Conv", Inputs: []string{in, name + ".weight"}, Outputs: []string{name + ".conv"},
			Attrs: []ir.Attr{ir.IntsAttr("kernel_shape", k, k), ir.IntsAttr("pads", k/2, k/2, k/2, k/2), ir.IntAttr("group", group)}})
		for _, p := range []string{".bn.weight", ".bn.running_var"} {
			g.AddInitializer(positive(r, name+p, half))
		}
		for _, p := range []string{".bn.bias", ".bn.running_mean"} {
			g.AddInitializer(randTensor(r, name+p, 0.1, half))
		}
		bnOut := out
		if relu {
			bnOut = name + ".bn"
		}
		nodes = append(nodes, &ir.Node{Name: name + ".bn", OpType: "BatchNormalization",
			Inputs:  []string{name + ".conv", name + ".bn.weight", name + ".bn.bias", name + ".bn.running_mean", name + ".bn.running_var"},
			Outputs: []string{bnOut}, Attrs: []ir.Attr{ir.FloatAttr("epsilon", 1e-5)}})
		if relu {
			nodes = append(nodes, &ir.Node{Name: name + ".relu", OpType: "Relu", Inputs: []string{bnOut}, Outputs: []string{out}})
		}
	}
	g.AddInitializer(ir.NewInt64("unit.halves", []int64{2}, []int64{half, half}))
	nodes = append(nodes, &ir.Node{Name: "unit.split", OpType: "Split", Inputs: []string{"", "unit.halves"}, Outputs: []string{"unit.kept", "unit.x"},
		Attrs: []ir.Attr{ir.IntAttr("axis", 1)}})
	layer("unit.pw1", "unit.x", "unit.a", 1, 1, true)
	layer("unit.dw", "unit.a", "unit.b", 3, half, false)
	layer("unit.pw2", "unit.b", "unit.c", 1, 1, true)
	nodes = append(nodes, &ir.Node{Name: "unit.concat", OpType: "Concat", Inputs: []string{"unit.kept", "unit.c"}, Outputs: []string{"unit.out"},
		Attrs: []ir.Attr{ir.IntAttr("axis", 1)}})
	insertAfter(g, "b7", nodes...)
	return m
}

// WithPreActivationBN puts a BatchNormalization right after TinyResNet's stem ReLU, where no
// Conv precedes it (DenseNet's and pre-activation ResNets' BN → ReLU → Conv order).
func WithPreActivationBN(m *ir.Model) *ir.Model {
	g := m.Graph
	r := rand.New(rand.NewPCG(7, 7))
	for _, name := range []string{"pre.weight", "pre.running_var"} {
		g.AddInitializer(positive(r, name, tinyChannels))
	}
	for _, name := range []string{"pre.bias", "pre.running_mean"} {
		g.AddInitializer(randTensor(r, name, 0.1, tinyChannels))
	}
	insertAfter(g, "s3", &ir.Node{Name: "pre.bn", OpType: "BatchNormalization",
		Inputs:  []string{"", "pre.weight", "pre.bias", "pre.running_mean", "pre.running_var"},
		Outputs: []string{"pre.out"}, Attrs: []ir.Attr{ir.FloatAttr("epsilon", 1e-5)}})
	return m
}

// WithMaxPool puts a 3×3 MaxPool (stride 1, same size) between the residual block's first ReLU
// and its second Conv, so that a MaxPool's output feeds a quantized layer and nothing else (as
// in VGG or SqueezeNet).
func WithMaxPool(m *ir.Model) *ir.Model {
	insertAfter(m.Graph, "b3", &ir.Node{Name: "block.pool", OpType: "MaxPool", Inputs: []string{""}, Outputs: []string{"b3pool"},
		Attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("pads", 1, 1, 1, 1)}})
	return m
}

// WithPooledHead puts Conv → Relu → MaxPool (3×3, stride 1, same size) → Conv → Relu between
// the residual block's output and the GlobalAveragePool: the MaxPool's input, stored in 8 bits
// beside the MaxPool, has the shape of the block's 4-bit activations, as Inception v3's MaxPool
// branches do.
func WithPooledHead(m *ir.Model) *ir.Model {
	r := rand.New(rand.NewPCG(7, 7))
	g := m.Graph
	c := int64(tinyChannels)
	conv := func(name, out string) *ir.Node {
		g.AddInitializer(randTensor(r, name+".weight", 0.5, c, c, 3, 3))
		g.AddInitializer(randTensor(r, name+".bias", 0.1, c))
		return &ir.Node{Name: name, OpType: "Conv", Inputs: []string{"", name + ".weight", name + ".bias"}, Outputs: []string{out},
			Attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("pads", 1, 1, 1, 1)}}
	}
	c1, c2 := conv("head.c1", "h1"), conv("head.c2", "h4")
	c2.Inputs[0] = "h3"
	insertAfter(g, "b7", c1,
		&ir.Node{Name: "head.r1", OpType: "Relu", Inputs: []string{"h1"}, Outputs: []string{"h2"}},
		&ir.Node{Name: "head.pool", OpType: "MaxPool", Inputs: []string{"h2"}, Outputs: []string{"h3"},
			Attrs: []ir.Attr{ir.IntsAttr("kernel_shape", 3, 3), ir.IntsAttr("pads", 1, 1, 1, 1)}},
		c2,
		&ir.Node{Name: "head.r2", OpType: "Relu", Inputs: []string{"h4"}, Outputs: []string{"h5"}})
	return m
}

// WithTiledGate puts a squeeze-and-excitation gate on the residual block's second BN output
// with the broadcast written out as a Tile, as some TensorFlow converters export it:
// GlobalAveragePool → Sigmoid → Tile to the full 8×8 → Mul with the BN output.
func WithTiledGate(m *ir.Model) *ir.Model {
	g := m.Graph
	g.AddInitializer(ir.NewInt64("se.repeats", []int64{4}, []int64{1, 1, tinyImageSize, tinyImageSize}))
	insertAfter(g, "b5",
		&ir.Node{Name: "se.pool", OpType: "GlobalAveragePool", Inputs: []string{""}, Outputs: []string{"se.p"}},
		&ir.Node{Name: "se.sigmoid", OpType: "Sigmoid", Inputs: []string{"se.p"}, Outputs: []string{"se.s"}},
		&ir.Node{Name: "se.tile", OpType: "Tile", Inputs: []string{"se.s", "se.repeats"}, Outputs: []string{"se.t"}},
		&ir.Node{Name: "se.mul", OpType: "Mul", Inputs: []string{"b5", "se.t"}, Outputs: []string{"se.out"}})
	return m
}

// WithExplicitPads moves TinyResNet's convolution padding into Pad nodes, as TensorFlow's
// exporters write ZeroPadding2D and "same" padding: the stem Conv keeps an end padding of 1 and
// reads a Pad of 1 at the beginning (its pads from a Constant node), the residual block's first
// Conv reads a Pad of 1 on every side and pads nothing itself. What the model computes is
// unchanged.
func WithExplicitPads(m *ir.Model) *ir.Model {
	g := m.Graph
	for _, n := range g.Nodes {
		switch n.Name {
		case "stem.conv":
			n.SetAttr(ir.IntsAttr("pads", 0, 0, 1, 1))
		case "block.c1":
			n.SetAttr(ir.IntsAttr("pads", 0, 0, 0, 0))
		}
	}
	g.AddInitializer(ir.NewInt64("block.pad.pads", []int64{8}, []int64{0, 0, 1, 1, 0, 0, 1, 1}))
	insertAfter(g, "s3", &ir.Node{Name: "block.pad", OpType: "Pad", Inputs: []string{"", "block.pad.pads"}, Outputs: []string{"s3pad"}})
	// The residual shortcut still reads the unpadded s3.
	for _, n := range g.Nodes {
		if n.Name == "block.add" {
			n.Inputs[1] = "s3"
		}
	}
	stem := []*ir.Node{
		{Name: "stem.pads", OpType: "Constant", Outputs: []string{"stem.pads"},
			Attrs: []ir.Attr{ir.TensorAttr("value", ir.NewInt64("", []int64{8}, []int64{0, 0, 1, 1, 0, 0, 0, 0}))}},
		{Name: "stem.pad", OpType: "Pad", Inputs: []string{"input", "stem.pads"}, Outputs: []string{"input.padded"}},
	}
	rewire(g, "input", "input.padded")
	stem[1].Inputs[0] = "input"
	g.Nodes = append(stem, g.Nodes...)
	g.Index()
	return m
}

// WithPadNodes moves the padding of every padded Conv of m into a zero Pad node before it, as
// TensorFlow's exporters write Keras models. What the model computes is unchanged.
func WithPadNodes(m *ir.Model) *ir.Model {
	g := m.Graph
	var nodes []*ir.Node
	for _, n := range g.Nodes {
		pads := n.AttrInts("pads", nil)
		if n.OpType != "Conv" || !slices.ContainsFunc(pads, func(p int64) bool { return p != 0 }) {
			nodes = append(nodes, n)
			continue
		}
		r := len(pads) / 2
		all := make([]int64, 2*(r+2))
		copy(all[2:], pads[:r])
		copy(all[r+4:], pads[r:])
		name := n.Outputs[0] + ".pad"
		g.AddInitializer(ir.NewInt64(name+".pads", []int64{int64(len(all))}, all))
		nodes = append(nodes, &ir.Node{Name: name, OpType: "Pad", Inputs: []string{n.Inputs[0], name + ".pads"}, Outputs: []string{name + ".out"}})
		n.Inputs[0] = name + ".out"
		n.SetAttr(ir.IntsAttr("pads", make([]int64, 2*r)...))
		nodes = append(nodes, n)
	}
	g.Nodes = nodes
	g.Index()
	return m
}

// WithPointwiseMLP puts a ConvNeXt-style pointwise MLP after TinyResNet's residual block, as
// PyTorch exports Linear layers applied to channels-last feature maps: Transpose to NHWC →
// MatMul by a constant [C, 2C] → Add bias → Relu → MatMul by [2C, C] → Add bias → Transpose
// back to NCHW, added to the block's output.
func WithPointwiseMLP(m *ir.Model) *ir.Model {
	r := rand.New(rand.NewPCG(11, 11))
	g := m.Graph
	c := int64(tinyChannels)
	linear := func(name, in, out string, cin, cout int64) []*ir.Node {
		g.AddInitializer(randTensor(r, name+".weight", 0.5, cin, cout))
		g.AddInitializer(randTensor(r, name+".bias", 0.1, cout))
		return []*ir.Node{
			{Name: name + ".matmul", OpType: "MatMul", Inputs: []string{in, name + ".weight"}, Outputs: []string{name + ".mm"}},
			{Name: name + ".add", OpType: "Add", Inputs: []string{name + ".mm", name + ".bias"}, Outputs: []string{out}},
		}
	}
	nodes := []*ir.Node{{Name: "mlp.nhwc", OpType: "Transpose", Inputs: []string{""}, Outputs: []string{"mlp.x"}, Attrs: []ir.Attr{ir.IntsAttr("perm", 0, 2, 3, 1)}}}
	nodes = append(nodes, linear("mlp.fc1", "mlp.x", "mlp.h", c, 2*c)...)
	nodes = append(nodes, &ir.Node{Name: "mlp.relu", OpType: "Relu", Inputs: []string{"mlp.h"}, Outputs: []string{"mlp.hr"}})
	nodes = append(nodes, linear("mlp.fc2", "mlp.hr", "mlp.y", 2*c, c)...)
	nodes = append(nodes,
		&ir.Node{Name: "mlp.nchw", OpType: "Transpose", Inputs: []string{"mlp.y"}, Outputs: []string{"mlp.out"}, Attrs: []ir.Attr{ir.IntsAttr("perm", 0, 3, 1, 2)}},
		&ir.Node{Name: "mlp.residual", OpType: "Add", Inputs: []string{"mlp.out", "b7"}, Outputs: []string{"mlp.sum"}})
	insertAfter(g, "b7", nodes...)
	return m
}

// WithLayerNorm is WithPointwiseMLP with a LayerNormalization over the channels before the
// MLP, as ConvNeXt's blocks are exported at opset 17 and later (one LayerNormalization node,
// axis −1 on the channels-last map); the model's opset becomes 17.
func WithLayerNorm(m *ir.Model) *ir.Model {
	m = WithPointwiseMLP(m)
	r := rand.New(rand.NewPCG(12, 12))
	g := m.Graph
	g.AddInitializer(positive(r, "mlp.norm.weight", tinyChannels))
	g.AddInitializer(randTensor(r, "mlp.norm.bias", 0.1, tinyChannels))
	insertAfter(g, "mlp.x", &ir.Node{Name: "mlp.norm", OpType: "LayerNormalization", Inputs: []string{"", "mlp.norm.weight", "mlp.norm.bias"},
		Outputs: []string{"mlp.xn"}, Attrs: []ir.Attr{ir.IntAttr("axis", -1), ir.FloatAttr("epsilon", 1e-6)}})
	m.SetOpset("", 17)
	return m
}

// WithGroupNorm replaces TinyResNet's first block BatchNormalization with a GroupNorm of two
// groups as PyTorch exports nn.GroupNorm: Reshape to [N, groups, −1], InstanceNormalization
// with unit scale and zero bias, Reshape back to the input's Shape, then the per-channel
// weight and bias as Mul and Add.
func WithGroupNorm(m *ir.Model) *ir.Model {
	const groups = 2
	r := rand.New(rand.NewPCG(13, 13))
	g := m.Graph
	c := int64(tinyChannels)
	g.AddInitializer(ir.NewInt64("gn.groups_shape", []int64{3}, []int64{0, groups, -1}))
	g.AddInitializer(ir.NewFloat32("gn.ones", []int64{groups}, []float32{1, 1}))
	g.AddInitializer(ir.NewFloat32("gn.zeros", []int64{groups}, []float32{0, 0}))
	g.AddInitializer(positive(r, "gn.weight", c, 1, 1))
	g.AddInitializer(randTensor(r, "gn.bias", 0.1, c, 1, 1))
	var nodes []*ir.Node
	for _, n := range g.Nodes {
		if n.Name != "block.b1" {
			nodes = append(nodes, n)
			continue
		}
		nodes = append(nodes,
			&ir.Node{Name: "gn.reshape", OpType: "Reshape", Inputs: []string{"b1", "gn.groups_shape"}, Outputs: []string{"gn.x3"}},
			&ir.Node{Name: "gn.instance_norm", OpType: "InstanceNormalization", Inputs: []string{"gn.x3", "gn.ones", "gn.zeros"}, Outputs: []string{"gn.n3"},
				Attrs: []ir.Attr{ir.FloatAttr("epsilon", 1e-5)}},
			&ir.Node{Name: "gn.shape", OpType: "Shape", Inputs: []string{"b1"}, Outputs: []string{"gn.shape"}},
			&ir.Node{Name: "gn.reshape_back", OpType: "Reshape", Inputs: []string{"gn.n3", "gn.shape"}, Outputs: []string{"gn.n"}},
			&ir.Node{Name: "gn.scale", OpType: "Mul", Inputs: []string{"gn.n", "gn.weight"}, Outputs: []string{"gn.scaled"}},
			&ir.Node{Name: "gn.shift", OpType: "Add", Inputs: []string{"gn.scaled", "gn.bias"}, Outputs: []string{"b2"}})
	}
	g.Nodes = nodes
	ir.PruneDead(g)
	return m
}

// WithGroupNormalization replaces TinyResNet's first block BatchNormalization with one
// GroupNormalization node of two groups and per-channel scale and bias, as opset 21 defines it
// (exporters that write the op rather than PyTorch's InstanceNormalization form); the model's
// opset becomes 21.
func WithGroupNormalization(m *ir.Model) *ir.Model {
	r := rand.New(rand.NewPCG(14, 14))
	g := m.Graph
	g.AddInitializer(positive(r, "gn.weight", tinyChannels))
	g.AddInitializer(randTensor(r, "gn.bias", 0.1, tinyChannels))
	for _, n := range g.Nodes {
		if n.Name == "block.b1" {
			*n = ir.Node{Name: "gn", OpType: "GroupNormalization", Inputs: []string{"b1", "gn.weight", "gn.bias"}, Outputs: []string{"b2"},
				Attrs: []ir.Attr{ir.IntAttr("num_groups", 2), ir.FloatAttr("epsilon", 1e-5)}}
		}
	}
	ir.PruneDead(g)
	m.SetOpset("", 21)
	return m
}
