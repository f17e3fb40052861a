package quantizer_test

import (
	"context"
	"math"
	"testing"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/testmodels"
)

// TestLayerSQNR quantizes the bundled ResNet-20 at W8A8 and W2A2 (round-to-nearest) and checks
// the per-layer SQNRs of the report: the last layer's output SQNR is the self-check's logit
// SQNR measured another way (simulation vs QDQ model in ORT), the first layer (W8, float input
// in both) is the same in both, and every other layer and quantizer is noisier at 2 bits.
func TestLayerSQNR(t *testing.T) {
	rt := orttest.Runtime(t)
	d, m := bundled(t)
	const n = 64
	run := func(w, a int) *quantizer.Result {
		r, err := quantizer.Quantize(context.Background(), rt, m, d.X[:n*d.SampleLen()], n,
			quantizer.Options{Bits: quantizer.DefaultBits(w, a), ActImages: n})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	hi, lo := run(8, 8), run(2, 2)
	for _, r := range []*quantizer.Result{hi, lo} {
		last := r.Layers[len(r.Layers)-1].OutputSQNR
		if math.Abs(last-r.Check.OutputSQNR) > 0.1 {
			t.Errorf("last layer output SQNR %.3f dB, self-check logit SQNR %.3f dB", last, r.Check.OutputSQNR)
		}
	}
	if len(hi.Layers) != len(lo.Layers) || len(hi.Layers) < 20 {
		t.Fatalf("%d and %d layers", len(hi.Layers), len(lo.Layers))
	}
	for i, h := range hi.Layers {
		l := lo.Layers[i]
		t.Logf("%-28s W%dA%d: w %5.1f in %5.1f out %5.1f | W%dA%d: w %5.1f in %5.1f out %5.1f", h.Node,
			h.Bits, h.InputBits, h.WeightSQNR, h.InputSQNR, h.OutputSQNR, l.Bits, l.InputBits, l.WeightSQNR, l.InputSQNR, l.OutputSQNR)
		if i == 0 {
			if h.InputBits != 0 || math.Abs(h.OutputSQNR-l.OutputSQNR) > 1e-9 {
				t.Errorf("first layer: output SQNR %.3f vs %.3f dB, input bits %d: want float input, equal", h.OutputSQNR, l.OutputSQNR, h.InputBits)
			}
			continue
		}
		if !(h.OutputSQNR > l.OutputSQNR) {
			t.Errorf("%s: output SQNR %.1f dB at W8A8, %.1f at W2A2", h.Node, h.OutputSQNR, l.OutputSQNR)
		}
		if l.InputBits == 2 && !(h.InputSQNR > 30 && l.InputSQNR < 15) {
			t.Errorf("%s: input SQNR %.1f dB at 8 bits, %.1f at 2", h.Node, h.InputSQNR, l.InputSQNR)
		}
		if l.Bits == 2 && !(h.WeightSQNR > 30 && l.WeightSQNR < 15) {
			t.Errorf("%s: weight SQNR %.1f dB at 8 bits, %.1f at 2", h.Node, h.WeightSQNR, l.WeightSQNR)
		}
	}
}

// bundled loads the bundled ResNet-20 and its 1000-image test subset, preprocessed.
func bundled(t *testing.T) (*calib.Dataset, *ir.Model) {
	t.Helper()
	pre := calib.Preprocess{Mean: []float32{testmodels.FMNISTMean}, Std: []float32{testmodels.FMNISTStd}}
	d, err := calib.Load(context.Background(), "../testmodels/"+testmodels.SubsetImages, "../testmodels/"+testmodels.SubsetLabels, pre)
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnxio.Read("../testmodels/" + testmodels.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	return d, m
}

// TestAsymmetricActs quantizes the model input too (normalised Fashion-MNIST, in about
// [−0.8, 2.0]: signed and lopsided) at 4 bits, on a symmetric signed grid and on an unsigned
// grid with a zero point. The zero point must be an integer inside the grid, both grids must
// keep the input above 20 dB, and ONNX Runtime's QDQ model (uint4 with the zero point) must
// agree with the simulation. (Neither grid wins on this input: the background pixels, most of
// the image, sit at −0.81, and whichever grid has a point near it is less noisy.)
func TestAsymmetricActs(t *testing.T) {
	rt := orttest.Runtime(t)
	d, m := bundled(t)
	const n = 64
	bits := quantizer.DefaultBits(4, 4)
	bits.QuantizeInput = true
	run := func(asym bool) (*quantizer.Result, *quantizer.ActQuant) {
		r, err := quantizer.Quantize(context.Background(), rt, m, d.X[:n*d.SampleLen()], n,
			quantizer.Options{Bits: bits, ActImages: n, AsymmetricActs: asym})
		if err != nil {
			t.Fatal(err)
		}
		return r, r.Plan.Act(m.Graph.Inputs[0].Name)
	}
	sym, symIn := run(false)
	asym, asymIn := run(true)
	if symIn == nil || asymIn == nil || !symIn.Signed || symIn.Zero != 0 || !asymIn.Asymmetric {
		t.Fatalf("input quantizers %+v and %+v", symIn, asymIn)
	}
	if !(asymIn.Zero > 0 && asymIn.Zero < 15) || asymIn.Zero != float32(math.Round(float64(asymIn.Zero))) {
		t.Errorf("zero point %v: want an integer inside [0, 15]", asymIn.Zero)
	}
	first := func(r *quantizer.Result) float64 { return r.Layers[0].InputSQNR }
	t.Logf("input SQNR: symmetric %.2f dB (step %.4g), asymmetric %.2f dB (step %.4g, zero %v); logits %.1f / %.1f dB",
		first(sym), symIn.Step, first(asym), asymIn.Step, asymIn.Zero, sym.Check.OutputSQNR, asym.Check.OutputSQNR)
	if !(first(asym) > 20 && first(sym) > 20) {
		t.Errorf("input SQNR %.2f dB asymmetric, %.2f symmetric: want both above 20 dB", first(asym), first(sym))
	}
	// Without graph optimizations ONNX Runtime computes the QDQ model and the simulation in the
	// same order: equal up to float rounding, far below one activation step.
	for _, r := range []*quantizer.Result{sym, asym} {
		if r.Check.UnoptimizedMaxLogitDiff > 1e-4 {
			t.Errorf("unoptimized ONNX Runtime: QDQ and simulation differ by up to %.3g, want ≤ 1e-4", r.Check.UnoptimizedMaxLogitDiff)
		}
	}
	if asym.Check.Agreement < 99 || asym.Check.MaxLogitDiff > 1e-3 || math.Abs(asym.Layers[len(asym.Layers)-1].OutputSQNR-asym.Check.OutputSQNR) > 0.1 {
		t.Errorf("asymmetric: self-check %+v, last layer output SQNR %.2f", asym.Check, asym.Layers[len(asym.Layers)-1].OutputSQNR)
	}
}

// TestFloatResidual quantizes ResNet-20 at W4A4 with and without float residual Adds. With
// them, every Add of the exported QDQ model reads one float tensor (not a DequantizeLinear),
// ONNX Runtime still agrees with the simulation, and the logits are closer to the float
// model's than when the shortcuts carry the 4-bit values; without, every Add input is
// dequantized or computed from dequantized values only.
func TestFloatResidual(t *testing.T) {
	rt := orttest.Runtime(t)
	d, m := bundled(t)
	const n = 64
	run := func(float bool) *quantizer.Result {
		r, err := quantizer.Quantize(context.Background(), rt, m, d.X[:n*d.SampleLen()], n,
			quantizer.Options{Bits: quantizer.DefaultBits(4, 4), ActImages: n, FloatResidual: float})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	quant, float := run(false), run(true)
	floatAdds := func(r *quantizer.Result) (adds, floatInputs int) {
		producer := map[string]string{}
		for _, n := range r.QDQ.Graph.Nodes {
			for _, o := range n.Outputs {
				producer[o] = n.OpType
			}
		}
		for _, n := range r.QDQ.Graph.Nodes {
			if n.OpType != "Add" {
				continue
			}
			adds++
			for _, in := range n.Inputs {
				if producer[in] == "Relu" {
					floatInputs++ // a block's ReLU output, not requantized
				}
			}
		}
		return adds, floatInputs
	}
	qa, qf := floatAdds(quant)
	fa, ff := floatAdds(float)
	t.Logf("adds %d: float shortcut inputs %d (quantized residual) and %d (float residual); logit SQNR %.2f / %.2f dB",
		qa, qf, ff, quant.Check.OutputSQNR, float.Check.OutputSQNR)
	if qa != 9 || fa != 9 || qf != 0 || ff < 6 {
		t.Errorf("ResNet-20's 9 Adds: %d/%d, float inputs %d (want 0) and %d (want the identity shortcuts, ≥ 6)", qa, fa, qf, ff)
	}
	if float.Check.Agreement < 99 || !(float.Check.OutputSQNR > quant.Check.OutputSQNR) {
		t.Errorf("float residual: self-check %+v; logit SQNR %.2f dB against %.2f with quantized shortcuts", float.Check, float.Check.OutputSQNR, quant.Check.OutputSQNR)
	}
}

// TestActClipNorm initialises ResNet-20's W4A4 activation steps with the paper's Σ|x−q(x)|^2.4
// and with mean squared error: MSE weighs the clipped tail less, so it clips more (smaller
// steps) and, being the quantity SQNR measures, gives the layer inputs a higher SQNR on
// average. A norm below 1 is refused.
func TestActClipNorm(t *testing.T) {
	rt := orttest.Runtime(t)
	d, m := bundled(t)
	const n = 64
	run := func(norm float64) (*quantizer.Result, error) {
		return quantizer.Quantize(context.Background(), rt, m, d.X[:n*d.SampleLen()], n,
			quantizer.Options{Bits: quantizer.DefaultBits(4, 4), ActImages: n, ActClipNorm: norm})
	}
	paper, err := run(0)
	if err != nil {
		t.Fatal(err)
	}
	mse, err := run(2)
	if err != nil {
		t.Fatal(err)
	}
	smaller := 0
	for i, a := range paper.Plan.Acts {
		if mse.Plan.Acts[i].Step <= a.Step {
			smaller++
		}
	}
	meanIn := func(r *quantizer.Result) float64 {
		var s float64
		k := 0
		for _, l := range r.Layers[1:] {
			s += l.InputSQNR
			k++
		}
		return s / float64(k)
	}
	t.Logf("MSE steps ≤ paper's on %d of %d quantizers; mean input SQNR %.2f dB (MSE) vs %.2f dB (p=2.4)",
		smaller, len(paper.Plan.Acts), meanIn(mse), meanIn(paper))
	if smaller < len(paper.Plan.Acts)*9/10 {
		t.Errorf("MSE step ≤ the paper's on only %d of %d activation quantizers", smaller, len(paper.Plan.Acts))
	}
	if !(meanIn(mse) > meanIn(paper)) {
		t.Errorf("mean input SQNR %.2f dB with MSE, %.2f dB with p=2.4: want MSE higher", meanIn(mse), meanIn(paper))
	}
	if _, err := run(0.5); err == nil {
		t.Error("norm 0.5 accepted")
	}
}
