package autodiff

import (
	"errors"
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// ErrNoRule is returned (wrapped) when a node on the path from a differentiated value to the
// loss has an operator without a gradient rule.
var ErrNoRule = errors.New("no gradient rule")

// minOpset is the lowest default-domain opset Grad writes gradients for (Pad, Clip and Slice
// take their parameters as inputs from opset 11).
const minOpset = 11

// Grad appends to m's graph the nodes computing d(loss)/d(wrt[i]) for a float loss value with
// one element, and returns the names of the gradient values, which it also adds as graph
// outputs (together with loss, if it is not one already). wrt may name graph inputs,
// initializers or intermediate values; an initializer that should be trained must be made a
// graph input (PromoteToInput) so that a session can feed new values. A value that does not
// influence the loss gets a zero gradient.
//
// Grad requires static shapes (call ir.FixBatch first) and runs ir.InferShapes itself. Only
// nodes on a path from wrt to the loss are differentiated, and only through float values. A
// MaxPool on that path gains an Indices output, and one with overlapping windows raises
// an opset 13–15 model to opset 16 (for ScatterElements' reduction). On error m is left as
// it was. Run Lower afterwards if the graph uses the straight-through pseudo-ops.
func Grad(m *ir.Model, loss string, wrt []string) ([]string, error) {
	if v := m.Opset(""); v < minOpset {
		return nil, fmt.Errorf("autodiff: the model imports opset %d; gradients need opset %d or later", v, minOpset)
	}
	if err := ir.InferShapes(m); err != nil {
		return nil, fmt.Errorf("autodiff: %w", err)
	}
	g := m.Graph
	lv := g.ValueInfo[loss]
	switch {
	case lv == nil:
		return nil, fmt.Errorf("autodiff: loss %q is not a value of the graph", loss)
	case !lv.DType.IsFloat():
		return nil, fmt.Errorf("autodiff: loss %q is %s, not a float", loss, lv.DType)
	case !lv.Static() || ir.NumElements(lv.Shape) != 1:
		return nil, fmt.Errorf("autodiff: loss %q has shape %v; it must hold exactly one element", loss, lv.Shape)
	}
	seen := map[string]bool{}
	for _, w := range wrt {
		v := g.ValueInfo[w]
		switch {
		case v == nil:
			return nil, fmt.Errorf("autodiff: %q is not a value of the graph", w)
		case !v.DType.IsFloat():
			return nil, fmt.Errorf("autodiff: cannot differentiate with respect to %q: it is %s", w, v.DType)
		case !v.Static():
			return nil, fmt.Errorf("autodiff: %q has shape %v; gradients need static shapes (call ir.FixBatch first)", w, v.Shape)
		case seen[w]:
			return nil, fmt.Errorf("autodiff: %q listed twice", w)
		}
		seen[w] = true
	}

	snap := snapshot(m)
	names, err := grad(m, loss, wrt)
	if err != nil {
		snap.restore(m)
		return nil, err
	}
	return names, nil
}

func grad(m *ir.Model, loss string, wrt []string) ([]string, error) {
	g := m.Graph
	isFloat := func(name string) bool {
		v := g.ValueInfo[name]
		return name != "" && v != nil && v.DType.IsFloat()
	}
	// Values that depend on wrt through float values.
	fwd := map[string]bool{}
	for _, w := range wrt {
		fwd[w] = true
	}
	for _, n := range g.Nodes {
		if !anyIn(n.Inputs, fwd) {
			continue
		}
		for _, o := range n.Outputs {
			if isFloat(o) {
				fwd[o] = true
			}
		}
	}
	// Values the loss depends on.
	bwd := map[string]bool{loss: true}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if anyIn(n.Outputs, bwd) {
			for _, in := range n.Inputs {
				if in != "" {
					bwd[in] = true
				}
			}
		}
	}
	active := func(name string) bool { return fwd[name] && bwd[name] }

	b := NewBuilder(m)
	contrib := map[string][]string{}
	totals := map[string]string{}
	// total returns the accumulated gradient of value v (fan-out summed once).
	total := func(v string) string {
		if d, ok := totals[v]; ok {
			return d
		}
		b.SetPrefix("grad/" + v)
		d := b.Sum(contrib[v]...)
		totals[v] = d
		return d
	}
	lv := g.ValueInfo[loss]
	if active(loss) {
		b.SetPrefix("grad")
		ones := make([]float64, ir.NumElements(lv.Shape))
		for i := range ones {
			ones[i] = 1
		}
		contrib[loss] = []string{b.Floats(lv.DType, lv.Shape, ones)}
	}
	// The loop reads g.Nodes as it was; the builder appends behind it.
	nodes := append([]*ir.Node{}, g.Nodes...)
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		need := make([]bool, len(n.Inputs))
		anyNeed := false
		for j, in := range n.Inputs {
			need[j] = active(in) && isFloat(in)
			anyNeed = anyNeed || need[j]
		}
		if !anyNeed {
			continue
		}
		dy := make([]string, len(n.Outputs))
		anyDY := false
		for j, o := range n.Outputs {
			if o == "" || !active(o) || len(contrib[o]) == 0 {
				continue
			}
			dy[j] = total(o)
			anyDY = true
		}
		if !anyDY {
			continue
		}
		rule, ok := rules[opKey{canonDomain(n.Domain), n.OpType}]
		if !ok {
			return nil, fmt.Errorf("autodiff: node %s: %w", n, ErrNoRule)
		}
		for _, v := range append(append([]string{}, n.Inputs...), n.Outputs...) {
			if vi := g.ValueInfo[v]; v != "" && (vi == nil || !vi.Static()) {
				return nil, fmt.Errorf("autodiff: node %s: value %q has no static shape; call ir.FixBatch first", n, v)
			}
		}
		b.SetPrefix("grad/" + n.Name)
		dx, err := rule(b, n, dy, need)
		if err == nil {
			err = b.Err()
		}
		if err != nil {
			return nil, fmt.Errorf("autodiff: node %s: gradient: %w", n, err)
		}
		if len(dx) != len(n.Inputs) {
			return nil, fmt.Errorf("autodiff: node %s: gradient rule returned %d gradients for %d inputs", n, len(dx), len(n.Inputs))
		}
		for j, d := range dx {
			if d == "" || !need[j] {
				continue
			}
			want, got := g.ValueInfo[n.Inputs[j]], g.ValueInfo[d]
			if got == nil || !equalShape(got.Shape, want.Shape) || got.DType != want.DType {
				var gs any = "unknown"
				if got != nil {
					gs = fmt.Sprintf("%s%v", got.DType, got.Shape)
				}
				return nil, fmt.Errorf("autodiff: node %s input %d: gradient %s, want %s%v", n, j, gs, want.DType, want.Shape)
			}
			contrib[n.Inputs[j]] = append(contrib[n.Inputs[j]], d)
		}
	}

	names := make([]string, len(wrt))
	for i, w := range wrt {
		v := g.ValueInfo[w]
		var d string
		if len(contrib[w]) > 0 {
			d = total(w)
		} else {
			b.SetPrefix("grad/" + w)
			d = b.zeros(v.DType, v.Shape)
		}
		names[i] = b.Fresh(w + "_grad")
		if b.Err() == nil {
			n := g.AddNode(&ir.Node{Name: names[i], OpType: "Identity", Inputs: []string{d}, Outputs: []string{names[i]}})
			if err := ir.InferNode(m, n); err != nil {
				return nil, fmt.Errorf("autodiff: %w", err)
			}
		}
	}
	if err := b.Err(); err != nil {
		return nil, err
	}
	if !g.IsOutput(loss) {
		g.Outputs = append(g.Outputs, &ir.Value{Name: loss, DType: lv.DType, Shape: append([]int64{}, lv.Shape...)})
	}
	for _, name := range names {
		v := g.ValueInfo[name]
		g.Outputs = append(g.Outputs, &ir.Value{Name: name, DType: v.DType, Shape: append([]int64{}, v.Shape...)})
	}
	return names, nil
}

// zeros returns a new value of zeros (computed by ConstantOfShape, not stored).
func (b *Builder) zeros(dt ir.DType, shape []int64) string {
	value := b.floatTensor(dt, []int64{1}, []float64{0})
	if len(shape) == 0 {
		return b.Reshape(b.Op("ConstantOfShape", []string{b.Int64s(1)}, ir.TensorAttr("value", value)), []int64{})
	}
	return b.Op("ConstantOfShape", []string{b.Int64s(shape...)}, ir.TensorAttr("value", value))
}

func anyIn(names []string, set map[string]bool) bool {
	for _, s := range names {
		if s != "" && set[s] {
			return true
		}
	}
	return false
}

// PromoteToInput turns the named initializers into graph inputs of the same type and shape,
// so that a session can feed (and an optimizer update) their values. It returns the removed
// initializers, in the order given, so that the caller keeps their current values.
func PromoteToInput(m *ir.Model, names ...string) ([]*ir.Tensor, error) {
	g := m.Graph
	out := make([]*ir.Tensor, len(names))
	for i, name := range names {
		t := g.Initializer(name)
		if t == nil {
			return nil, fmt.Errorf("autodiff: promote %q: no such initializer", name)
		}
		out[i] = t
	}
	for _, t := range out {
		g.RemoveInitializer(t.Name)
		v := &ir.Value{Name: t.Name, DType: t.DType, Shape: append([]int64{}, t.Shape...)}
		g.Inputs = append(g.Inputs, v)
		g.ValueInfo[t.Name] = v
	}
	return out, nil
}

// graphSnapshot is what Grad needs to undo its edits.
type graphSnapshot struct {
	nodes, inits, outputs int
	opsets                []ir.Opset
	outs                  map[*ir.Node][]string
	values                map[string]bool
}

func snapshot(m *ir.Model) *graphSnapshot {
	g := m.Graph
	s := &graphSnapshot{nodes: len(g.Nodes), inits: len(g.Initializers), outputs: len(g.Outputs),
		opsets: append([]ir.Opset{}, m.Opsets...), outs: map[*ir.Node][]string{}, values: map[string]bool{}}
	for _, n := range g.Nodes {
		s.outs[n] = append([]string{}, n.Outputs...)
	}
	for name := range g.ValueInfo {
		s.values[name] = true
	}
	return s
}

func (s *graphSnapshot) restore(m *ir.Model) {
	g := m.Graph
	g.Nodes = g.Nodes[:s.nodes]
	for _, n := range g.Nodes {
		n.Outputs = s.outs[n]
	}
	g.Initializers = g.Initializers[:s.inits]
	g.Outputs = g.Outputs[:s.outputs]
	m.Opsets = s.opsets
	for name := range g.ValueInfo {
		if !s.values[name] {
			delete(g.ValueInfo, name)
		}
	}
	g.Index()
}
