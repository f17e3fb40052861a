package quantizer

import (
	"testing"

	"github.com/sharpq/sharpq/testmodels"
)

// The model, the images and every keyed setting change the key; logging and metadata do not.
func TestRunKey(t *testing.T) {
	images := make([]float32, 2*3*8*8)
	for i := range images {
		images[i] = float32(i%7) / 7
	}
	type run struct {
		o      Options
		seed   int // of the model
		images []float32
		n      int
	}
	base := func() run {
		return run{Options{Bits: DefaultBits(4, 4), Recon: ReconOptions{Iters: 10, Rounding: AdaRound}}, 1, images, 2}
	}
	key := func(r run) string {
		t.Helper()
		k, err := runKey(r.o, testmodels.TinyResNet(uint64(r.seed)), r.images, r.n)
		if err != nil {
			t.Fatal(err)
		}
		return k.Key()
	}
	want := key(base())
	otherImages := append([]float32(nil), images...)
	otherImages[len(otherImages)-1] += 1e-6
	tests := []struct {
		name string
		edit func(*run)
		same bool
	}{
		{"model", func(r *run) { r.seed = 2 }, false},
		{"one image value", func(r *run) { r.images = otherImages }, false},
		{"image count", func(r *run) { r.n = 1 }, false},
		{"bits", func(r *run) { r.o.Bits.Activation = 2 }, false},
		{"float residual", func(r *run) { r.o.FloatResidual = true }, false},
		{"activation images", func(r *run) { r.o.ActImages = 1 }, false},
		{"bias correction", func(r *run) { r.o.BiasCorrection = true }, false},
		{"steps", func(r *run) { r.o.Recon.Iters = 11 }, false},
		{"rounding rate", func(r *run) { r.o.Recon.LRRound = 3e-3 }, false},
		{"QDrop", func(r *run) { r.o.Recon.QDrop = 1 }, false},
		{"seed", func(r *run) { r.o.Recon.Seed = 1 }, false},
		{"AdaRound by its empty name", func(r *run) { r.o.Recon.Rounding = "" }, true},
		{"log and metadata", func(r *run) { r.o.Log = t.Logf; r.o.Metadata = nil }, true},
		{"progress", func(r *run) { r.o.Recon.ProgressEvery = 5; r.o.Recon.Progress = func(ReconProgress) {} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.edit(&r)
			if got := key(r); (got == want) != tt.same {
				t.Errorf("same key = %v, want %v", got == want, tt.same)
			}
		})
	}
}
