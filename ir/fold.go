package ir

import (
	"fmt"
	"slices"
)

// maxFoldElements bounds what constant folding materialises: it exists for shape arithmetic,
// not for precomputing weights.
const maxFoldElements = 1 << 16

// Canonicalize rewrites the graph into the form the rest of sharpq expects, without changing
// what it computes: an older default-domain opset is raised to BaseOpset (UpgradeOpset),
// Constant nodes become initializers, Identity and Dropout (inference) are bypassed, an
// explicit zero Pad before a Conv becomes the Conv's padding, a float16 or bfloat16 model is
// promoted to float32 (PromoteToFloat32) and a Cast of a float32 value to float32 bypassed,
// a Reshape that holds a fixed export batch as a constant copies the batch instead
// (unbakeBatch), and nodes whose outputs nobody uses are dropped. A model at an opset sharpq
// does not read (CheckOpset) is an error.
func Canonicalize(m *Model) error {
	if err := CheckOpset(m); err != nil {
		return err
	}
	if err := UpgradeOpset(m, BaseOpset); err != nil {
		return err
	}
	promoted, err := PromoteToFloat32(m)
	if err != nil {
		return err
	}
	g := m.Graph
	g.Index()
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if len(n.Outputs) == 0 {
			return fmt.Errorf("node %s has no outputs", n)
		}
		switch {
		case n.OpType == "Constant" && n.Domain == "":
			t, err := ConstantValue(n)
			if err != nil {
				return err
			}
			c := t.Clone()
			c.Name = n.Outputs[0]
			g.AddInitializer(c)
			continue
		case n.OpType == "Transpose" && n.Domain == "" && !g.IsOutput(n.Outputs[0]):
			// A weight transposed at run time, as PyTorch exports a Linear layer on a
			// channels-last map with do_constant_folding=False (the export that keeps BN):
			// stored transposed, the layer reads an initializer and can be quantized.
			w := g.Initializer(n.Input(0))
			if w == nil || w.DType != Float32 {
				break
			}
			t, err := transposeConstant(w, n.AttrInts("perm", nil))
			if err != nil {
				return fmt.Errorf("node %s: %w", n, err)
			}
			t.Name = n.Outputs[0]
			g.AddInitializer(t)
			continue
		case (n.OpType == "Identity" || n.OpType == "Dropout") && n.Domain == "":
			if n.Input(0) == "" {
				return fmt.Errorf("node %s has no input", n)
			}
			if len(n.Outputs) > 1 && n.Outputs[1] != "" && len(g.Consumers()[n.Outputs[1]]) > 0 {
				return fmt.Errorf("node %s: the Dropout mask output is used; sharpq needs inference graphs", n)
			}
			if bypass(g, n) {
				continue
			}
		}
		kept = append(kept, n)
	}
	g.Nodes = kept
	if promoted {
		bypassFloatCasts(m)
	}
	flattenBatchViews(g)
	foldPadsIntoConvs(g)
	if b := staticBatch(g); b > 0 {
		// A model whose shapes do not infer at its own batch is left for later steps to report.
		_, _ = unbakeBatch(m, b)
	}
	PruneDead(g)
	return nil
}

// flattenBatchViews rewrites PyTorch's x.view(x.size(0), -1) as Flatten(x, axis=1). Exported,
// it is a Reshape whose target is computed from x's own shape (Shape → Gather(0) → Unsqueeze
// → Concat with [-1]); with a dynamic batch no static shape rule can tell the second dimension,
// while Flatten's is known. The shape chain is left for PruneDead.
func flattenBatchViews(g *Graph) {
	producers := g.Producers()
	constIs := func(name string, want ...int64) bool {
		t := g.Initializer(name)
		if t == nil {
			return false
		}
		v, err := t.Int64s()
		return err == nil && len(v) == len(want) && (len(want) == 0 || v[0] == want[0])
	}
	for _, n := range g.Nodes {
		if n.OpType != "Reshape" || n.Domain != "" || n.AttrInt("allowzero", 0) != 0 {
			continue
		}
		x := n.Input(0)
		cat := producers[n.Input(1)]
		if cat == nil || cat.OpType != "Concat" || len(cat.Inputs) != 2 || !constIs(cat.Inputs[1], -1) {
			continue
		}
		unsq := producers[cat.Inputs[0]]
		if unsq == nil || unsq.OpType != "Unsqueeze" {
			continue
		}
		axes := unsq.AttrInts("axes", nil)
		if axes == nil {
			if t := g.Initializer(unsq.Input(1)); t != nil {
				axes, _ = t.Int64s()
			}
		}
		if len(axes) != 1 || axes[0] != 0 {
			continue
		}
		gather := producers[unsq.Input(0)]
		if gather == nil || gather.OpType != "Gather" || gather.AttrInt("axis", 0) != 0 || !constIs(gather.Input(1), 0) {
			continue
		}
		shape := producers[gather.Input(0)]
		if shape == nil || shape.OpType != "Shape" || shape.Input(0) != x || shape.Attr("start") != nil || shape.Attr("end") != nil {
			continue
		}
		n.OpType, n.Inputs, n.Attrs = "Flatten", []string{x}, []Attr{IntAttr("axis", 1)}
	}
}

// bypass removes single-input node n from its readers' view (they read its input instead) and
// reports whether n can be dropped: not when both its input and output must keep their names.
func bypass(g *Graph, n *Node) bool {
	if !g.IsOutput(n.Outputs[0]) {
		g.Rename(n.Outputs[0], n.Inputs[0])
		return true
	}
	if g.Initializer(n.Inputs[0]) == nil && g.Input(n.Inputs[0]) == nil && !g.IsOutput(n.Inputs[0]) {
		// The graph output keeps its name: rename the producer's output instead.
		renameProducedValue(g, n.Inputs[0], n.Outputs[0])
		return true
	}
	return false
}

// bypassFloatCasts drops the Casts of float32 values to float32 that promoting a half-precision
// model leaves (a float32-interface export casts its input to float16 and its output back).
// Value types come from shape inference; a graph it cannot infer keeps its Casts, which
// compute nothing.
func bypassFloatCasts(m *Model) {
	g := m.Graph
	if InferShapes(m) != nil {
		return
	}
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if n.OpType == "Cast" && n.Domain == "" && len(n.Inputs) == 1 && len(n.Outputs) == 1 && n.AttrInt("to", 0) == int64(Float32) {
			if v := g.ValueInfo[n.Inputs[0]]; v != nil && v.DType == Float32 && bypass(g, n) {
				continue
			}
		}
		kept = append(kept, n)
	}
	g.Nodes = kept
}

// renameProducedValue renames a value produced by a node (and all its uses) to new.
func renameProducedValue(g *Graph, old, new string) {
	for _, n := range g.Nodes {
		for i, o := range n.Outputs {
			if o == old {
				n.Outputs[i] = new
			}
		}
	}
	g.Rename(old, new)
	if v, ok := g.ValueInfo[old]; ok {
		delete(g.ValueInfo, old)
		v.Name = new
		g.ValueInfo[new] = v
	}
}

// PruneDead removes nodes none of whose outputs reach a graph output, and initializers no
// node reads.
func PruneDead(g *Graph) {
	live := map[string]bool{}
	for _, o := range g.Outputs {
		live[o.Name] = true
	}
	keep := make([]bool, len(g.Nodes))
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		for _, o := range n.Outputs {
			if live[o] {
				keep[i] = true
			}
		}
		if keep[i] {
			for _, in := range n.Inputs {
				live[in] = true
			}
		}
	}
	nodes := g.Nodes[:0]
	for i, n := range g.Nodes {
		if keep[i] {
			nodes = append(nodes, n)
		}
	}
	g.Nodes = nodes
	inits := g.Initializers[:0]
	for _, t := range g.Initializers {
		if live[t.Name] {
			inits = append(inits, t)
		} else {
			delete(g.ValueInfo, t.Name)
		}
	}
	g.Initializers = inits
	g.Index()
}

// FixBatch makes every shape static: the batch dimension (axis 0) of each graph input becomes
// batch, shapes are inferred, and shape-computing subgraphs (Shape → Gather → Unsqueeze →
// Concat → Reshape chains) are folded to constants. Any other dynamic dimension is an error.
func FixBatch(m *Model, batch int64) error {
	if batch <= 0 {
		return fmt.Errorf("batch size %d must be positive", batch)
	}
	g := m.Graph
	if err := CheckStaticInputs(g); err != nil {
		return err
	}
	// At the export's own batch first: a fixed one is freed from the Reshapes that hold it.
	if err := Canonicalize(m); err != nil {
		return err
	}
	for _, v := range g.Inputs {
		if len(v.Shape) > 0 {
			v.Shape[0] = batch
			v.DimNames = nil
		}
	}
	if err := Canonicalize(m); err != nil {
		return err
	}
	for {
		if err := InferShapes(m); err != nil {
			return err
		}
		changed, err := foldConstants(g)
		if err != nil {
			return err
		}
		if !changed {
			break
		}
		PruneDead(g)
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			v := g.ValueInfo[o]
			if v == nil || !v.Static() {
				return fmt.Errorf("node %s output %q: shape could not be made static", n, o)
			}
		}
	}
	for _, o := range g.Outputs {
		o.DimNames = nil
	}
	return nil
}

// foldable lists the operators constant folding evaluates.
var foldable = map[string]bool{
	"Shape": true, "Gather": true, "Unsqueeze": true, "Squeeze": true, "Concat": true,
	"Cast": true, "Slice": true, "Reshape": true, "Add": true, "Sub": true, "Mul": true,
	"Div": true, "ConstantOfShape": true, "Equal": true, "Where": true, "Expand": true,
	"Identity": true,
}

func foldConstants(g *Graph) (bool, error) {
	changed := false
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		t, ok, err := foldNode(g, n)
		if err != nil {
			return false, err
		}
		if !ok {
			kept = append(kept, n)
			continue
		}
		t.Name = n.Outputs[0]
		if g.IsOutput(t.Name) {
			kept = append(kept, n) // outputs stay computed by a node
			continue
		}
		g.AddInitializer(t)
		changed = true
	}
	g.Nodes = kept
	return changed, nil
}

// foldNode evaluates n when all its inputs are small integer constants (or, for Shape, when
// its input's shape is static).
func foldNode(g *Graph, n *Node) (*Tensor, bool, error) {
	if n.Domain != "" || !foldable[n.OpType] || len(n.Outputs) != 1 {
		return nil, false, nil
	}
	if n.OpType == "Shape" {
		v := g.ValueInfo[n.Inputs[0]]
		if v == nil || !v.Static() {
			return nil, false, nil
		}
		start, end := shapeOpRange(n, len(v.Shape))
		dims := append([]int64{}, v.Shape[start:end]...)
		return NewInt64("", []int64{int64(len(dims))}, dims), true, nil
	}
	var ins []*Tensor
	for _, name := range n.Inputs {
		if name == "" {
			ins = append(ins, nil)
			continue
		}
		t := g.Initializer(name)
		if t == nil || t.Len() > maxFoldElements {
			return nil, false, nil
		}
		if n.OpType != "Reshape" && n.OpType != "Cast" && n.OpType != "Gather" && !t.DType.IsInt() && t.DType != Bool {
			return nil, false, nil
		}
		ins = append(ins, t)
	}
	if len(ins) == 0 {
		return nil, false, nil
	}
	out := g.ValueInfo[n.Outputs[0]]
	if out == nil || !out.Static() || NumElements(out.Shape) > maxFoldElements {
		return nil, false, nil
	}
	t, err := evalConst(n, ins, out)
	if err != nil {
		return nil, false, fmt.Errorf("node %s: constant folding: %w", n, err)
	}
	if t == nil {
		return nil, false, nil
	}
	return t, true, nil
}

// evalConst computes a foldable op on constant inputs; out is the inferred output type.
func evalConst(n *Node, ins []*Tensor, out *Value) (*Tensor, error) {
	switch n.OpType {
	case "Identity", "Reshape", "Squeeze", "Unsqueeze":
		t := ins[0].Clone()
		t.Shape = append([]int64{}, out.Shape...)
		return t, nil
	case "Cast":
		to := DType(n.AttrInt("to", 0))
		src, err := ins[0].Float64s()
		if err != nil {
			return nil, err
		}
		t := &Tensor{DType: to, Shape: append([]int64{}, out.Shape...)}
		switch to {
		case Int64:
			for _, v := range src {
				t.I64 = append(t.I64, int64(v))
			}
		case Int32:
			for _, v := range src {
				t.I32 = append(t.I32, int32(v))
			}
		case Float32:
			for _, v := range src {
				t.F32 = append(t.F32, float32(v))
			}
		case Float64:
			t.F64 = src
		default:
			return nil, nil
		}
		return t, nil
	}
	// The rest compute on int64.
	vals := make([][]int64, len(ins))
	for i, t := range ins {
		if t == nil {
			continue
		}
		v, err := t.Int64s()
		if err != nil {
			return nil, nil
		}
		vals[i] = v
	}
	res := make([]int64, NumElements(out.Shape))
	switch n.OpType {
	case "Add", "Sub", "Mul", "Div", "Equal":
		f := map[string]func(a, b int64) int64{
			"Add": func(a, b int64) int64 { return a + b },
			"Sub": func(a, b int64) int64 { return a - b },
			"Mul": func(a, b int64) int64 { return a * b },
			"Div": func(a, b int64) int64 {
				if b == 0 {
					return 0
				}
				return a / b
			},
			"Equal": func(a, b int64) int64 {
				if a == b {
					return 1
				}
				return 0
			},
		}[n.OpType]
		for i := range res {
			a := vals[0][broadcastIndex(i, out.Shape, ins[0].Shape)]
			b := vals[1][broadcastIndex(i, out.Shape, ins[1].Shape)]
			res[i] = f(a, b)
		}
		if n.OpType == "Equal" {
			u := make([]uint8, len(res))
			for i, v := range res {
				u[i] = uint8(v)
			}
			return &Tensor{DType: Bool, Shape: append([]int64{}, out.Shape...), U8: u}, nil
		}
		return intResult(ins[0].DType, out.Shape, res), nil
	case "Where":
		for i := range res {
			cnd := vals[0][broadcastIndex(i, out.Shape, ins[0].Shape)]
			if cnd != 0 {
				res[i] = vals[1][broadcastIndex(i, out.Shape, ins[1].Shape)]
			} else {
				res[i] = vals[2][broadcastIndex(i, out.Shape, ins[2].Shape)]
			}
		}
		return intResult(ins[1].DType, out.Shape, res), nil
	case "Expand":
		for i := range res {
			res[i] = vals[0][broadcastIndex(i, out.Shape, ins[0].Shape)]
		}
		return intResult(ins[0].DType, out.Shape, res), nil
	case "ConstantOfShape":
		v := int64(0)
		dt := Float32
		if a := n.Attr("value"); a != nil && a.T != nil {
			dt = a.T.DType
			fv, err := a.T.Float64s()
			if err != nil || len(fv) != 1 {
				return nil, nil
			}
			if dt == Float32 {
				f := make([]float32, len(res))
				for i := range f {
					f[i] = float32(fv[0])
				}
				return NewFloat32("", out.Shape, f), nil
			}
			v = int64(fv[0])
		}
		if dt != Int64 {
			if dt == Float32 {
				return NewFloat32("", out.Shape, make([]float32, len(res))), nil
			}
			return nil, nil
		}
		for i := range res {
			res[i] = v
		}
		return NewInt64("", out.Shape, res), nil
	case "Gather":
		axis, err := normAxis(n.AttrInt("axis", 0), len(ins[0].Shape))
		if err != nil {
			return nil, err
		}
		x := ins[0]
		outer := NumElements(x.Shape[:axis])
		inner := NumElements(x.Shape[axis+1:])
		dim := x.Shape[axis]
		idx := vals[1]
		k := 0
		src, err := x.Int64s()
		if err != nil {
			return nil, nil
		}
		for o := int64(0); o < outer; o++ {
			for _, j := range idx {
				if j < 0 {
					j += dim
				}
				if j < 0 || j >= dim {
					return nil, fmt.Errorf("gather index %d out of range [0,%d)", j, dim)
				}
				for in := int64(0); in < inner; in++ {
					res[k] = src[(o*dim+j)*inner+in]
					k++
				}
			}
		}
		return intResult(x.DType, out.Shape, res), nil
	case "Concat":
		axis, err := normAxis(n.AttrInt("axis", 0), len(out.Shape))
		if err != nil {
			return nil, err
		}
		outer := NumElements(out.Shape[:axis])
		k := 0
		for o := int64(0); o < outer; o++ {
			for i, t := range ins {
				chunk := NumElements(t.Shape[axis:])
				copy(res[k:], vals[i][o*chunk:(o+1)*chunk])
				k += int(chunk)
			}
		}
		return intResult(ins[0].DType, out.Shape, res), nil
	case "Slice":
		if len(ins[0].Shape) != 1 {
			return nil, nil
		}
		var axes, steps []int64
		if len(vals) > 3 {
			axes = vals[3]
		}
		if len(vals) > 4 {
			steps = vals[4]
		}
		rs, err := ResolveSlice(ins[0].Shape, vals[1], vals[2], axes, steps)
		if err != nil {
			return nil, err
		}
		r := rs[0]
		for i := int64(0); i < r.Len; i++ {
			res[i] = vals[0][r.Start+i*r.Step]
		}
		return intResult(ins[0].DType, out.Shape, res), nil
	}
	return nil, nil
}

// intResult wraps a folded result; only int64 results are materialised, which is all that
// shape subgraphs use (nil leaves the node in place).
func intResult(dt DType, shape []int64, res []int64) *Tensor {
	if dt != Int64 {
		return nil
	}
	return NewInt64("", shape, res)
}

// broadcastIndex maps flat index i of a tensor of shape out to the flat index of an operand
// of shape in that broadcasts to it.
func broadcastIndex(i int, out, in []int64) int {
	idx, stride := 0, 1
	rem := i
	off := len(out) - len(in)
	for d := len(out) - 1; d >= 0; d-- {
		coord := rem % int(out[d])
		rem /= int(out[d])
		if d-off >= 0 {
			dim := int(in[d-off])
			if dim != 1 {
				idx += coord * stride
			}
			stride *= dim
		}
	}
	return idx
}

// CheckStaticInputs reports an error naming the input and dimension when any graph input has
// an unknown rank or a dynamic dimension other than the batch (axis 0).
func CheckStaticInputs(g *Graph) error {
	for _, v := range g.Inputs {
		if v.Shape == nil {
			return fmt.Errorf("input %q has no shape; sharpq needs static shapes except the batch dimension", v.Name)
		}
		for i, d := range v.Shape {
			if i == 0 || d >= 0 {
				continue
			}
			name := ""
			if i < len(v.DimNames) && v.DimNames[i] != "" {
				name = fmt.Sprintf(" (%q)", v.DimNames[i])
			}
			return fmt.Errorf("input %q dimension %d%s is dynamic; sharpq needs static shapes except the batch dimension (axis 0)", v.Name, i, name)
		}
	}
	return nil
}

// InferBatchShapes infers m's shapes as InferShapes does, then fills in the dimensions a
// dynamic batch hides from the shape rules: a Reshape whose target is computed from Shape (a
// channel shuffle's x.view(x.size(0), g, -1, h, w), say) has unknown dimensions until the
// batch is known. It infers copies of m at batch 1 and 2: a dimension equal in both is
// static, and axis 0 going from 1 to 2 is the batch (-1). m's nodes are not changed.
func InferBatchShapes(m *Model) error {
	if err := InferShapes(m); err != nil {
		return err
	}
	hidden := func(v *Value) bool {
		if v.Shape == nil {
			return true
		}
		for d, n := range v.Shape {
			if n < 0 && d > 0 {
				return true
			}
		}
		return false
	}
	missing := false
	for _, n := range m.Graph.Nodes {
		for _, o := range n.Outputs {
			if v := m.Graph.ValueInfo[o]; o != "" && (v == nil || hidden(v)) {
				missing = true
			}
		}
	}
	if !missing {
		return nil
	}
	var at [2]map[string][]int64
	for i, batch := range []int64{1, 2} {
		c := copyForInference(m)
		if err := FixBatch(c, batch); err != nil {
			return nil // the shapes stay as the rules left them; callers report what they need
		}
		at[i] = map[string][]int64{}
		for name, v := range c.Graph.ValueInfo {
			at[i][name] = v.Shape
		}
	}
	for _, n := range m.Graph.Nodes {
		for _, o := range n.Outputs {
			v := m.Graph.ValueInfo[o]
			if o == "" || v != nil && !hidden(v) {
				continue
			}
			a, b := at[0][o], at[1][o]
			if a == nil || len(a) != len(b) {
				continue
			}
			shape := make([]int64, len(a))
			ok := true
			for d := range a {
				switch {
				case a[d] == b[d]:
					shape[d] = a[d]
				case d == 0 && a[d] == 1 && b[d] == 2:
					shape[d] = -1
				default:
					ok = false
				}
			}
			if !ok {
				continue
			}
			nv := &Value{Name: o, Shape: shape}
			if v != nil {
				nv.DType, nv.DimNames = v.DType, v.DimNames
			}
			m.Graph.ValueInfo[o] = nv
		}
	}
	return nil
}

// copyForInference copies m deeply enough for FixBatch: nodes, graph inputs and outputs and
// the initializer list are m's own copies; tensors are shared (FixBatch adds, never edits).
func copyForInference(m *Model) *Model {
	g := m.Graph.shallowCopy()
	for i, n := range g.Nodes {
		g.Nodes[i] = n.clone()
	}
	g.Inputs = make([]*Value, len(m.Graph.Inputs))
	for i, v := range m.Graph.Inputs {
		c := *v
		c.Shape = slices.Clone(v.Shape)
		g.Inputs[i] = &c
	}
	g.Outputs = make([]*Value, len(m.Graph.Outputs))
	for i, v := range m.Graph.Outputs {
		c := *v
		g.Outputs[i] = &c
	}
	c := *m
	c.Opsets = slices.Clone(m.Opsets)
	c.Graph = g
	return &c
}

// transposeConstant returns float32 tensor w with its axes permuted by perm (reversed when
// perm is nil), as Transpose computes it.
func transposeConstant(w *Tensor, perm []int64) (*Tensor, error) {
	rank := len(w.Shape)
	if perm == nil {
		for i := rank - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	if len(perm) != rank {
		return nil, fmt.Errorf("perm %v does not fit shape %v", perm, w.Shape)
	}
	// strides[i] is how far one step along input axis i moves in w's data.
	strides := make([]int64, rank)
	step := int64(1)
	for i := rank - 1; i >= 0; i-- {
		strides[i] = step
		step *= w.Shape[i]
	}
	shape := make([]int64, rank)
	seen := make([]bool, rank)
	for i, p := range perm {
		if p < 0 || int(p) >= rank || seen[p] {
			return nil, fmt.Errorf("perm %v is not a permutation of %d axes", perm, rank)
		}
		seen[p] = true
		shape[i] = w.Shape[p]
	}
	out := make([]float32, len(w.F32))
	idx := make([]int64, rank) // the output position, odometer-style
	for k := range out {
		src := int64(0)
		for i, p := range perm {
			src += idx[i] * strides[p]
		}
		out[k] = w.F32[src]
		for i := rank - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return NewFloat32("", shape, out), nil
}
