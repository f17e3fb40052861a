package generator

import (
	"context"
	"math"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
)

// EstimateSynthesis synthesises one round of the run's batches side by side, times steps
// after the first two, prices the whole run from them (the sessions built once), and calls
// none of the run's callbacks; Setups counts a second set-up for an uneven last batch only
// when it waits for a worker.
func TestEstimateSynthesis(t *testing.T) {
	rt := orttest.Runtime(t) // one session thread per batch: two batches at once on 2 threads
	m := bundledModel(t)
	opts := Options{Images: 20, Batch: 4, Steps: 500, Seed: 1, Parallel: 2, SpillDir: t.TempDir() + "/spill",
		Progress: func(Progress) { t.Error("the run's Progress was called") }}
	e, images, err := EstimateSynthesis(context.Background(), rt, m, opts, 2)
	if err != nil {
		t.Fatal(err)
	}
	if e.Batches != 5 || e.Parallel != 2 || e.Rounds() != 3 || e.Uneven || !(e.StepSeconds > 0) || !(e.SetupSeconds > 0) || !(e.RoundSeconds > 0) {
		t.Errorf("estimate %+v: want 5 batches, 2 at once (3 rounds), all of 4 images, and the times measured", e)
	}
	// The sessions are built once; each round makes its generators and runs its final pass.
	if want := e.SetupSeconds + 3*(e.RoundSeconds+500*e.StepSeconds); math.Abs(e.Seconds(500)-want) > 1e-9*want {
		t.Errorf("Seconds(500) = %g, want %g", e.Seconds(500), want)
	}
	if images.N != 8 || len(images.Batches) != 2 || images.Batches[0].Steps != 4 || images.Batches[0].Generator == nil {
		t.Errorf("images: %d in %d batches (%+v): want one round, 2 batches of 4 images after 4 steps, with their generators", images.N, len(images.Batches), images.Batches)
	}
}

func TestSynthesisSetups(t *testing.T) {
	for _, c := range []struct {
		batches, parallel int
		uneven            bool
		want              int
	}{
		{0, 2, false, 0},
		{1, 2, true, 1},
		{2, 2, true, 1}, // the smaller batch is built beside the first
		{3, 2, false, 1},
		{3, 2, true, 2},
		{8, 1, true, 2},
	} {
		e := SynthesisEstimate{Batches: c.batches, Parallel: c.parallel, Uneven: c.uneven}
		if got := e.Setups(); got != c.want {
			t.Errorf("%d batches, %d at once, uneven %v: %d set-ups, want %d", c.batches, c.parallel, c.uneven, got, c.want)
		}
	}
}
