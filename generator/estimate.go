package generator

import (
	"context"
	"time"

	"github.com/sharpq/sharpq/internal/steptime"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
)

// SynthesisEstimate is how long Synthesize with one set of Options would take, measured by
// EstimateSynthesis.
type SynthesisEstimate struct {
	// Batches is the run's number of batches, Parallel how many it synthesises at once.
	Batches, Parallel int
	// Uneven is set when the last batch is smaller than the others, which needs a graph and
	// session of its own.
	Uneven bool
	// StepSeconds is one step of Parallel batches at once.
	StepSeconds float64
	// SetupSeconds is the time to build the graphs and sessions and, in the first steps, lay
	// out their memory: paid once by the batches of one size (each worker keeps its session
	// from batch to batch).
	SetupSeconds float64
	// RoundSeconds is, per round of Parallel batches, the rest of the time outside the steps:
	// the new generators, the final pass and the copies of the trained ones.
	RoundSeconds float64
}

// Rounds returns how many times the run synthesises Parallel batches at once.
func (e SynthesisEstimate) Rounds() int { return (e.Batches + e.Parallel - 1) / max(e.Parallel, 1) }

// Setups returns how many times the run waits for graphs and sessions to be built: once, and
// again for an uneven last batch that has to wait for a worker's earlier batch (one that runs
// beside the first batches is built beside them).
func (e SynthesisEstimate) Setups() int {
	switch {
	case e.Batches == 0:
		return 0
	case e.Uneven && e.Batches > e.Parallel:
		return 2
	}
	return 1
}

// OtherSeconds returns the estimated time of the run outside its steps.
func (e SynthesisEstimate) OtherSeconds() float64 {
	return float64(e.Setups())*e.SetupSeconds + float64(e.Rounds())*e.RoundSeconds
}

// Seconds returns the estimated time of the run with steps steps per batch.
func (e SynthesisEstimate) Seconds(steps int) float64 {
	return e.OtherSeconds() + float64(e.Rounds()*steps)*e.StepSeconds
}

// EstimateSynthesis synthesises one round of the batches Synthesize(ctx, rt, model, opts)
// would run at once, with steps+2 steps each (steps ≤ 0 means 3), and times the last steps
// steps (the first two create the sessions and lay out memory; they count as the set-up).
// opts.Steps only counts the run's steps; opts.Resume, opts.Checkpoint, opts.SpillDir and
// opts.Progress are not used, so nothing is written. The images are the round's, with their
// generators unless opts.DiscardGenerators.
func EstimateSynthesis(ctx context.Context, rt *ort.Runtime, model *ir.Model, opts Options, steps int) (SynthesisEstimate, *Images, error) {
	if steps <= 0 {
		steps = 3
	}
	e := SynthesisEstimate{Batches: (opts.Images + opts.Batch - 1) / max(opts.Batch, 1), Parallel: opts.Workers(rt),
		Uneven: opts.Batch > 0 && opts.Images%opts.Batch != 0}
	opts.Images = min(opts.Images, e.Parallel*opts.Batch)
	opts.Steps = steptime.Skip + steps
	opts.Resume, opts.Checkpoint, opts.SpillDir = nil, nil, ""
	clock := steptime.New(steps)
	opts.Progress = func(p Progress) {
		if p.Batch == 0 {
			clock.Done(p.Step)
		}
	}
	t0 := time.Now()
	images, err := Synthesize(ctx, rt, model, opts)
	if err != nil {
		return e, nil, err
	}
	e.StepSeconds = clock.PerStep()
	e.SetupSeconds = max(0, clock.Warm().Sub(t0).Seconds()-steptime.Skip*e.StepSeconds)
	e.RoundSeconds = max(0, time.Since(t0).Seconds()-e.SetupSeconds-float64(opts.Steps)*e.StepSeconds)
	return e, images, nil
}
