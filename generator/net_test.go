package generator

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/internal/reftest"
	"github.com/sharpq/sharpq/internal/train"
	"github.com/sharpq/sharpq/ir"
)

// TestUpConv checks upConv against the direct Conv(UpsampleNearest(x)) it replaces: the
// weighted sum Σ y·R of the output (R random) and its gradients with respect to x, the
// kernel and the bias, all run through ONNX Runtime.
func TestUpConv(t *testing.T) {
	const n, c, m, h, w = 2, 3, 4, 5, 6
	rng := rand.New(rand.NewPCG(3, 4))
	randn := func(k int) []float32 {
		v := make([]float32, k)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	xv, wv, bv, rv := randn(n*c*h*w), randn(m*c*9), randn(m), randn(n*m*4*h*w)
	run := func(direct bool) (float64, [][]float32) {
		mod := &ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Version: 13}}, Graph: ir.NewGraph("upconv")}
		g := mod.Graph
		for _, in := range []struct {
			name  string
			shape []int64
		}{{"x", []int64{n, c, h, w}}, {"w", []int64{m, c, 3, 3}}, {"b", []int64{m}}} {
			g.Inputs = append(g.Inputs, &ir.Value{Name: in.name, DType: ir.Float32, Shape: in.shape})
			g.ValueInfo[in.name] = &ir.Value{Name: in.name, DType: ir.Float32, Shape: in.shape}
		}
		b := autodiff.NewBuilder(mod)
		var y string
		if direct {
			y = b.Op("Conv", []string{autodiff.UpsampleNearest(b, "x", 2), "w", "b"}, ir.IntsAttr("pads", 1, 1, 1, 1))
		} else {
			y = upConv(b, "x", "w", "b")
		}
		r := make([]float64, len(rv))
		for i, v := range rv {
			r[i] = float64(v)
		}
		loss := b.Reshape(b.ReduceSum(b.Mul(y, b.Floats(ir.Float32, []int64{n, m, 2 * h, 2 * w}, r)), nil, false), []int64{1})
		if err := b.Err(); err != nil {
			t.Fatal(err)
		}
		grp := &train.Group{}
		ps := []*train.Param{
			{Name: "x", Group: grp, Init: append([]float32{}, xv...)},
			{Name: "w", Group: grp, Init: append([]float32{}, wv...)},
			{Name: "b", Group: grp, Init: append([]float32{}, bv...)},
		}
		tr, err := train.New(orttest.Runtime(t), mod, train.Config{Loss: loss, Params: ps})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		l, err := tr.Forward()
		if err != nil {
			t.Fatal(err)
		}
		var grads [][]float32
		for _, p := range ps {
			grads = append(grads, append([]float32{}, p.Grad...))
		}
		return l, grads
	}
	wantLoss, want := run(true)
	gotLoss, got := run(false)
	// Both sum the same float32 products in different orders: relative differences ~1e-6.
	const tol = 1e-5
	if math.Abs(gotLoss-wantLoss) > tol*math.Abs(wantLoss)+1e-5 {
		t.Errorf("Σ y·R = %.7g, direct form %.7g", gotLoss, wantLoss)
	}
	for i, name := range []string{"x", "w", "b"} {
		if e := reftest.RelErr(got[i], want[i]); e > tol {
			t.Errorf("gradient w.r.t. %s: relative error %.3g", name, e)
		}
	}
}
