package ir

import (
	"fmt"
)

// inferCtx gives a shape rule access to one node's inputs.
type inferCtx struct {
	g     *Graph
	n     *Node
	opset int64
	// consts holds the values of Constant nodes: shape inputs (axes, shapes, pads) may come
	// from them before Canonicalize turns them into initializers.
	consts map[string]*Tensor
}

// in returns the type of input i, or nil when the input is absent or unknown.
func (c *inferCtx) in(i int) *Value {
	name := c.n.Input(i)
	if name == "" {
		return nil
	}
	return c.g.ValueInfo[name]
}

// shape returns the shape of input i; an error if the input is missing or has unknown rank.
func (c *inferCtx) shape(i int) ([]int64, error) {
	v := c.in(i)
	if v == nil || v.Shape == nil {
		return nil, fmt.Errorf("node %s input %d (%q): shape unknown", c.n, i, c.n.Input(i))
	}
	return v.Shape, nil
}

// shapes01 returns the shapes of inputs 0 and 1, as shape does.
func (c *inferCtx) shapes01() (s0, s1 []int64, err error) {
	if s0, err = c.shape(0); err != nil {
		return nil, nil, err
	}
	if s1, err = c.shape(1); err != nil {
		return nil, nil, err
	}
	return s0, s1, nil
}

// constInts returns input i as int64s when it is an initializer or a Constant node's output,
// else ok=false.
func (c *inferCtx) constInts(i int) ([]int64, bool) {
	name := c.n.Input(i)
	if name == "" {
		return nil, false
	}
	t := c.g.Initializer(name)
	if t == nil {
		t = c.consts[name]
	}
	if t == nil {
		return nil, false
	}
	v, err := t.Int64s()
	return v, err == nil
}

func (c *inferCtx) set(i int, dt DType, shape []int64) {
	if i >= len(c.n.Outputs) || c.n.Outputs[i] == "" {
		return
	}
	name := c.n.Outputs[i]
	var s []int64
	if shape != nil {
		s = append([]int64{}, shape...)
	}
	c.g.ValueInfo[name] = &Value{Name: name, DType: dt, Shape: s}
}

func (c *inferCtx) errorf(format string, args ...any) error {
	return fmt.Errorf("node %s: %s", c.n, fmt.Sprintf(format, args...))
}

// InferShapes computes the element type and shape of every node output from the graph's
// inputs and initializers, using opset (the default domain's version) for attribute-vs-input
// forms. Unknown dimensions stay -1. Shape errors name the node, the input and the shapes.
func InferShapes(m *Model) error {
	g := m.Graph
	g.Index()
	for _, v := range g.Inputs {
		g.ValueInfo[v.Name] = v
	}
	for _, t := range g.Initializers {
		g.ValueInfo[t.Name] = &Value{Name: t.Name, DType: t.DType, Shape: append([]int64{}, t.Shape...)}
	}
	opset := m.Opset("")
	consts := map[string]*Tensor{}
	for _, n := range g.Nodes {
		def, ok := lookupOp(n.Domain, n.OpType)
		if !ok {
			return &UnsupportedOpsError{Ops: []UnsupportedOp{{OpType: n.OpType, Domain: n.Domain, Node: n.Name}}}
		}
		if n.OpType == "Constant" && n.Domain == "" && len(n.Outputs) == 1 {
			if t, err := ConstantValue(n); err == nil {
				consts[n.Outputs[0]] = t
			}
		}
		if err := checkArity(n); err != nil {
			return err
		}
		c := &inferCtx{g: g, n: n, opset: opset, consts: consts}
		if err := def.infer(c); err != nil {
			return err
		}
	}
	for i, o := range g.Outputs {
		if v := g.ValueInfo[o.Name]; v != nil {
			if o.DType != Undefined && v.DType != Undefined && o.DType != v.DType {
				return fmt.Errorf("graph output %q: declared %s, computed %s", o.Name, o.DType, v.DType)
			}
			merged := &Value{Name: o.Name, DType: v.DType, Shape: v.Shape, DimNames: o.DimNames}
			if merged.DType == Undefined {
				merged.DType = o.DType
			}
			if v.Shape == nil {
				merged.Shape = o.Shape
			} else if o.Shape != nil && len(o.Shape) == len(v.Shape) {
				merged.Shape = append([]int64{}, v.Shape...)
				for d := range merged.Shape {
					if merged.Shape[d] < 0 {
						merged.Shape[d] = o.Shape[d]
					}
				}
			}
			g.Outputs[i] = merged
		}
	}
	return nil
}

// InferNode computes the element types and shapes of n's outputs, as InferShapes does for
// every node; n's inputs must already have known types in m.Graph.ValueInfo. Graph builders
// call it on each node they append so that later nodes can rely on the types.
func InferNode(m *Model, n *Node) error {
	def, ok := lookupOp(n.Domain, n.OpType)
	if !ok {
		return &UnsupportedOpsError{Ops: []UnsupportedOp{{OpType: n.OpType, Domain: n.Domain, Node: n.Name}}}
	}
	if err := checkArity(n); err != nil {
		return err
	}
	if m.Graph.ValueInfo == nil {
		m.Graph.ValueInfo = map[string]*Value{}
	}
	return def.infer(&inferCtx{g: m.Graph, n: n, opset: m.Opset("")})
}

// broadcast returns the numpy-style broadcast of shapes, -1 meaning unknown.
func broadcast(shapes ...[]int64) ([]int64, error) {
	rank := 0
	for _, s := range shapes {
		if len(s) > rank {
			rank = len(s)
		}
	}
	out := make([]int64, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			o := out[off+i]
			switch {
			case d == 1:
			case o == 1:
				out[off+i] = d
			case d == -1 || o == -1:
				if o == -1 && d > 1 {
					out[off+i] = d
				}
			case d != o:
				return nil, fmt.Errorf("shapes %v do not broadcast", shapes)
			}
		}
	}
	return out, nil
}

// spatialOut returns the output size of one spatial axis of a convolution or pooling window.
func spatialOut(in, k, stride, dil, padBegin, padEnd int64, ceil bool) int64 {
	if in < 0 {
		return -1
	}
	eff := dil*(k-1) + 1
	num := in + padBegin + padEnd - eff
	if num < 0 {
		return 0
	}
	if ceil {
		out := (num+stride-1)/stride + 1
		// The last window must start inside the input or the left padding (ONNX/PyTorch rule).
		if (out-1)*stride >= in+padBegin {
			out--
		}
		return out
	}
	return num/stride + 1
}

// windowAttrs resolves kernel, strides, dilations and explicit pads for a window op whose
// input has the given spatial sizes, applying auto_pad.
func windowAttrs(n *Node, spatial []int64, kernel []int64) (strides, dil, pads []int64, err error) {
	r := len(spatial)
	strides = n.AttrInts("strides", nil)
	if strides == nil {
		strides = ones(r)
	}
	dil = n.AttrInts("dilations", nil)
	if dil == nil {
		dil = ones(r)
	}
	pads = n.AttrInts("pads", nil)
	if pads == nil {
		pads = make([]int64, 2*r)
	}
	if len(strides) != r || len(dil) != r || len(pads) != 2*r || len(kernel) != r {
		return nil, nil, nil, fmt.Errorf("node %s: strides %v, dilations %v, pads %v, kernel %v do not fit %d spatial axes", n, strides, dil, pads, kernel, r)
	}
	switch ap := n.AttrString("auto_pad", "NOTSET"); ap {
	case "NOTSET", "":
	case "VALID":
		pads = make([]int64, 2*r)
	case "SAME_UPPER", "SAME_LOWER":
		pads = make([]int64, 2*r)
		for i := 0; i < r; i++ {
			if spatial[i] < 0 {
				continue
			}
			out := (spatial[i] + strides[i] - 1) / strides[i]
			total := (out-1)*strides[i] + dil[i]*(kernel[i]-1) + 1 - spatial[i]
			if total < 0 {
				total = 0
			}
			small, big := total/2, total-total/2
			if ap == "SAME_UPPER" {
				pads[i], pads[i+r] = small, big
			} else {
				pads[i], pads[i+r] = big, small
			}
		}
	default:
		return nil, nil, nil, fmt.Errorf("node %s: auto_pad %q is not supported", n, ap)
	}
	for i, s := range strides {
		if s <= 0 || dil[i] <= 0 {
			return nil, nil, nil, fmt.Errorf("node %s: strides %v and dilations %v must be positive", n, strides, dil)
		}
	}
	return strides, dil, pads, nil
}

// ConvPads returns the explicit pads of a Conv, ConvTranspose or pooling node whose input has
// the given spatial sizes (auto_pad resolved).
func ConvPads(n *Node, spatial, kernel []int64) ([]int64, error) {
	_, _, pads, err := windowAttrs(n, spatial, kernel)
	return pads, err
}

func ones(n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = 1
	}
	return s
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	if axis < 0 {
		axis += int64(rank)
	}
	if axis < 0 || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return int(axis), nil
}
