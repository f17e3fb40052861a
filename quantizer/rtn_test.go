package quantizer_test

import (
	"context"
	"math"
	"testing"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
)

// TestExportMatchesSimulation quantizes the bundled ResNet-20 with round-to-nearest (no
// reconstruction), calibrated on real images, and checks that ONNX Runtime's QDQ model and the
// fake-quant simulation agree, for several bit widths.
func TestExportMatchesSimulation(t *testing.T) {
	rt := orttest.Runtime(t)
	d, m := bundled(t)
	fm, err := infer.Static(m, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := quantizer.FoldBN(fm); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		w, a   int
		minSim float64 // top-1 floor on the 1000-image subset (FP: 94.6)
	}{
		{8, 8, 94},
		{4, 4, 85},
		{4, 8, 92},
		{3, 3, 30},
		{2, 4, 10},
	}
	var acts map[string]*quantizer.ActStats
	for _, tc := range tests {
		p, err := quantizer.NewPlan(fm.Graph, quantizer.DefaultBits(tc.w, tc.a), false)
		if err != nil {
			t.Fatal(err)
		}
		if err := quantizer.InitWeights(fm.Graph, p); err != nil {
			t.Fatal(err)
		}
		if acts == nil {
			// The float model's activations do not depend on the bit widths.
			acts, err = quantizer.CollectActs(context.Background(), rt, fm, p, d.X[:256*d.SampleLen()], 256, 64)
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := quantizer.InitActs(p, acts, 0); err != nil {
			t.Fatal(err)
		}
		sim, err := quantizer.Simulate(fm, p)
		if err != nil {
			t.Fatal(err)
		}
		qdq, err := quantizer.Export(fm, p, []ir.KeyValue{{Key: "sharpq.method", Value: "test"}}, quantizer.QDQOpset)
		if err != nil {
			t.Fatal(err)
		}
		data, err := onnxio.Encode(qdq)
		if err != nil {
			t.Fatal(err)
		}
		qdq, err = onnxio.Decode(data, "")
		if err != nil {
			t.Fatal(err)
		}
		rs, err := calib.Evaluate(context.Background(), rt, sim, d, calib.EvalOptions{Batch: 100})
		if err != nil {
			t.Fatal(err)
		}
		rq, err := calib.Evaluate(context.Background(), rt, qdq, d, calib.EvalOptions{Batch: 100})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("W%dA%d round-to-nearest: simulation %.1f, ORT QDQ %.1f (%d bytes)", tc.w, tc.a, rs.Top1, rq.Top1, len(data))
		if rs.Top1 < tc.minSim {
			t.Errorf("W%dA%d: simulated top-1 %.1f below %.1f", tc.w, tc.a, rs.Top1, tc.minSim)
		}
		// Two images in 1000: ORT's QDQ kernels and the float simulation agree up to float
		// rounding (biases are int32 in both).
		if math.Abs(rs.Top1-rq.Top1) > 0.2 {
			t.Errorf("W%dA%d: ORT QDQ top-1 %.1f, simulation %.1f", tc.w, tc.a, rq.Top1, rs.Top1)
		}
	}
}
