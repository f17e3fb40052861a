package quantizer_test

import (
	"math"
	"testing"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
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
	// BatchNorm1d after the classifier, as some heads have it.
	head, err := onnxio.Read("../testmodels/" + testmodels.DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	g := head.Graph
	for _, n := range g.Nodes {
		if n.OpType == "Gemm" {
			logits := n.Outputs[0]
			n.Outputs[0] = "fc"
			stats := func(name string, base, step float32) string {
				v := make([]float32, 10)
				for i := range v {
					v[i] = base + step*float32(i)
				}
				g.AddInitializer(ir.NewFloat32(name, []int64{10}, v))
				return name
			}
			g.AddNode(&ir.Node{Name: "head_bn", OpType: "BatchNormalization", Outputs: []string{logits},
				Inputs: []string{"fc", stats("bn_gamma", 0.5, 0.1), stats("bn_beta", -0.3, 0.07), stats("bn_mean", 0.2, -0.05), stats("bn_var", 0.8, 0.3)}})
		}
	}
	g.Index()
	tests := []struct {
		name  string
		m     *ir.Model
		folds int
	}{
		{"tiny", tiny, 3},
		{"resnet20", real, 21},
		{"resnet20 with BatchNorm1d after the classifier", head, 22},
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
