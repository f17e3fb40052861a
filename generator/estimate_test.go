package generator

import (
	"context"
	"math"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
)

// EstimateSynthesis synthesises one round of the run's batches side by side, times steps
// after the first two, prices the whole run from them, and calls none of the run's
// callbacks.
func TestEstimateSynthesis(t *testing.T) {
	rt := orttest.Runtime(t) // one session thread per batch: two batches at once on 2 threads
	m := bundledModel(t)
	opts := Options{Images: 20, Batch: 4, Steps: 500, Seed: 1, Parallel: 2, SpillDir: t.TempDir() + "/spill",
		Progress: func(Progress) { t.Error("the run's Progress was called") }}
	e, images, err := EstimateSynthesis(context.Background(), rt, m, opts, 2)
	if err != nil {
		t.Fatal(err)
	}
	if e.Batches != 5 || e.Parallel != 2 || e.Rounds() != 3 || !(e.StepSeconds > 0) || !(e.RoundSeconds > 0) {
		t.Errorf("estimate %+v: want 5 batches, 2 at once (3 rounds), and the times measured", e)
	}
	if want := 3 * (e.RoundSeconds + 500*e.StepSeconds); math.Abs(e.Seconds(500)-want) > 1e-9*want {
		t.Errorf("Seconds(500) = %g, want %g", e.Seconds(500), want)
	}
	if images.N != 8 || len(images.Batches) != 2 || images.Batches[0].Steps != 4 || images.Batches[0].Generator == nil {
		t.Errorf("images: %d in %d batches (%+v): want one round, 2 batches of 4 images after 4 steps, with their generators", images.N, len(images.Batches), images.Batches)
	}
}
