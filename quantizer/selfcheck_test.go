package quantizer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/testmodels"
)

// TestUnoptimizedSelfCheckCatchesExportErrors checks the self-check's exact comparison: the
// exported model matches the simulation to float rounding when both run without graph
// optimizations, and one activation scale off by 2 % shows as a logit difference far above it.
func TestUnoptimizedSelfCheckCatchesExportErrors(t *testing.T) {
	rt := orttest.Runtime(t)
	const n = 32
	m, x := bundledImages(t, n)
	r, err := Quantize(context.Background(), rt, m, x, n, Options{Bits: DefaultBits(4, 4)})
	if err != nil {
		t.Fatal(err)
	}
	// Both must run at one opset: ONNX Runtime's kernels of an operator differ between opsets
	// (AveragePool-11 and -19 round differently by an ulp), which moves activations on ties.
	sim, err := atOpsetOf(r.Simulated, r.QDQ)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sim.Opset(""), r.QDQ.Opset(""); got != want || want != QDQOpset {
		t.Errorf("simulation checked at opset %d, export at %d, want both %d", got, want, QDQOpset)
	}
	if r.Check.UnoptimizedAgreement != 100 {
		t.Errorf("top-1 agreement without optimizations %.2f %%, want 100", r.Check.UnoptimizedAgreement)
	}
	if got := r.Check.UnoptimizedMaxLogitDiff; got > 1e-4 {
		t.Fatalf("exported model vs simulation without optimizations: %.3g, want ≤ 1e-4", got)
	}
	changed := ""
	for _, init := range r.QDQ.Graph.Initializers {
		// An activation scale in the fifth residual block (scalar float, named after its tensor).
		if strings.HasSuffix(init.Name, "_scale_1") && len(init.Shape) == 0 && strings.Contains(init.Name, "layers.4/") {
			init.F32[0] *= 1.02
			changed = init.Name
			break
		}
	}
	if changed == "" {
		t.Fatal("no activation scale of layers.4 in the exported model")
	}
	bad, _, err := unoptimizedDiff(rt, r.QDQ, r.Simulated, x, n, n)
	if err != nil {
		t.Fatal(err)
	}
	if bad < 1e-2 {
		t.Errorf("%s scaled by 1.02: logits differ by only %.3g, want ≥ 1e-2", changed, bad)
	}
	t.Logf("unoptimized QDQ vs simulation: %.3g as exported, %.3g with %s off by 2 %%", r.Check.UnoptimizedMaxLogitDiff, bad, changed)
}

// TestSelfCheckFlagsCollapse checks that the self-check marks a quantized model that has lost
// the float model's behaviour (every layer at 2 bits, round-to-nearest) as collapsed, and
// leaves an 8-bit one unmarked.
func TestSelfCheckFlagsCollapse(t *testing.T) {
	rt := orttest.Runtime(t)
	const n = 64
	m, x := bundledImages(t, n)
	for _, tc := range []struct {
		name      string
		bits      Bits
		collapsed bool
	}{
		{"W8A8", DefaultBits(8, 8), false},
		{"W2A2 everywhere", Bits{Weight: 2, Activation: 2, FirstWeight: 2, SecondInput: 2, LastWeight: 2, LastInput: 2}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged []string
			log := func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }
			r, err := Quantize(context.Background(), rt, m, x, n, Options{Bits: tc.bits, Log: log})
			if err != nil {
				t.Fatal(err)
			}
			warned := slices.ContainsFunc(logged, func(s string) bool { return strings.Contains(s, "lost most of the float model's behaviour") })
			t.Logf("float top-1 agreement %.2f %%, output SQNR %.1f dB", r.Check.FloatAgreement, r.Check.OutputSQNR)
			if r.Check.Collapsed != tc.collapsed || warned != tc.collapsed {
				t.Errorf("collapsed %v, warning logged %v; want both %v", r.Check.Collapsed, warned, tc.collapsed)
			}
		})
	}
}

// bundledImages reads the bundled ResNet-20 and the first n images of its test subset,
// normalised as it was trained.
func bundledImages(t *testing.T, n int) (*ir.Model, []float32) {
	t.Helper()
	m, err := onnxio.Read("../testmodels/" + testmodels.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	d, err := calib.LoadNPY("../testmodels/"+testmodels.SubsetImages, "", calib.Preprocess{Mean: []float32{0.2860}, Std: []float32{0.3530}})
	if err != nil {
		t.Fatal(err)
	}
	return m, d.X[:n*d.SampleLen()]
}
