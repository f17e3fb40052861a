package autodiff

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
)

// lossOf appends Σ y (reshaped to [1]) to tg's graph and returns its name.
func lossOf(t *testing.T, tg *tgraph, y string) string {
	t.Helper()
	if err := ir.InferShapes(tg.m); err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(tg.m)
	l := b.Reshape(b.ReduceSum(y, nil, false), []int64{1})
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNoRuleIsAnErrorAndLeavesTheModel(t *testing.T) {
	tg := newGraph(ir.Float64, 13)
	x := tg.in("x", 2, 3)
	y := tg.op("Relu", []string{tg.op("Sign", []string{tg.op("Relu", []string{x})})})
	loss := lossOf(t, tg, y)
	before, err := onnxio.Encode(tg.m)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Grad(tg.m, loss, []string{x})
	if !errors.Is(err, ErrNoRule) {
		t.Fatalf("error %v, want ErrNoRule", err)
	}
	if want := `autodiff: node "Sign2" (Sign): no gradient rule`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	after, err := onnxio.Encode(tg.m)
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Errorf("the failed Grad changed the model")
	}
}

func TestOffPathNodesNeedNoRule(t *testing.T) {
	// Floor reads only a value that does not depend on x, and Softmax's output does not reach
	// the loss: neither needs a gradient rule (Floor has none).
	tg := newGraph(ir.Float64, 13)
	x, c := tg.in("x", 2, 3), tg.in("c", 2, 3)
	tg.op("Softmax", []string{x})
	y := tg.op("Mul", []string{tg.op("Sigmoid", []string{x}), tg.op("Floor", []string{c})})
	checkGrad(t, tg, y, fdOpts{eps: 1e-6, tol: 1e-6, wrt: []string{"x"}})
}

func TestFanOutAndIntermediates(t *testing.T) {
	// x feeds four consumers; h is an intermediate value differentiated directly.
	tg := newGraph(ir.Float64, 13)
	x := tg.in("x", 3, 4)
	h := tg.op("Tanh", []string{x})
	y := tg.op("Sum", []string{tg.op("Mul", []string{h, x}), tg.op("Exp", []string{x}), x, tg.op("Mul", []string{h, h})})
	checkGrad(t, tg, y, smoothFD)

	tg = newGraph(ir.Float64, 13)
	x = tg.in("x", 3, 4)
	h = tg.op("Tanh", []string{x})
	y = tg.op("Mul", []string{h, tg.op("Sigmoid", []string{h})})
	loss := lossOf(t, tg, y)
	grads, err := Grad(tg.m, loss, []string{h, x})
	if err != nil {
		t.Fatal(err)
	}
	if len(grads) != 2 || !tg.m.Graph.IsOutput(grads[0]) || !tg.m.Graph.IsOutput(loss) {
		t.Fatalf("gradients %v, outputs %v", grads, tg.m.Graph.Outputs)
	}
}

func TestUnrelatedValueGetsZeroGradient(t *testing.T) {
	tg := newGraph(ir.Float64, 13)
	x, u := tg.in("x", 2, 3), tg.in("u", 4)
	loss := lossOf(t, tg, tg.op("Exp", []string{x}))
	grads, err := Grad(tg.m, loss, []string{u, x})
	if err != nil {
		t.Fatal(err)
	}
	out := run(t, tg.m, map[string][]float64{x: {0, 0, 0, 0, 0, 0}, u: {1, 2, 3, 4}}, grads)
	for i, v := range out[grads[0]] {
		if v != 0 {
			t.Errorf("d/du[%d] = %g, want 0", i, v)
		}
	}
	for i, v := range out[grads[1]] {
		if v != 1 {
			t.Errorf("d/dx[%d] = %g, want 1 (exp 0)", i, v)
		}
	}
}

func TestGradArgumentErrors(t *testing.T) {
	tg := newGraph(ir.Float64, 13)
	x := tg.in("x", 2, 3)
	y := tg.op("Relu", []string{x})
	loss := lossOf(t, tg, y)
	cases := []struct {
		loss string
		wrt  []string
		want string
	}{
		{y, []string{x}, "must hold exactly one element"},
		{"nope", []string{x}, "not a value"},
		{loss, []string{"nope"}, "not a value"},
		{loss, []string{x, x}, "listed twice"},
		{loss, []string{tg.ints(1)}, "int64"},
	}
	for _, c := range cases {
		_, err := Grad(tg.m, c.loss, c.wrt)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "autodiff: ") {
			t.Errorf("Grad(%q, %v): error %v, want one containing %q", c.loss, c.wrt, err, c.want)
		}
	}
	old := newGraph(ir.Float64, 9)
	if _, err := Grad(old.m, "x", nil); err == nil || !strings.Contains(err.Error(), "opset 9") {
		t.Errorf("opset 9: error %v", err)
	}
}

func TestPromoteToInput(t *testing.T) {
	tg := newGraph(ir.Float64, 13)
	w := tg.floats([]int64{2}, 1, 2)
	tg.op("Mul", []string{tg.in("x", 2), w})
	ts, err := PromoteToInput(tg.m, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 || ts[0].F64[1] != 2 || tg.m.Graph.Initializer(w) != nil || tg.m.Graph.Input(w) == nil {
		t.Fatalf("promoted %v; inputs %v", ts, tg.m.Graph.Inputs)
	}
	if _, err := PromoteToInput(tg.m, "x"); err == nil {
		t.Errorf("promoting a graph input: no error")
	}
}

func TestSTE(t *testing.T) {
	// y = RoundSTE(x)·2 + FloorSTE(x): the forward value uses round and floor, the gradient
	// treats both as the identity (2 + 1 = 3 everywhere).
	tg := newGraph(ir.Float64, 13)
	x := tg.in("x", 6)
	if err := ir.InferShapes(tg.m); err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(tg.m)
	y := b.Add(b.Scale(b.RoundSTE(x), 2), b.FloorSTE(x))
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	tg.m.Graph.Outputs = append(tg.m.Graph.Outputs, tg.m.Graph.ValueInfo[y])
	loss := lossOf(t, tg, y)
	grads, err := Grad(tg.m, loss, []string{x})
	if err != nil {
		t.Fatal(err)
	}
	if tg.m.Opset(Domain) == 0 {
		t.Fatalf("the model does not import domain %q", Domain)
	}
	if err := Lower(tg.m); err != nil {
		t.Fatal(err)
	}
	if tg.m.Opset(Domain) != 0 {
		t.Errorf("Lower kept the %q opset import", Domain)
	}
	for _, n := range tg.m.Graph.Nodes {
		if n.Domain != "" {
			t.Errorf("node %s in domain %q after Lower", n, n.Domain)
		}
	}
	in := []float64{-1.7, -0.5, 0.2, 0.5, 1.5, 2.6}
	out := run(t, tg.m, map[string][]float64{x: in}, []string{y, grads[0]})
	for i, v := range in {
		if want := 2*math.RoundToEven(v) + math.Floor(v); out[y][i] != want {
			t.Errorf("y[%d] = %g, want %g", i, out[y][i], want)
		}
		if out[grads[0]][i] != 3 {
			t.Errorf("dy/dx[%d] = %g, want 3", i, out[grads[0]][i])
		}
	}
}

// run runs a model once in ONNX Runtime, its inputs and outputs all of element type T, and
// returns copies of the outputs.
func run[T float32 | float64](t *testing.T, m *ir.Model, feeds map[string][]T, outputs []string) map[string][]T {
	t.Helper()
	rt := orttest.Runtime(t)
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	dtype := ort.Float32
	if _, ok := any(T(0)).(float64); ok {
		dtype = ort.Float64
	}
	var ins, outs []ort.TensorSpec
	for _, v := range m.Graph.Inputs {
		ins = append(ins, ort.TensorSpec{Name: v.Name, DType: dtype, Shape: v.Shape})
	}
	for _, name := range outputs {
		outs = append(outs, ort.TensorSpec{Name: name, DType: dtype, Shape: m.Graph.ValueInfo[name].Shape})
	}
	s, err := rt.NewSession(data, ins, outs)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	buffer := func(name string) []T {
		if dtype == ort.Float64 {
			return any(s.Float64(name)).([]T)
		}
		return any(s.Float32(name)).([]T)
	}
	for _, v := range m.Graph.Inputs {
		copy(buffer(v.Name), feeds[v.Name])
	}
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	res := map[string][]T{}
	for _, name := range outputs {
		res[name] = append([]T{}, buffer(name)...)
	}
	return res
}

func TestBuildersDoNotCollide(t *testing.T) {
	// A Builder made before Grad keeps working after it without reusing Grad's names.
	tg := newGraph(ir.Float64, 13)
	x := tg.in("x", 2)
	if err := ir.InferShapes(tg.m); err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(tg.m)
	loss := b.Reshape(b.ReduceSum(b.Scale(x, 3), nil, false), []int64{1})
	if _, err := Grad(tg.m, loss, []string{x}); err != nil {
		t.Fatal(err)
	}
	b.Scale(b.Scale(x, 5), 7)
	if err := b.Err(); err != nil {
		t.Fatal(err)
	}
	if err := ir.Validate(tg.m); err != nil {
		t.Fatal(err)
	}
}
