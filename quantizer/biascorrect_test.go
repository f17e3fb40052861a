package quantizer_test

import (
	"context"
	"math"
	"reflect"
	"testing"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/quantizer"
)

// TestBiasCorrection quantizes ResNet-20 by round-to-nearest with and without bias
// correction. At W4A4 the correction must be kept and make the simulated model's mean logit
// per class on the calibration images the float model's (the classifier is corrected last,
// with every earlier correction in place), where without it they differ; the exported model
// must match the simulation (Quantize's self-check). At W2A4 shifting the means collapses
// the model, so the correction must be refused and the exported weights and biases be those
// of the run without it.
func TestBiasCorrection(t *testing.T) {
	rt := orttest.Runtime(t)
	d, m := bundled(t)
	const n = 256
	x := d.X[:n*d.SampleLen()]
	run := func(w int, correct bool) *quantizer.Result {
		t.Helper()
		res, err := quantizer.Quantize(context.Background(), rt, m, x, n, quantizer.Options{Bits: quantizer.DefaultBits(w, 4), BiasCorrection: correct})
		if err != nil {
			t.Fatal(err)
		}
		if res.Check.UnoptimizedAgreement != 100 {
			t.Errorf("W%dA4 correct=%v: export agrees with the simulation on %.2f %% of the images", w, correct, res.Check.UnoptimizedAgreement)
		}
		return res
	}
	fp := meanLogits(t, rt, m, x, n)
	plain, corrected := run(4, false), run(4, true)
	if corrected.Bias == nil || !corrected.Bias.Kept || corrected.Bias.Layers != 22 {
		t.Fatalf("W4A4 bias report %+v: want 22 layers corrected and kept", corrected.Bias)
	}
	before, after := maxDiff(fp, meanLogits(t, rt, plain.Simulated, x, n)), maxDiff(fp, meanLogits(t, rt, corrected.Simulated, x, n))
	t.Logf("W4A4 largest difference of a class's mean logit from the float model's: %.4g uncorrected, %.4g corrected; top-1 agreement %.4f → %.4f",
		before, after, corrected.Bias.AgreementBefore, corrected.Bias.AgreementAfter)
	if before < 0.01 || after > 1e-3 {
		t.Errorf("mean logit difference %.4g uncorrected, %.4g corrected: want the correction to remove it", before, after)
	}

	refused, base := run(2, true), run(2, false)
	if refused.Bias == nil || refused.Bias.Kept || refused.Bias.AgreementAfter >= refused.Bias.AgreementBefore {
		t.Fatalf("W2A4 bias report %+v: want the correction refused", refused.Bias)
	}
	for _, init := range base.QDQ.Graph.Initializers {
		got := refused.QDQ.Graph.Initializer(init.Name)
		if !reflect.DeepEqual(got, init) {
			t.Errorf("W2A4: initializer %s differs after a refused correction", init.Name)
		}
	}
}

// meanLogits returns m's mean output per class over the n images.
func meanLogits(t *testing.T, rt *ort.Runtime, m *ir.Model, x []float32, n int) []float64 {
	t.Helper()
	s, err := infer.New(rt, m, n)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	copy(s.Input(), x)
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	y := s.Output()
	classes := len(y) / n
	mean := make([]float64, classes)
	for i, v := range y {
		mean[i%classes] += float64(v) / float64(n)
	}
	return mean
}

func maxDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}
