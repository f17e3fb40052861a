package ir

import (
	"fmt"
	"slices"
)

// LatestOpset is the newest default-domain opset sharpq reads and writes: ONNX 1.21's, the
// newest ONNX Runtime 1.30 runs. From opset 21 to 26 the operators sharpq supports gained
// only types and optional attributes whose defaults keep the old behaviour (Cast's
// round_mode, QuantizeLinear's precision, DequantizeLinear's output_dtype), so a model at
// any of these opsets computes as at 21.
const LatestOpset = 26

// BaseOpset is the oldest default-domain opset Canonicalize leaves a model at: the gradients
// take Clip, Pad and Slice parameters as inputs (opset 11) and overlapping MaxPool windows
// need ScatterElements with a reduction (raised from 13 to 16 when needed). Models at BaseOpset
// or later keep their opset, so that ONNX Runtime runs them exactly as before.
const BaseOpset = 13

// OldestOpset is the oldest default-domain opset UpgradeOpset reads; it is also the oldest
// ONNX Runtime supports.
const OldestOpset = 7

// upgradeRule rewrites one kind of node into the signature its operator has from opset
// since on. from is the model's opset before the upgrade.
type upgradeRule struct {
	since int64
	ops   []string
	apply func(u *upgrader, n *Node, from int64) error
}

// upgradeRules covers the supported operators whose inputs, attributes or meaning changed
// between OldestOpset and LatestOpset; the rest only gained types or optional attributes
// whose defaults keep the old behaviour.
var upgradeRules = []upgradeRule{
	{9, []string{"BatchNormalization"}, upgradeBatchNorm},
	{10, []string{"Slice"}, upgradeSlice},
	{11, []string{"Clip"}, upgradeClip},
	{11, []string{"Pad"}, upgradePad},
	{12, []string{"Dropout"}, upgradeDropout},
	{13, []string{"Squeeze", "Unsqueeze", "ReduceSum"}, axesToInput},
	{13, []string{"Split"}, splitToInput},
	{13, []string{"Softmax", "LogSoftmax", "Hardmax"}, upgradeSoftmax},
	{18, []string{"ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare",
		"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"}, axesToInput},
	{21, []string{"GroupNormalization"}, upgradeGroupNorm},
}

// upgrader carries the graph being rewritten and the nodes that replace the current one.
type upgrader struct {
	g      *Graph
	before []*Node // nodes to insert before the current node
	after  []*Node // nodes to insert after it
}

// CheckOpset checks that m imports a default-domain opset sharpq reads, OldestOpset to
// LatestOpset.
func CheckOpset(m *Model) error {
	v := m.Opset("")
	switch {
	case v == 0 && m.IRVersion < 3:
		return fmt.Errorf("the model is ONNX IR version %d, which predates operator sets (IR 3); re-export it with a current exporter", m.IRVersion)
	case v == 0:
		return fmt.Errorf("the model imports no ONNX operator set (opset_import has no entry for the default domain); re-export it, or add one")
	case v < OldestOpset:
		return fmt.Errorf("the model imports opset %d; sharpq reads opsets %d to %d (re-export it with a newer opset)", v, OldestOpset, LatestOpset)
	case v > LatestOpset:
		return fmt.Errorf("the model imports opset %d; sharpq reads opsets %d to %d, the newest ONNX Runtime 1.30 runs (re-export it at opset %d or earlier)", v, OldestOpset, LatestOpset, LatestOpset)
	}
	return nil
}

// UpgradeOpset rewrites m from its default-domain opset to target so that it computes the
// same function: attributes that later opsets take as inputs become constant inputs, and
// Softmax-style operators, whose axis changed meaning in opset 13, keep their old result. The
// IR version is raised to one that knows target. A model at target or later is left alone;
// one older than OldestOpset, or with a node the rewrite cannot keep exact, is an error
// naming the node, and m is then unchanged.
func UpgradeOpset(m *Model, target int64) error {
	from := m.Opset("")
	if from == 0 || from >= target {
		return nil
	}
	if from < OldestOpset {
		return CheckOpset(m)
	}
	if target > LatestOpset {
		return fmt.Errorf("cannot upgrade to opset %d; sharpq knows operators up to opset %d", target, LatestOpset)
	}
	// Rewrite a copy so that a failure leaves m as it was.
	g := m.Graph.shallowCopy()
	// Ranks help Softmax keep its exact form; without them it takes the general rewrite.
	_ = InferShapes(&Model{Graph: g, Opsets: m.Opsets, IRVersion: m.IRVersion})
	u := &upgrader{g: g}
	var nodes []*Node
	for _, orig := range g.Nodes {
		n := orig
		if n.Domain == "" || n.Domain == "ai.onnx" {
			n = orig.clone()
			for _, r := range upgradeRules {
				if from < r.since && r.since <= target && slices.Contains(r.ops, n.OpType) {
					if err := r.apply(u, n, from); err != nil {
						return fmt.Errorf("upgrading opset %d to %d: node %s: %w", from, target, n, err)
					}
				}
			}
		}
		nodes = append(nodes, u.before...)
		nodes = append(nodes, n)
		nodes = append(nodes, u.after...)
		u.before, u.after = nil, nil
	}
	g.Nodes = nodes
	*m.Graph = *g
	m.Graph.Index()
	m.SetOpset("", target)
	m.IRVersion = max(m.IRVersion, irVersionFor(target))
	return nil
}

// irVersionFor returns the IR version of the ONNX release that introduced opset v.
func irVersionFor(v int64) int64 {
	switch {
	case v >= 25:
		return 13
	case v >= 24:
		return 12
	case v >= 23:
		return 11
	case v >= 21:
		return 10
	case v >= 19:
		return 9
	case v >= 15:
		return 8
	case v >= 12:
		return 7
	case v >= 11:
		return 6
	case v >= 10:
		return 5
	case v >= 9:
		return 4
	}
	return 3
}

// shallowCopy copies g's node list, initializer list and value types, sharing nodes and
// tensors; upgrade rules replace nodes rather than edit them, so the original graph stays
// intact until the copy is adopted.
func (g *Graph) shallowCopy() *Graph {
	c := *g
	c.Nodes = slices.Clone(g.Nodes)
	c.Initializers = slices.Clone(g.Initializers)
	c.ValueInfo = make(map[string]*Value, len(g.ValueInfo))
	for k, v := range g.ValueInfo {
		vc := *v
		c.ValueInfo[k] = &vc
	}
	c.inits, c.names = nil, nil
	c.Index()
	return &c
}

// clone copies a node with its own input, output and attribute slices.
func (n *Node) clone() *Node {
	c := *n
	c.Inputs = slices.Clone(n.Inputs)
	c.Outputs = slices.Clone(n.Outputs)
	c.Attrs = slices.Clone(n.Attrs)
	return &c
}

// removeAttr deletes attribute name and returns it (nil when absent).
func (n *Node) removeAttr(name string) *Attr {
	for i := range n.Attrs {
		if n.Attrs[i].Name == name {
			a := n.Attrs[i]
			n.Attrs = slices.Delete(n.Attrs, i, i+1)
			return &a
		}
	}
	return nil
}

// setInput sets input i, padding skipped optional inputs with "".
func (n *Node) setInput(i int, name string) {
	for len(n.Inputs) <= i {
		n.Inputs = append(n.Inputs, "")
	}
	n.Inputs[i] = name
}

// name returns an unused value name for what node n needs (nodes need not have names).
func (u *upgrader) name(n *Node, what string) string {
	base := n.Name
	if base == "" {
		base = n.OpType
	}
	return u.g.UniqueName(base + "_" + what)
}

// ints adds an int64 constant for node n and returns its name.
func (u *upgrader) ints(n *Node, what string, v []int64) string {
	t := NewInt64(u.name(n, what), []int64{int64(len(v))}, v)
	u.g.AddInitializer(t)
	return t.Name
}

// scalar adds a scalar constant of n's input type (float32 when unknown) and returns its name.
func (u *upgrader) scalar(n *Node, what string, v float64) (string, error) {
	dt := Float32
	if in := u.g.ValueInfo[n.Input(0)]; in != nil && in.DType != Undefined {
		dt = in.DType
	}
	name := u.name(n, what)
	var t *Tensor
	switch dt {
	case Float32:
		t = NewFloat32(name, []int64{}, []float32{float32(v)})
	case Float64:
		t = &Tensor{Name: name, DType: Float64, Shape: []int64{}, F64: []float64{v}}
	default:
		return "", fmt.Errorf("%s input of type %s: only float32 and float64 are converted", what, dt)
	}
	u.g.AddInitializer(t)
	return name, nil
}

// upgradeBatchNorm drops the attributes and training outputs later opsets no longer have.
func upgradeBatchNorm(u *upgrader, n *Node, from int64) error {
	if a := n.removeAttr("spatial"); a != nil && a.I == 0 {
		return fmt.Errorf("spatial=0 (per-activation statistics) has no equivalent after opset 8")
	}
	n.removeAttr("is_test")
	n.removeAttr("consumed_inputs")
	// Outputs 1–4 held running and saved statistics in training mode; an inference graph
	// leaves them unused, and opset 14 allows them only when training.
	for _, o := range n.Outputs[min(1, len(n.Outputs)):] {
		if o != "" && (len(u.g.Consumers()[o]) > 0 || u.g.IsOutput(o)) {
			return fmt.Errorf("training output %q is used; sharpq needs inference graphs", o)
		}
	}
	n.Outputs = n.Outputs[:min(1, len(n.Outputs))]
	return nil
}

// upgradeSlice moves starts, ends and axes from attributes to inputs (opset 10).
func upgradeSlice(u *upgrader, n *Node, from int64) error {
	starts, ends, axes := n.removeAttr("starts"), n.removeAttr("ends"), n.removeAttr("axes")
	if starts == nil || ends == nil {
		return fmt.Errorf("starts and ends attributes are required")
	}
	n.Inputs = n.Inputs[:1]
	n.setInput(1, u.ints(n, "starts", starts.Ints))
	n.setInput(2, u.ints(n, "ends", ends.Ints))
	if axes != nil {
		n.setInput(3, u.ints(n, "axes", axes.Ints))
	}
	return nil
}

// upgradeClip moves min and max from attributes to inputs (opset 11).
func upgradeClip(u *upgrader, n *Node, from int64) error {
	lo, hi := n.removeAttr("min"), n.removeAttr("max")
	n.Inputs = n.Inputs[:1]
	for i, a := range []*Attr{lo, hi} {
		if a == nil {
			continue
		}
		name, err := u.scalar(n, a.Name, float64(a.F))
		if err != nil {
			return err
		}
		n.setInput(1+i, name)
	}
	return nil
}

// upgradePad moves pads and the constant value from attributes to inputs (opset 11).
func upgradePad(u *upgrader, n *Node, from int64) error {
	pads := n.removeAttr("pads")
	if pads == nil {
		pads = n.removeAttr("paddings") // Pad-1's name
	}
	if pads == nil {
		return fmt.Errorf("no pads attribute")
	}
	value := n.removeAttr("value")
	n.Inputs = n.Inputs[:1]
	n.setInput(1, u.ints(n, "pads", pads.Ints))
	if value != nil && value.F != 0 {
		name, err := u.scalar(n, "value", float64(value.F))
		if err != nil {
			return err
		}
		n.setInput(2, name)
	}
	return nil
}

// upgradeDropout moves the ratio from an attribute to an input (opset 12).
func upgradeDropout(u *upgrader, n *Node, from int64) error {
	n.removeAttr("is_test")
	if r := n.removeAttr("ratio"); r != nil {
		name, err := u.scalar(n, "ratio", float64(r.F))
		if err != nil {
			return err
		}
		n.Inputs = n.Inputs[:1]
		n.setInput(1, name)
	}
	return nil
}

// upgradeGroupNorm: GroupNormalization-21 scales and shifts per channel where 18 did per
// group, so each group's scale and bias are repeated over its C/num_groups channels
// (Reshape to [G, 1], Expand to [G, C/G], Reshape to [C]).
func upgradeGroupNorm(u *upgrader, n *Node, from int64) error {
	groups := n.AttrInt("num_groups", 0)
	x := u.g.ValueInfo[n.Input(0)]
	if x == nil || len(x.Shape) < 2 || x.Shape[1] <= 0 || groups <= 0 || x.Shape[1]%groups != 0 {
		return fmt.Errorf("its scale and bias go from one value a group to one a channel, so the channel count must be known and a multiple of num_groups (%d)", groups)
	}
	c := x.Shape[1]
	if c == groups {
		return nil
	}
	for i := 1; i <= 2 && i < len(n.Inputs); i++ {
		grouped, spread, perChannel := u.name(n, "grouped"), u.name(n, "spread"), u.name(n, "per_channel")
		u.before = append(u.before,
			&Node{Name: grouped, OpType: "Reshape", Inputs: []string{n.Inputs[i], u.ints(n, "group_shape", []int64{groups, 1})}, Outputs: []string{grouped}},
			&Node{Name: spread, OpType: "Expand", Inputs: []string{grouped, u.ints(n, "spread_shape", []int64{groups, c / groups})}, Outputs: []string{spread}},
			&Node{Name: perChannel, OpType: "Reshape", Inputs: []string{spread, u.ints(n, "channel_shape", []int64{c})}, Outputs: []string{perChannel}})
		n.setInput(i, perChannel)
	}
	return nil
}

// axesToInput moves a Squeeze, Unsqueeze or Reduce* node's axes attribute to its second
// input (opset 13 for Squeeze, Unsqueeze and ReduceSum, 18 for the other reductions).
func axesToInput(u *upgrader, n *Node, from int64) error {
	a := n.removeAttr("axes")
	if a == nil {
		return nil // no axes: all of them, in both forms
	}
	n.Inputs = n.Inputs[:1]
	n.setInput(1, u.ints(n, "axes", a.Ints))
	return nil
}

// splitToInput moves Split's sizes from the attribute to the input that replaced it in
// opset 13.
func splitToInput(u *upgrader, n *Node, from int64) error {
	a := n.removeAttr("split")
	if a == nil {
		return nil // equal parts in both forms
	}
	n.Inputs = n.Inputs[:1]
	n.setInput(1, u.ints(n, "split", a.Ints))
	return nil
}

// upgradeSoftmax keeps the pre-13 meaning of Softmax, LogSoftmax and Hardmax: the input is
// flattened to 2-D at axis (default 1) and normalised over the second dimension. From opset 13
// the axis names the one dimension to normalise over (default −1), so the node either names
// its last axis explicitly, when that is the old axis, or runs on the flattened input and is
// reshaped back.
func upgradeSoftmax(u *upgrader, n *Node, from int64) error {
	axis := n.AttrInt("axis", 1)
	if v := u.g.ValueInfo[n.Input(0)]; v != nil && v.Shape != nil {
		r := int64(len(v.Shape))
		if axis < 0 {
			axis += r
		}
		if axis < 0 || axis >= r {
			return fmt.Errorf("axis %d is out of range for rank %d", n.AttrInt("axis", 1), r)
		}
		if axis == r-1 {
			n.SetAttr(IntAttr("axis", -1))
			return nil
		}
	}
	x, y := n.Input(0), n.Outputs[0]
	flat, shape, norm, back := u.name(n, "flat"), u.name(n, "shape"), u.name(n, "2d"), u.name(n, "reshape")
	u.before = append(u.before,
		&Node{Name: flat, OpType: "Flatten", Inputs: []string{x}, Outputs: []string{flat}, Attrs: []Attr{IntAttr("axis", axis)}},
		&Node{Name: shape, OpType: "Shape", Inputs: []string{x}, Outputs: []string{shape}})
	n.Inputs = []string{flat}
	n.Outputs = []string{norm}
	n.SetAttr(IntAttr("axis", -1))
	u.after = append(u.after, &Node{Name: back, OpType: "Reshape", Inputs: []string{norm, shape}, Outputs: []string{y}})
	return nil
}
