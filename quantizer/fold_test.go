package quantizer_test

import (
	"math"
	"testing"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/ir"
	"github.com/sharpq/sharpq/internal/ort/orttest"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/testmodels"
)

// TestFoldBNKeepsOutputs folds BN in the bundled model and the tiny model and checks that ORT
// gives the same logits before and after.
func TestFoldBNKeepsOutputs(t *testing.T) {
	rt := orttest.Runtime(t)
	tiny := testmodels.TinyResNet(3)
	real, err := onnxio.Read("../testmodels/" + testmodels.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		m     *ir.Model
		folds int
	}{
		{"tiny", tiny, 3},
		{"resnet20", real, 21},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			const batch = 4
			before, err := infer.New(rt, m, batch)
			if err != nil {
				t.Fatal(err)
			}
			defer before.Close()
			x := before.Input()
			for j := range x {
				x[j] = float32(math.Sin(float64(j) * 0.37))
			}
			if err := before.Run(); err != nil {
				t.Fatal(err)
			}
			fm, err := infer.Static(m, batch)
			if err != nil {
				t.Fatal(err)
			}
			n, err := quantizer.FoldBN(fm)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.folds {
				t.Fatalf("folded %d, want %d", n, tc.folds)
			}
			after, err := infer.New(rt, fm, batch)
			if err != nil {
				t.Fatal(err)
			}
			defer after.Close()
			copy(after.Input(), x)
			if err := after.Run(); err != nil {
				t.Fatal(err)
			}
			var maxDiff float64
			for j, v := range after.Output() {
				maxDiff = math.Max(maxDiff, math.Abs(float64(v-before.Output()[j])))
			}
			// float32 re-association of the BN scale into the weights: 1e-4 on logits of size ~10.
			if maxDiff > 1e-4 {
				t.Fatalf("max logit change %.3g after folding", maxDiff)
			}
		})
	}
}
