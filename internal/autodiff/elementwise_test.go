package autodiff

import (
	"fmt"
	"testing"

	"github.com/sharpq/sharpq/ir"
)

// float64 checks: a step of 1e-6 gives central differences accurate to ~1e-9 on smooth
// functions, so 1e-6 relative to max |fd| leaves room without hiding mistakes.
var smoothFD = fdOpts{eps: 1e-6, tol: 1e-6}

func TestBinaryGrad(t *testing.T) {
	shapes := []struct {
		name string
		a, b []int64
	}{
		{"same", []int64{2, 3, 4}, []int64{2, 3, 4}},
		{"trailing vector", []int64{2, 3, 4}, []int64{4}},
		{"middle column", []int64{2, 3, 4}, []int64{3, 1}},
		{"both broadcast", []int64{1, 3, 1}, []int64{2, 1, 4}},
		{"one element", []int64{2, 3, 4}, []int64{1}},
		{"left broadcast", []int64{1, 4}, []int64{2, 3, 4}},
	}
	for _, op := range []string{"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"} {
		for _, s := range shapes {
			t.Run(op+"/"+s.name, func(t *testing.T) {
				tg := newGraph(ir.Float64, 13)
				y := tg.op(op, []string{tg.in("a", s.a...), tg.in("b", s.b...)})
				o := smoothFD
				o.positive = op == "Div" || op == "Pow"
				checkGrad(t, tg, y, o)
			})
		}
	}
	t.Run("Mul same input", func(t *testing.T) {
		tg := newGraph(ir.Float64, 13)
		x := tg.in("x", 3, 4)
		checkGrad(t, tg, tg.op("Mul", []string{x, x}), smoothFD)
	})
	t.Run("Sum of three", func(t *testing.T) {
		tg := newGraph(ir.Float64, 13)
		y := tg.op("Sum", []string{tg.in("a", 2, 3), tg.in("b", 3), tg.in("c", 2, 1)})
		checkGrad(t, tg, y, smoothFD)
	})
	for _, p := range []float64{3, 0.5, -1, 2, 1} {
		t.Run("Pow constant exponent", func(t *testing.T) {
			tg := newGraph(ir.Float64, 13)
			y := tg.op("Pow", []string{tg.in("x", 3, 4), tg.floats([]int64{}, p)})
			o := smoothFD
			o.positive = true
			checkGrad(t, tg, y, o)
		})
	}
	t.Run("Where", func(t *testing.T) {
		tg := newGraph(ir.Float64, 13)
		c := tg.in("c", 3, 1)
		cond := tg.op("Greater", []string{c, tg.floats([]int64{}, 0)})
		y := tg.op("Where", []string{cond, tg.in("a", 3, 4), tg.in("b", 4)})
		o := smoothFD
		o.kinks = []float64{0}
		checkGrad(t, tg, y, o)
	})
}

func TestUnaryGrad(t *testing.T) {
	cases := []struct {
		op       string
		attrs    []ir.Attr
		positive bool
		kinks    []float64
	}{
		{op: "Relu", kinks: []float64{0}},
		{op: "Sigmoid"},
		{op: "Tanh"},
		{op: "Sqrt", positive: true},
		{op: "Exp"},
		{op: "Log", positive: true},
		{op: "Neg"},
		{op: "Abs", kinks: []float64{0}},
		{op: "Reciprocal", positive: true},
		{op: "Identity"},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			tg := newGraph(ir.Float64, 13)
			y := tg.op(c.op, []string{tg.in("x", 2, 3, 4)}, c.attrs...)
			o := smoothFD
			o.positive, o.kinks = c.positive, c.kinks
			checkGrad(t, tg, y, o)
		})
	}
}

// LeakyRelu, HardSigmoid, HardSwish and Erf have only float32 kernels on the CPU provider. They
// are (piecewise) smooth; inputs keep 0.05 from the kinks, a step of 1e-3 keeps float32
// rounding of the loss (~1e-6) small next to the differences, and the curvature of
// HardSwish's middle piece cancels in central differences.
func TestUnaryGradFloat32(t *testing.T) {
	cases := []struct {
		op    string
		attrs []ir.Attr
		kinks []float64
		opset int64
	}{
		{op: "LeakyRelu", kinks: []float64{0}},
		{op: "LeakyRelu", attrs: []ir.Attr{ir.FloatAttr("alpha", 0.2)}, kinks: []float64{0}},
		{op: "HardSigmoid", kinks: []float64{-2.5, 2.5}},
		{op: "HardSigmoid", attrs: []ir.Attr{ir.FloatAttr("alpha", 0.5), ir.FloatAttr("beta", 0.25)}, kinks: []float64{-0.5, 1.5}},
		{op: "HardSwish", kinks: []float64{-3, 3}, opset: 14},
		{op: "Erf"},
		{op: "Elu", kinks: []float64{0}},
		{op: "Elu", attrs: []ir.Attr{ir.FloatAttr("alpha", 0.3)}, kinks: []float64{0}},
		{op: "Selu", kinks: []float64{0}},
		{op: "Softplus"},
		{op: "Mish", opset: 18},
		{op: "Gelu", opset: 20},
		{op: "Swish", opset: 24},
		{op: "Swish", attrs: []ir.Attr{ir.FloatAttr("alpha", 1.702)}, opset: 24},
		{op: "Gelu", attrs: []ir.Attr{ir.StringAttr("approximate", "tanh")}, opset: 20},
	}
	for _, c := range cases {
		t.Run(c.op, func(t *testing.T) {
			opset := c.opset
			if opset == 0 {
				opset = 13
			}
			tg := newGraph(ir.Float32, opset)
			// Scale the input so that the kinks at ±3 and ±2.5 are inside its range.
			x := tg.op("Mul", []string{tg.in("x", 4, 5, 6), tg.floats([]int64{}, 3)})
			y := tg.op(c.op, []string{x}, c.attrs...)
			kinks := make([]float64, len(c.kinks))
			for i, k := range c.kinks {
				kinks[i] = k / 3
			}
			checkGrad(t, tg, y, fdOpts{eps: 1e-3, tol: 1e-3, kinks: kinks})
		})
	}
}

// TestPReluGrad checks both gradients of PRelu with a slope per channel, as PyTorch exports
// nn.PReLU(C) ([C, 1, 1] against NCHW), and with one shared slope.
func TestPReluGrad(t *testing.T) {
	for _, slope := range [][]int64{{5, 1, 1}, {1}} {
		t.Run(fmt.Sprint(slope), func(t *testing.T) {
			tg := newGraph(ir.Float32, 16)
			x := tg.op("Mul", []string{tg.in("x", 2, 5, 3, 4), tg.floats([]int64{}, 3)})
			y := tg.op("PRelu", []string{x, tg.in("slope", slope...)})
			checkGrad(t, tg, y, fdOpts{eps: 1e-3, tol: 1e-3, kinks: []float64{0}})
		})
	}
}

func TestClipGrad(t *testing.T) {
	o := smoothFD
	o.kinks = []float64{-0.5, 0.8}
	t.Run("both bounds", func(t *testing.T) {
		tg := newGraph(ir.Float64, 13)
		y := tg.op("Clip", []string{tg.in("x", 3, 4, 5), tg.floats([]int64{}, -0.5), tg.floats([]int64{}, 0.8)})
		checkGrad(t, tg, y, o)
	})
	t.Run("min only", func(t *testing.T) {
		tg := newGraph(ir.Float64, 13)
		y := tg.op("Clip", []string{tg.in("x", 3, 4, 5), tg.floats([]int64{}, -0.5)})
		checkGrad(t, tg, y, o)
	})
	t.Run("max only", func(t *testing.T) {
		tg := newGraph(ir.Float64, 13)
		y := tg.op("Clip", []string{tg.in("x", 3, 4, 5), "", tg.floats([]int64{}, 0.8)})
		checkGrad(t, tg, y, o)
	})
	t.Run("learned bounds", func(t *testing.T) {
		// The bounds are graph inputs of shape [1] reshaped to scalars, as Clip wants, and
		// mapped to 0.2·v ∓ 0.8 so that min < max.
		tg := newGraph(ir.Float64, 13)
		scalar := tg.ints()
		bound := func(name string, off float64) string {
			v := tg.op("Mul", []string{tg.in(name, 1), tg.floats([]int64{}, 0.2)})
			return tg.op("Reshape", []string{tg.op("Add", []string{v, tg.floats([]int64{}, off)}), scalar})
		}
		lo, hi := bound("lo", -0.8), bound("hi", 0.8)
		y := tg.op("Clip", []string{tg.in("x", 4, 5), lo, hi})
		checkGrad(t, tg, y, fdOpts{eps: 1e-6, tol: 1e-6, wrt: []string{"x", "lo", "hi"}, kinks: []float64{}})
	})
}

func TestCastGrad(t *testing.T) {
	// float32 input cast to float64: linear, so a large step is exact apart from rounding.
	tg := newGraph(ir.Float32, 13)
	y := tg.op("Cast", []string{tg.in("x", 3, 4)}, ir.IntAttr("to", int64(ir.Float64)))
	checkGrad(t, tg, y, fdOpts{eps: 0.5, tol: 1e-6})
}
