package train_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/internal/train"
	"github.com/sharpq/sharpq/ir"
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

// TestRestart trains, restarts from other initial values and trains again: the second run
// must be the one a new Trainer from those values makes, to the bit, and a restart with the
// wrong number or size of values is refused.
func TestRestart(t *testing.T) {
	rt := orttest.Runtime(t)
	type run struct {
		w, b   []float32
		losses []float64
	}
	fit := func(tr *train.Trainer, w, b *train.Param, seed uint64) run {
		r := rand.New(rand.NewPCG(seed, 3))
		var out run
		for step := 0; step < 20; step++ {
			x, tt := tr.Feed("x"), tr.Feed("t")
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			for i := range tt {
				tt[i] = float32(r.NormFloat64())
			}
			loss, err := tr.Step()
			if err != nil {
				t.Fatal(err)
			}
			out.losses = append(out.losses, loss)
		}
		out.w, out.b = slices.Clone(w.Data), slices.Clone(b.Data)
		return out
	}
	open := func(w0, b0 []float32) (*train.Trainer, *train.Param, *train.Param) {
		m := regression(t, false)
		g := &train.Group{Name: "all", LR: 0.05}
		w := &train.Param{Name: "w", Group: g, Init: slices.Clone(w0)}
		b := &train.Param{Name: "b", Group: g, Init: slices.Clone(b0)}
		tr, err := train.New(rt, m, train.Config{Loss: m.Graph.Outputs[0].Name, Params: []*train.Param{w, b}, Feeds: []string{"x", "t"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr, w, b
	}
	w1, b1 := []float32{1, -2, 0.5}, []float32{0.25}
	fresh, fw, fb := open(w1, b1)
	want := fit(fresh, fw, fb, 9)

	reused, rw, rb := open([]float32{0, 0, 0}, []float32{3})
	fit(reused, rw, rb, 4)
	if err := reused.Restart([][]float32{w1, b1}); err != nil {
		t.Fatal(err)
	}
	if reused.Steps() != 0 {
		t.Errorf("%d steps after Restart, want 0", reused.Steps())
	}
	got := fit(reused, rw, rb, 9)
	if !slices.Equal(got.losses, want.losses) || !slices.Equal(got.w, want.w) || !slices.Equal(got.b, want.b) {
		t.Errorf("restarted run: losses %v, w %v, b %v; a new trainer's: %v, %v, %v", got.losses[:3], got.w, got.b, want.losses[:3], want.w, want.b)
	}

	for _, bad := range [][][]float32{{w1}, {w1, {1, 2}}} {
		if err := reused.Restart(bad); err == nil {
			t.Errorf("Restart with %d values of sizes %d… accepted", len(bad), len(bad[0]))
		}
	}
}
