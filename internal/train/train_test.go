package train_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/internal/ir"
	"github.com/sharpq/sharpq/internal/ort/orttest"
	"github.com/sharpq/sharpq/internal/train"
)

// regression builds loss = mean((x·w + b − t)²) with x [8,3], w [3,1], b [1,1], and optionally
// a Log of the prediction so a negative value can make it NaN.
func regression(t *testing.T, withLog bool) *ir.Model {
	t.Helper()
	g := ir.NewGraph("regression")
	for _, v := range []struct {
		name  string
		shape []int64
	}{{"x", []int64{8, 3}}, {"t", []int64{8, 1}}, {"w", []int64{3, 1}}, {"b", []int64{1, 1}}} {
		g.Inputs = append(g.Inputs, &ir.Value{Name: v.name, DType: ir.Float32, Shape: v.shape})
	}
	m := &ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Version: 13}}, Graph: g}
	if err := ir.InferShapes(m); err != nil {
		t.Fatal(err)
	}
	b := autodiff.NewBuilder(m)
	y := b.Add(b.Op("MatMul", []string{"x", "w"}), "b")
	if withLog {
		y = b.Op("Log", []string{y})
	}
	d := b.Sub(y, "t")
	loss := b.ReduceMean(b.Mul(d, d), nil, false)
	if b.Err() != nil {
		t.Fatal(b.Err())
	}
	g.Outputs = []*ir.Value{{Name: loss, DType: ir.Float32, Shape: []int64{}}}
	return m
}

func TestAdamFitsLinearRegression(t *testing.T) {
	rt := orttest.Runtime(t)
	m := regression(t, false)
	group := &train.Group{Name: "all", LR: 0.05}
	w := &train.Param{Name: "w", Group: group, Init: make([]float32, 3)}
	bias := &train.Param{Name: "b", Group: group, Init: []float32{0}}
	tr, err := train.New(rt, m, train.Config{Loss: m.Graph.Outputs[0].Name, Params: []*train.Param{w, bias}, Feeds: []string{"x", "t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	want := []float32{0.5, -1.25, 2}
	r := rand.New(rand.NewPCG(1, 2))
	var loss float64
	for step := 0; step < 1500; step++ {
		x, tt := tr.Feed("x"), tr.Feed("t")
		for i := 0; i < 8; i++ {
			var y float32 = 0.3
			for j := 0; j < 3; j++ {
				x[i*3+j] = float32(r.NormFloat64())
				y += x[i*3+j] * want[j]
			}
			tt[i] = y
		}
		if loss, err = tr.Step(); err != nil {
			t.Fatal(err)
		}
	}
	for j, v := range want {
		if math.Abs(float64(w.Data[j]-v)) > 1e-2 {
			t.Errorf("w[%d] = %v, want %v (loss %.3g)", j, w.Data[j], v, loss)
		}
	}
	if math.Abs(float64(bias.Data[0])-0.3) > 1e-2 {
		t.Errorf("b = %v, want 0.3", bias.Data[0])
	}
}

func TestNonFiniteNamesStepAndTensor(t *testing.T) {
	rt := orttest.Runtime(t)
	m := regression(t, true)
	group := &train.Group{Name: "all", LR: 0.1}
	w := &train.Param{Name: "w", Group: group, Init: []float32{1, 1, 1}}
	bias := &train.Param{Name: "b", Group: group, Init: []float32{0}}
	tr, err := train.New(rt, m, train.Config{Loss: m.Graph.Outputs[0].Name, Params: []*train.Param{w, bias}, Feeds: []string{"x", "t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for i := range tr.Feed("x") {
		tr.Feed("x")[i] = -1 // log of a negative prediction
	}
	_, err = tr.Step()
	if !errors.Is(err, train.ErrNonFinite) || !strings.Contains(err.Error(), "step 0") {
		t.Fatalf("got %v, want a non-finite error naming step 0", err)
	}
}

func TestAdamFirstStepIsLRTimesSign(t *testing.T) {
	// With bias correction, Adam's first update is lr·g/(|g|+eps) ≈ lr·sign(g) (Kingma & Ba, §2).
	rt := orttest.Runtime(t)
	m := regression(t, false)
	group := &train.Group{Name: "all", LR: 0.01}
	w := &train.Param{Name: "w", Group: group, Init: []float32{0, 0, 0}}
	bias := &train.Param{Name: "b", Group: group, Init: []float32{0}}
	tr, err := train.New(rt, m, train.Config{Loss: m.Graph.Outputs[0].Name, Params: []*train.Param{w, bias}, Feeds: []string{"x", "t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for i := range tr.Feed("x") {
		tr.Feed("x")[i] = 1
	}
	for i := range tr.Feed("t") {
		tr.Feed("t")[i] = 1 // prediction 0 < 1: every gradient is negative
	}
	if _, err := tr.Step(); err != nil {
		t.Fatal(err)
	}
	for j, v := range w.Data {
		if math.Abs(float64(v)-0.01) > 1e-6 {
			t.Errorf("w[%d] = %v after one step, want 0.01", j, v)
		}
	}
}

func TestSchedules(t *testing.T) {
	g := &train.Group{LR: 1}
	s := &train.StepDecay{Group: g, Every: 100, Gamma: 0.95}
	for step := 1; step <= 300; step++ {
		s.After(step)
	}
	if math.Abs(g.LR-math.Pow(0.95, 3)) > 1e-12 {
		t.Errorf("StepDecay: lr %v, want 0.95^3", g.LR)
	}
	p := &train.Plateau{Group: &train.Group{LR: 0.1}, Patience: 2}
	for _, l := range []float64{1, 0.5, 0.5, 0.5, 0.5} {
		p.Observe(l)
	}
	if math.Abs(p.Group.LR-0.01) > 1e-12 {
		t.Errorf("Plateau: lr %v, want 0.01 after three steps without improvement", p.Group.LR)
	}
	// Cosine: PyTorch's CosineAnnealingLR(T_max=4) gives 1, 0.8536, 0.5, 0.1464, 0 for the
	// steps 1 to 5, and stays at 0 after T_max.
	c := &train.Cosine{Group: &train.Group{LR: 1}, Steps: 4}
	for step, want := range []float64{0.8536, 0.5, 0.1464, 0, 0} {
		c.After(step + 1)
		if math.Abs(c.Group.LR-want) > 1e-4 {
			t.Errorf("Cosine: lr %.4f after step %d, want %.4f", c.Group.LR, step+1, want)
		}
	}
}

// TestLossAlsoAnOutput checks that the loss can be one of the extra outputs too (a loss made
// of one part is that part): the session opens and the output reads the step's loss.
func TestLossAlsoAnOutput(t *testing.T) {
	rt := orttest.Runtime(t)
	m := regression(t, false)
	b := autodiff.NewBuilder(m)
	loss := b.Reshape(m.Graph.Outputs[0].Name, []int64{1})
	if b.Err() != nil {
		t.Fatal(b.Err())
	}
	m.Graph.Outputs = nil
	w := &train.Param{Name: "w", Group: &train.Group{Name: "all", LR: 0.05}, Init: []float32{1, 2, 3}}
	tr, err := train.New(rt, m, train.Config{Loss: loss, Params: []*train.Param{w}, Feeds: []string{"x", "t", "b"}, Outputs: []string{loss}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for i, x := range tr.Feed("x") {
		tr.Feed("x")[i] = x + float32(i%5)
	}
	got, err := tr.Step()
	if err != nil {
		t.Fatal(err)
	}
	if out := tr.Output(loss); len(out) != 1 || float64(out[0]) != got || got == 0 {
		t.Errorf("Output(loss) = %v, Step returned %v; want the same non-zero value", out, got)
	}
}

// TestSharpStepUsesTheGradientAtTheProbe checks SharpStep against the regression's gradient
// worked out on the host: the loss it returns is the one at w, the gradient Adam applies is the
// one at w + ε with ASAM's ε, and a group not marked Perturb is not probed.
func TestSharpStepUsesTheGradientAtTheProbe(t *testing.T) {
	rt := orttest.Runtime(t)
	m := regression(t, false)
	const lr, rho = 0.01, 0.3
	perturbed := &train.Group{Name: "w", LR: lr, Perturb: true}
	fixed := &train.Group{Name: "b", LR: lr}
	w0 := []float32{0.2, -0.4, 0.1}
	const b0 = 0.5
	w := &train.Param{Name: "w", Group: perturbed, Init: append([]float32{}, w0...)}
	bias := &train.Param{Name: "b", Group: fixed, Init: []float32{b0}}
	tr, err := train.New(rt, m, train.Config{Loss: m.Graph.Outputs[0].Name, Params: []*train.Param{w, bias}, Feeds: []string{"x", "t"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	r := rand.New(rand.NewPCG(3, 4))
	x, tt := tr.Feed("x"), tr.Feed("t")
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for i := range tt {
		tt[i] = float32(r.NormFloat64())
	}
	// loss and gradient of mean((x·w + b − t)²) in float64.
	grad := func(w []float64, b float64) (loss float64, gw []float64, gb float64) {
		gw = make([]float64, 3)
		for i := 0; i < 8; i++ {
			d := b - float64(tt[i])
			for j := 0; j < 3; j++ {
				d += float64(x[i*3+j]) * w[j]
			}
			loss += d * d / 8
			for j := 0; j < 3; j++ {
				gw[j] += 2 * d * float64(x[i*3+j]) / 8
			}
			gb += 2 * d / 8
		}
		return loss, gw, gb
	}
	wf := []float64{float64(w0[0]), float64(w0[1]), float64(w0[2])}
	loss0, g, _ := grad(wf, b0)
	var norm float64
	for j := range g {
		a := math.Abs(wf[j]) + 0.01
		norm += a * a * g[j] * g[j]
	}
	norm = math.Sqrt(norm)
	probe := make([]float64, 3)
	for j := range g {
		a := math.Abs(wf[j]) + 0.01
		probe[j] = wf[j] + rho*a*a*g[j]/norm
	}
	_, g2, gb2 := grad(probe, b0)

	loss, err := tr.SharpStep(rho)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(loss-loss0) > 1e-5*math.Max(1, loss0) {
		t.Errorf("SharpStep returned loss %.6g, the loss at w is %.6g", loss, loss0)
	}
	for j := range g2 {
		if math.Abs(float64(w.Grad[j])-g2[j]) > 1e-5 {
			t.Errorf("gradient applied to w[%d] = %.6g, the gradient at the probe is %.6g (at w: %.6g)", j, w.Grad[j], g2[j], g[j])
		}
		// Adam's first step moves each element by lr against its gradient's sign, from w.
		want := wf[j] - lr*math.Copysign(1, g2[j])
		if math.Abs(float64(w.Data[j])-want) > 1e-6 {
			t.Errorf("w[%d] = %.7g after the step, want %.7g (w0 − lr·sign of the probe's gradient)", j, w.Data[j], want)
		}
	}
	if math.Abs(float64(bias.Grad[0])-gb2) > 1e-5 {
		t.Errorf("gradient of b = %.6g, want %.6g (b not probed, w probed)", bias.Grad[0], gb2)
	}
	if want := b0 - lr*math.Copysign(1, gb2); math.Abs(float64(bias.Data[0])-want) > 1e-6 {
		t.Errorf("b = %.7g after the step, want %.7g", bias.Data[0], want)
	}
}
