package quantizer_test

import (
	"context"
	"math"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/quantizer"
)

// TestLearnedBias reconstructs ResNet-20 at W2A4 with and without bias learning from the same
// seed. Learning the biases must move them, lower the blocks' reconstruction loss (it adds
// parameters to the same objective), and reach the exported model: ONNX Runtime's QDQ file
// must agree with the simulation, which reads the learned biases, including the first layer's,
// whose bias stays float because its input does.
func TestLearnedBias(t *testing.T) {
	rt := orttest.Runtime(t)
	d, m := bundled(t)
	cal := d.Subset(seq(0, 256))
	run := func(lr float64) *quantizer.Result {
		t.Helper()
		o := quantizer.Options{Bits: quantizer.DefaultBits(2, 4), Recon: quantizer.ReconOptions{Iters: 80, Seed: 3, LRBias: lr}}
		res, err := quantizer.Quantize(context.Background(), rt, m, cal.X, cal.N, o)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	fixed, learned := run(0), run(1e-3)
	_, folded := bundled(t)
	if err := ir.Canonicalize(folded); err != nil {
		t.Fatal(err)
	}
	if _, err := quantizer.FoldBN(folded); err != nil {
		t.Fatal(err)
	}

	moved, layers := 0, 0
	for _, w := range fixed.Plan.Weights {
		if w.Bias != nil {
			t.Errorf("%s: bias learned with LRBias 0", w.Node)
		}
	}
	for _, w := range learned.Plan.Weights {
		if w.Bias == nil {
			t.Errorf("%s: bias not learned", w.Node)
			continue
		}
		layers++
		for _, v := range w.Bias {
			if math.IsNaN(float64(v)) {
				t.Fatalf("%s: NaN bias", w.Node)
			}
		}
		if maxAbsDiff(w.Bias, modelBias(t, folded, w.Node)) > 1e-4 {
			moved++
		}
	}
	if moved < layers*3/4 {
		t.Errorf("learned biases moved in %d of %d layers, want most", moved, layers)
	}

	var lossFixed, lossLearned float64
	for i, b := range learned.Blocks {
		lossFixed += fixed.Blocks[i].LossEnd
		lossLearned += b.LossEnd
	}
	t.Logf("summed final block loss: fixed biases %.4g, learned %.4g; self-check agreement %.3f, max logit diff %.3g",
		lossFixed, lossLearned, learned.Check.Agreement, learned.Check.MaxLogitDiff)
	if !(lossLearned < lossFixed) {
		t.Errorf("summed final block loss %.4g with learned biases, %.4g without: want lower", lossLearned, lossFixed)
	}
	// Learned biases are exported as int32 at s_x·s_w; the simulation rounds them the same way.
	if d := learned.Check.UnoptimizedMaxLogitDiff; d > 1e-4 {
		t.Errorf("learned biases: unoptimized ONNX Runtime QDQ and simulation differ by up to %.3g, want ≤ 1e-4", d)
	}
	if learned.Check.Agreement < 99 {
		t.Errorf("self-check agreement %.3f with learned biases", learned.Check.Agreement)
	}
}

// modelBias returns the bias layer node reads in model m.
func modelBias(t *testing.T, m *ir.Model, node string) []float32 {
	t.Helper()
	g := m.Graph
	for _, n := range g.Nodes {
		if n.Name == node {
			if b := g.Initializer(n.Input(2)); b != nil {
				return b.F32
			}
		}
	}
	t.Fatalf("layer %s has no bias in the folded model", node)
	return nil
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}
