package autodiff

import (
	"fmt"
	"strconv"

	"github.com/sharpq/sharpq/ir"
)

// Builder appends nodes and constants to a model's graph under fresh names and infers the
// type of every value it creates, so that later nodes (and callers) can read shapes with
// Shape. It writes each operator in the form the model's default-domain opset expects (for
// example ReduceSum's axes as an input from opset 13, ReduceMean's from 18).
//
// Errors are sticky: after the first failure the Builder still returns names but adds
// nothing more; check Err when done. Gradient rules, the generator and the quantizer all
// build their graphs with it.
type Builder struct {
	m      *ir.Model
	g      *ir.Graph
	opset  int64
	prefix string
	used   map[string]bool
	counts map[string]int
	consts map[string]string
	err    error
}

// NewBuilder returns a Builder that appends to m's graph. m's values must have known types
// (run ir.InferShapes or ir.FixBatch first) wherever new nodes read them.
func NewBuilder(m *ir.Model) *Builder {
	g := m.Graph
	g.Index()
	b := &Builder{m: m, g: g, opset: m.Opset(""), prefix: "autodiff",
		used: map[string]bool{}, counts: map[string]int{}, consts: map[string]string{}}
	for _, v := range g.Inputs {
		b.used[v.Name] = true
	}
	for _, v := range g.Outputs {
		b.used[v.Name] = true
	}
	for _, t := range g.Initializers {
		b.used[t.Name] = true
	}
	for _, n := range g.Nodes {
		b.used[n.Name] = true
		for _, o := range n.Outputs {
			b.used[o] = true
		}
	}
	for name := range g.ValueInfo {
		b.used[name] = true
	}
	return b
}

// Model returns the model the Builder appends to.
func (b *Builder) Model() *ir.Model { return b.m }

// Opset returns the default-domain opset the Builder writes for.
func (b *Builder) Opset() int64 { return b.opset }

// SetPrefix sets the prefix of the names of nodes and values added from now on and returns
// the previous one.
func (b *Builder) SetPrefix(prefix string) string {
	old := b.prefix
	b.prefix = prefix
	return old
}

// Err returns the first error met while building, or nil.
func (b *Builder) Err() error { return b.err }

// Fail records err as the Builder's error unless one is already recorded.
func (b *Builder) Fail(err error) {
	if b.err == nil && err != nil {
		b.err = err
	}
}

// Value returns the type of the value called name, or nil when it is unknown.
func (b *Builder) Value(name string) *ir.Value { return b.g.ValueInfo[name] }

// Shape returns the shape of the value called name (nil, and a recorded error, when unknown).
func (b *Builder) Shape(name string) []int64 {
	v := b.g.ValueInfo[name]
	if v == nil || v.Shape == nil {
		b.Fail(fmt.Errorf("autodiff: value %q has no known shape", name))
		return nil
	}
	return v.Shape
}

// DType returns the element type of the value called name (Undefined when unknown).
func (b *Builder) DType(name string) ir.DType {
	if v := b.g.ValueInfo[name]; v != nil {
		return v.DType
	}
	return ir.Undefined
}

// Fresh returns a name starting with base that no value, node or initializer uses yet, and
// reserves it. Values typed since the Builder was made (by another Builder, or Grad) count
// as used too.
func (b *Builder) Fresh(base string) string {
	name := base
	for b.used[name] || b.g.ValueInfo[name] != nil {
		b.counts[base]++
		name = base + "_" + strconv.Itoa(b.counts[base])
	}
	b.used[name] = true
	return name
}

// Node appends a node of the given domain and type with nOut outputs and returns the output
// names. A non-default domain is imported (version 1) if the model does not import it yet.
func (b *Builder) Node(domain, op string, inputs []string, nOut int, attrs ...ir.Attr) []string {
	name := b.Fresh(b.prefix + "/" + op)
	outs := make([]string, nOut)
	for i := range outs {
		if i == 0 {
			outs[i] = name
		} else {
			outs[i] = b.Fresh(name + ":" + strconv.Itoa(i))
		}
	}
	if b.err != nil {
		return outs
	}
	if domain != "" && b.m.Opset(domain) == 0 {
		b.m.SetOpset(domain, 1)
	}
	n := &ir.Node{Name: name, OpType: op, Domain: domain, Inputs: append([]string{}, inputs...),
		Outputs: outs, Attrs: attrs}
	b.g.AddNode(n)
	if err := ir.InferNode(b.m, n); err != nil {
		b.Fail(fmt.Errorf("autodiff: building %s: %w", n, err))
	}
	return outs
}

// Op appends a default-domain node with one output and returns the output's name.
func (b *Builder) Op(op string, inputs []string, attrs ...ir.Attr) string {
	return b.Node("", op, inputs, 1, attrs...)[0]
}

// Const adds t as an initializer under a fresh name based on t.Name (or "const") and
// returns that name. t is not copied.
func (b *Builder) Const(t *ir.Tensor) string {
	base := t.Name
	if base == "" {
		base = b.prefix + "/const"
	}
	t.Name = b.Fresh(base)
	if b.err == nil {
		b.g.AddInitializer(t)
	}
	return t.Name
}

// cached returns the constant stored under key, creating it with mk the first time.
func (b *Builder) cached(key string, mk func() *ir.Tensor) string {
	if name, ok := b.consts[key]; ok {
		return name
	}
	t := mk()
	t.Name = b.Fresh("autodiff/const")
	if b.err == nil {
		b.g.AddInitializer(t)
	}
	b.consts[key] = t.Name
	return t.Name
}

// Int64s returns a 1-D int64 constant holding v (shared between uses).
func (b *Builder) Int64s(v ...int64) string {
	return b.cached(fmt.Sprint("i64", v), func() *ir.Tensor {
		return ir.NewInt64("", []int64{int64(len(v))}, append([]int64{}, v...))
	})
}

// Scalar returns a rank-0 constant of element type dt holding v (shared between uses).
func (b *Builder) Scalar(dt ir.DType, v float64) string {
	return b.cached(fmt.Sprint(dt, "scalar", v), func() *ir.Tensor {
		return b.floatTensor(dt, []int64{}, []float64{v})
	})
}

// Floats returns a new constant of element type dt, shape shape and values data.
func (b *Builder) Floats(dt ir.DType, shape []int64, data []float64) string {
	return b.Const(b.floatTensor(dt, shape, data))
}

func (b *Builder) floatTensor(dt ir.DType, shape []int64, data []float64) *ir.Tensor {
	t := &ir.Tensor{DType: dt, Shape: append([]int64{}, shape...)}
	switch dt {
	case ir.Float32:
		t.F32 = make([]float32, len(data))
		for i, v := range data {
			t.F32[i] = float32(v)
		}
	case ir.Float64:
		t.F64 = append([]float64{}, data...)
	default:
		b.Fail(fmt.Errorf("autodiff: cannot make a %s constant; gradients support float32 and float64", dt))
		t.DType, t.F32 = ir.Float32, make([]float32, len(data))
	}
	return t
}

// Add returns x + y (broadcasting).
func (b *Builder) Add(x, y string) string { return b.Op("Add", []string{x, y}) }

// Sub returns x − y (broadcasting).
func (b *Builder) Sub(x, y string) string { return b.Op("Sub", []string{x, y}) }

// Mul returns x · y (broadcasting).
func (b *Builder) Mul(x, y string) string { return b.Op("Mul", []string{x, y}) }

// Div returns x / y (broadcasting).
func (b *Builder) Div(x, y string) string { return b.Op("Div", []string{x, y}) }

// Neg returns −x.
func (b *Builder) Neg(x string) string { return b.Op("Neg", []string{x}) }

// Scale returns x · c for a constant c.
func (b *Builder) Scale(x string, c float64) string {
	if c == 1 {
		return x
	}
	if c == -1 {
		return b.Neg(x)
	}
	return b.Mul(x, b.Scalar(b.DType(x), c))
}

// Where returns cond ? x : y (broadcasting).
func (b *Builder) Where(cond, x, y string) string { return b.Op("Where", []string{cond, x, y}) }

// Mask returns cond ? x : 0.
func (b *Builder) Mask(cond, x string) string {
	return b.Where(cond, x, b.Scalar(b.DType(x), 0))
}

// Sum returns the sum of xs, which must have equal shapes.
func (b *Builder) Sum(xs ...string) string {
	switch len(xs) {
	case 0:
		b.Fail(fmt.Errorf("autodiff: sum of no values"))
		return ""
	case 1:
		return xs[0]
	case 2:
		return b.Add(xs[0], xs[1])
	}
	return b.Op("Sum", xs)
}

// reduce appends a Reduce* node over axes (all axes when nil), with axes as an attribute or
// an input as the opset requires.
func (b *Builder) reduce(op, x string, axes []int64, keep bool, inputFrom int64) string {
	k := int64(0)
	if keep {
		k = 1
	}
	attrs := []ir.Attr{ir.IntAttr("keepdims", k)}
	ins := []string{x}
	if axes != nil {
		if b.opset >= inputFrom {
			ins = append(ins, b.Int64s(axes...))
		} else {
			attrs = append(attrs, ir.IntsAttr("axes", axes...))
		}
	}
	return b.Op(op, ins, attrs...)
}

// ReduceSum sums x over axes (all when nil), keeping reduced axes as 1 when keep.
func (b *Builder) ReduceSum(x string, axes []int64, keep bool) string {
	return b.reduce("ReduceSum", x, axes, keep, 13)
}

// ReduceMean averages x over axes (all when nil), keeping reduced axes as 1 when keep.
func (b *Builder) ReduceMean(x string, axes []int64, keep bool) string {
	return b.reduce("ReduceMean", x, axes, keep, 18)
}

// ReduceSumSquare sums x² over axes (all when nil), keeping reduced axes as 1 when keep.
func (b *Builder) ReduceSumSquare(x string, axes []int64, keep bool) string {
	return b.reduce("ReduceSumSquare", x, axes, keep, 18)
}

// Reshape returns x reshaped to shape (given in full, no 0 or -1), or x itself when it
// already has that shape.
func (b *Builder) Reshape(x string, shape []int64) string {
	if equalShape(b.Shape(x), shape) {
		return x
	}
	return b.Op("Reshape", []string{x, b.Int64s(shape...)})
}

// Transpose permutes x's axes by perm, or returns x when perm is the identity.
func (b *Builder) Transpose(x string, perm []int64) string {
	identity := true
	for i, p := range perm {
		if p != int64(i) {
			identity = false
		}
	}
	if identity {
		return x
	}
	return b.Op("Transpose", []string{x}, ir.IntsAttr("perm", perm...))
}

// Expand broadcasts x to shape, or returns x when it already has that shape.
func (b *Builder) Expand(x string, shape []int64) string {
	if equalShape(b.Shape(x), shape) {
		return x
	}
	return b.Op("Expand", []string{x, b.Int64s(shape...)})
}

// Slice returns x[starts:ends:steps] along axes (steps nil means 1).
func (b *Builder) Slice(x string, starts, ends, axes, steps []int64) string {
	ins := []string{x, b.Int64s(starts...), b.Int64s(ends...), b.Int64s(axes...)}
	if steps != nil {
		ins = append(ins, b.Int64s(steps...))
	}
	return b.Op("Slice", ins)
}

// Pad pads x with zeros: pads holds the begin counts of every axis, then the end counts.
// It returns x when every count is zero.
func (b *Builder) Pad(x string, pads []int64) string {
	zero := true
	for _, p := range pads {
		if p != 0 {
			zero = false
		}
	}
	if zero {
		return x
	}
	if b.opset < 11 {
		return b.Op("Pad", []string{x}, ir.IntsAttr("pads", pads...))
	}
	return b.Op("Pad", []string{x, b.Int64s(pads...)})
}

// SumTo sums x down to shape, the inverse of numpy broadcasting: leading axes that shape
// lacks and axes where shape has 1 are summed over.
func (b *Builder) SumTo(x string, shape []int64) string {
	xs := b.Shape(x)
	if xs == nil || equalShape(xs, shape) {
		return x
	}
	off := len(xs) - len(shape)
	if off < 0 {
		b.Fail(fmt.Errorf("autodiff: cannot sum shape %v down to %v", xs, shape))
		return x
	}
	var axes []int64
	for i := range xs {
		if i < off || (shape[i-off] == 1 && xs[i] != 1) {
			axes = append(axes, int64(i))
		}
	}
	y := x
	if len(axes) > 0 {
		y = b.ReduceSum(x, axes, true)
	}
	return b.Reshape(y, shape)
}

func equalShape(a, b []int64) bool {
	if a == nil || b == nil || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
