package calib

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/testmodels"
)

// TestCompare compares a model with itself (full agreement, no difference, the accuracy
// Evaluate measures) and with another model, against the agreement, SQNR and largest
// difference computed here from each model's outputs; without labels it still compares.
func TestCompare(t *testing.T) {
	rt := orttest.Runtime(t)
	// 1×8×8 images, 3 classes; other is m with its classifier's weights perturbed, so the two
	// agree on some images and not on others.
	m, other := testmodels.TinyResNet(1), testmodels.TinyResNet(1)
	for i, w := range other.Graph.Initializer("fc.weight").F32 {
		other.Graph.Initializer("fc.weight").F32[i] = w + 0.5*float32(math.Sin(float64(7*i)))
	}
	const n, sl = 37, 8 * 8
	d := &Dataset{N: n, C: 1, H: 8, W: 8, X: make([]float32, n*sl), Labels: make([]int64, n)}
	for i := range d.X {
		d.X[i] = 3 * float32(math.Sin(float64(i)*float64(i)*0.013))
	}
	for i := range d.Labels {
		d.Labels[i] = int64(i % 3)
	}
	opts := EvalOptions{Batch: 8}

	self, err := Compare(context.Background(), rt, m, m, d, opts)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := Evaluate(context.Background(), rt, m, d, opts)
	if err != nil {
		t.Fatal(err)
	}
	if self.Images != n || self.Agreement != 100 || !math.IsInf(self.OutputSQNR, 1) || self.MaxDiff != 0 ||
		self.Model == nil || *self.Model != acc.Accuracy || *self.Reference != acc.Accuracy {
		t.Errorf("a model against itself: %+v (accuracy %+v, %+v), want 100 %% agreement, +Inf dB, no difference, accuracy %+v",
			self, self.Model, self.Reference, acc.Accuracy)
	}

	// The two models' outputs, one run over all the images, for the figures by hand.
	outputs := func(model *ir.Model) []float32 {
		s, err := infer.New(rt, model, n)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		copy(s.Input(), d.X)
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		return slices.Clone(s.Output())
	}
	y, r := outputs(other), outputs(m)
	agree := 0
	var sig, noise, maxDiff float64
	for i := range n {
		if argmax(y[3*i:3*i+3]) == argmax(r[3*i:3*i+3]) {
			agree++
		}
	}
	for i := range y {
		diff := float64(y[i]) - float64(r[i])
		sig, noise, maxDiff = sig+float64(r[i])*float64(r[i]), noise+diff*diff, max(maxDiff, math.Abs(diff))
	}
	unlabelled := &Dataset{N: d.N, C: d.C, H: d.H, W: d.W, X: d.X}
	for _, src := range []*Dataset{d, unlabelled} {
		got, err := Compare(context.Background(), rt, other, m, src, opts)
		if err != nil {
			t.Fatal(err)
		}
		wantSQNR := 10 * math.Log10(sig/noise)
		if got.Images != n || got.Agreement != 100*float64(agree)/n || math.Abs(got.OutputSQNR-wantSQNR) > 1e-3 ||
			math.Abs(got.MaxDiff-maxDiff) > 1e-5 || (got.Model == nil) != (src.Labels == nil) {
			t.Errorf("labels %v: %+v, want %d images, agreement %.2f, SQNR %.4f dB, largest difference %.6f",
				src.Labels != nil, got, n, 100*float64(agree)/n, wantSQNR, maxDiff)
		}
		t.Logf("agreement %.2f %%, SQNR %.2f dB, largest difference %.4f", got.Agreement, got.OutputSQNR, got.MaxDiff)
	}
	if agree == 0 || agree == n {
		t.Errorf("the two models agree on %d of %d images: the test would not see an agreement miscounted", agree, n)
	}
}

// TestArgmax ranks as TopK does: the first of equal values, NaN last.
func TestArgmax(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		row  []float32
		want int
	}{
		{[]float32{1, 3, 2}, 1},
		{[]float32{2, 2, 1}, 0},
		{[]float32{nan, 1, 1}, 1},
		{[]float32{nan, nan}, 0},
		{[]float32{-1}, 0},
	}
	for _, tt := range tests {
		if got := argmax(tt.row); got != tt.want {
			t.Errorf("argmax(%v) = %d, want %d", tt.row, got, tt.want)
		}
	}
}
