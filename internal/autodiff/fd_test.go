package autodiff

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
)

// tgraph builds small test graphs: float inputs, constant initializers, nodes.
type tgraph struct {
	m  *ir.Model
	dt ir.DType
	k  int
}

func newGraph(dt ir.DType, opset int64) *tgraph {
	g := ir.NewGraph("test")
	return &tgraph{m: &ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Domain: "", Version: opset}}, Graph: g}, dt: dt}
}

// in adds a float graph input.
func (t *tgraph) in(name string, shape ...int64) string {
	v := &ir.Value{Name: name, DType: t.dt, Shape: shape}
	t.m.Graph.Inputs = append(t.m.Graph.Inputs, v)
	t.m.Graph.ValueInfo[name] = v
	return name
}

// floats adds a float initializer.
func (t *tgraph) floats(shape []int64, data ...float64) string {
	t.k++
	name := fmt.Sprintf("c%d", t.k)
	tt := &ir.Tensor{Name: name, DType: t.dt, Shape: shape}
	for _, v := range data {
		if t.dt == ir.Float32 {
			tt.F32 = append(tt.F32, float32(v))
		} else {
			tt.F64 = append(tt.F64, v)
		}
	}
	t.m.Graph.AddInitializer(tt)
	return name
}

// ints adds a 1-D int64 initializer.
func (t *tgraph) ints(v ...int64) string {
	t.k++
	name := fmt.Sprintf("i%d", t.k)
	t.m.Graph.AddInitializer(ir.NewInt64(name, []int64{int64(len(v))}, v))
	return name
}

// op adds a node with one output and returns the output's name.
func (t *tgraph) op(op string, ins []string, attrs ...ir.Attr) string {
	t.k++
	name := fmt.Sprintf("%s%d", op, t.k)
	t.m.Graph.AddNode(&ir.Node{Name: name, OpType: op, Inputs: ins, Outputs: []string{name}, Attrs: attrs})
	return name
}

// multi adds a node with k outputs and returns their names.
func (t *tgraph) multi(op string, ins []string, k int, attrs ...ir.Attr) []string {
	t.k++
	name := fmt.Sprintf("%s%d", op, t.k)
	outs := make([]string, k)
	for i := range outs {
		outs[i] = fmt.Sprintf("%s_%d", name, i)
	}
	t.m.Graph.AddNode(&ir.Node{Name: name, OpType: op, Inputs: ins, Outputs: outs, Attrs: attrs})
	return outs
}

// fdOpts tunes one finite-difference check.
type fdOpts struct {
	eps, tol float64
	// positive draws inputs from [0.5, 2) instead of a standard normal.
	positive bool
	// wrt lists the inputs to check (default: every graph input).
	wrt []string
	// kinks are input values where the function is not differentiable; inputs are drawn at
	// least 0.05 away from them so that no finite-difference step crosses one.
	kinks []float64
	// maxChecks bounds the elements perturbed per input (default 300, chosen at random).
	maxChecks int
}

func ortType(dt ir.DType) ort.DType {
	switch dt {
	case ir.Float32:
		return ort.Float32
	case ir.Float64:
		return ort.Float64
	case ir.Int64:
		return ort.Int64
	}
	panic("unsupported dtype " + dt.String())
}

// sessionIO reads and writes float tensors of a session as float64.
type sessionIO struct {
	s     *ort.Session
	types map[string]ir.DType
}

func (io sessionIO) get(name string) []float64 {
	if io.types[name] == ir.Float32 {
		v := io.s.Float32(name)
		out := make([]float64, len(v))
		for i, x := range v {
			out[i] = float64(x)
		}
		return out
	}
	return append([]float64{}, io.s.Float64(name)...)
}

func (io sessionIO) set(name string, i int, v float64) {
	if io.types[name] == ir.Float32 {
		io.s.Float32(name)[i] = float32(v)
	} else {
		io.s.Float64(name)[i] = v
	}
}

func (io sessionIO) at(name string, i int) float64 {
	if io.types[name] == ir.Float32 {
		return float64(io.s.Float32(name)[i])
	}
	return io.s.Float64(name)[i]
}

// draw returns one random input value.
func draw(rng *rand.Rand, o fdOpts) float64 {
	for {
		x := rng.NormFloat64()
		if o.positive {
			x = 0.5 + 1.5*rng.Float64()
		}
		ok := true
		for _, k := range o.kinks {
			if math.Abs(x-k) < 0.05 {
				ok = false
			}
		}
		if ok {
			return x
		}
	}
}

// checkGrad differentiates loss = Σ y·R (R fixed and random) with respect to the graph
// inputs by Grad, runs it in ONNX Runtime, and compares every gradient with central finite
// differences of the same loss, also run through ONNX Runtime (the sum computed in float64
// here). The error bound is max|grad − fd| <= tol·max(max|fd|, 1).
func checkGrad(t *testing.T, tg *tgraph, y string, o fdOpts) {
	t.Helper()
	rt := orttest.Runtime(t)
	m := tg.m
	rng := rand.New(rand.NewPCG(1, 2))
	if err := ir.InferShapes(m); err != nil {
		t.Fatal(err)
	}
	yv := m.Graph.ValueInfo[y]
	m.Graph.Outputs = append(m.Graph.Outputs, yv)
	r := make([]float64, ir.NumElements(yv.Shape))
	for i := range r {
		r[i] = rng.NormFloat64()
	}
	b := NewBuilder(m)
	rname := b.Floats(yv.DType, yv.Shape, r)
	loss := b.Reshape(b.ReduceSum(b.Mul(y, rname), nil, false), []int64{1})
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	wrt := o.wrt
	if wrt == nil {
		for _, v := range m.Graph.Inputs {
			wrt = append(wrt, v.Name)
		}
	}
	grads, err := Grad(m, loss, wrt)
	if err != nil {
		t.Fatal(err)
	}
	if err := Lower(m); err != nil {
		t.Fatal(err)
	}
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]ir.DType{}
	var ins, outs []ort.TensorSpec
	for _, v := range m.Graph.Inputs {
		ins = append(ins, ort.TensorSpec{Name: v.Name, DType: ortType(v.DType), Shape: v.Shape})
		types[v.Name] = v.DType
	}
	for _, name := range append([]string{y}, grads...) {
		v := m.Graph.ValueInfo[name]
		shape := v.Shape
		if len(shape) == 0 {
			shape = []int64{1}
		}
		outs = append(outs, ort.TensorSpec{Name: name, DType: ortType(v.DType), Shape: shape})
		types[name] = v.DType
	}
	s, err := rt.NewSession(data, ins, outs)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	io := sessionIO{s, types}
	for _, v := range m.Graph.Inputs {
		for i := int64(0); i < ir.NumElements(v.Shape); i++ {
			io.set(v.Name, int(i), draw(rng, o))
		}
	}
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	lossAt := func() float64 {
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		l := 0.0
		for i, v := range io.get(y) {
			l += v * r[i]
		}
		return l
	}
	analytic := map[string][]float64{}
	for i, w := range wrt {
		analytic[w] = io.get(grads[i])
	}
	maxChecks := o.maxChecks
	if maxChecks == 0 {
		maxChecks = 300
	}
	for _, w := range wrt {
		a := analytic[w]
		idx := rng.Perm(len(a))
		if len(idx) > maxChecks {
			idx = idx[:maxChecks]
		}
		var worst, scale float64
		worstAt := -1
		fds := map[int]float64{}
		for _, i := range idx {
			x0 := io.at(w, i)
			io.set(w, i, x0+o.eps)
			lp := lossAt()
			io.set(w, i, x0-o.eps)
			lm := lossAt()
			io.set(w, i, x0)
			fd := (lp - lm) / (2 * o.eps)
			fds[i] = fd
			scale = math.Max(scale, math.Abs(fd))
			if e := math.Abs(a[i] - fd); e > worst || worstAt < 0 {
				worst, worstAt = e, i
			}
		}
		bound := o.tol * math.Max(scale, 1)
		if !(worst <= bound) {
			t.Errorf("d/d%s: max |grad − fd| = %.3g at element %d (grad %.6g, fd %.6g), bound %.3g", w, worst, worstAt, a[worstAt], fds[worstAt], bound)
		} else {
			t.Logf("d/d%s: max |grad − fd| = %.3g over %d elements (max |fd| %.3g)", w, worst, len(idx), scale)
		}
	}
}
