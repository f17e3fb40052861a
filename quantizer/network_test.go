package quantizer_test

import (
	"context"
	"testing"

	"github.com/sharpq/sharpq/internal/ir"
	"github.com/sharpq/sharpq/internal/ort/orttest"
	"github.com/sharpq/sharpq/quantizer"
)

// TestNetworkTuning reconstructs ResNet-20 at W2A4 from the same seed with and without the
// network-wise stage. The stage must lower its own logit error, leave every rounding decision
// of the blocks as it was, raise the quantized model's output SQNR against the float model on
// the calibration images, and reach the exported file (ONNX Runtime agrees with the
// simulation).
func TestNetworkTuning(t *testing.T) {
	rt := orttest.Runtime(t)
	d, m := bundled(t)
	cal := d.Subset(seq(0, 256))
	run := func(networkIters int) *quantizer.Result {
		t.Helper()
		o := quantizer.Options{Bits: quantizer.DefaultBits(2, 4), Recon: quantizer.ReconOptions{Iters: 60, Seed: 3, NetworkIters: networkIters}}
		res, err := quantizer.Quantize(context.Background(), rt, m, cal.X, cal.N, o)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	blocks, tuned := run(0), run(150)

	if len(tuned.Blocks) != len(blocks.Blocks)+1 {
		t.Fatalf("%d results with network tuning, %d without: want one more", len(tuned.Blocks), len(blocks.Blocks))
	}
	net := tuned.Blocks[len(tuned.Blocks)-1]
	if net.Kind != string(quantizer.Network) || net.Layers != len(tuned.Plan.Weights) {
		t.Errorf("last result %s (%s, %d layers): want the network with all %d layers", net.Name, net.Kind, net.Layers, len(tuned.Plan.Weights))
	}
	t.Logf("network logit error %.4g → %.4g; output SQNR %.2f dB → %.2f dB; self-check agreement %.3f, max logit diff %.3g",
		net.LossStart, net.LossEnd, blocks.Check.OutputSQNR, tuned.Check.OutputSQNR, tuned.Check.Agreement, tuned.Check.MaxLogitDiff)
	if !(net.LossEnd < 0.8*net.LossStart) {
		t.Errorf("network logit error %.4g → %.4g: want it to fall by a fifth at least", net.LossStart, net.LossEnd)
	}
	if !(tuned.Check.OutputSQNR > blocks.Check.OutputSQNR+0.5) {
		t.Errorf("output SQNR %.2f dB with network tuning, %.2f dB without: want higher", tuned.Check.OutputSQNR, blocks.Check.OutputSQNR)
	}
	if tuned.Check.Agreement < 0.99 {
		t.Errorf("self-check agreement %.3f with network tuning", tuned.Check.Agreement)
	}

	_, folded := bundled(t)
	if err := ir.Canonicalize(folded); err != nil {
		t.Fatal(err)
	}
	if _, err := quantizer.FoldBN(folded); err != nil {
		t.Fatal(err)
	}
	changed, total, scaled := 0, 0, 0
	for i, w := range tuned.Plan.Weights {
		f := folded.Graph.Initializer(w.Weight).F32
		a, b := blocks.Plan.Weights[i].Integers(f), w.Integers(f)
		for j := range a {
			if a[j] != b[j] {
				changed++
			}
		}
		total += len(a)
		if maxAbsDiff(w.Scale, blocks.Plan.Weights[i].Scale) > 0 {
			scaled++
		}
	}
	// The blocks' training is deterministic up to ONNX Runtime's float summation order.
	if changed > total/1000 {
		t.Errorf("network tuning changed %d of %d weight integers: want the rounding kept", changed, total)
	}
	if scaled < len(tuned.Plan.Weights)/2 {
		t.Errorf("network tuning moved the scales of %d of %d layers, want most", scaled, len(tuned.Plan.Weights))
	}
}
