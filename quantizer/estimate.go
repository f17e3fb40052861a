package quantizer

import (
	"context"

	"github.com/sharpq/sharpq/internal/steptime"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
)

// TimeEstimate is the cost of Quantize's work on one model with one set of options,
// measured by Estimate: Seconds gives the time of a run of any length on any number of
// calibration images.
type TimeEstimate struct {
	// Blocks is how many blocks the reconstruction goes through.
	Blocks int `json:"blocks"`
	// StepSeconds is one reconstruction step of every block: the sum over the blocks.
	StepSeconds float64 `json:"step_seconds"`
	// BlockStepSeconds is one step of each block, in reconstruction order.
	BlockStepSeconds []float64 `json:"block_step_seconds,omitempty"`
	// FixedSeconds is what grows neither with the steps nor with the images: the set-up
	// (folding, equalization, the clipping search, the activations of up to
	// Options.ActImages images), bias correction, export and the self-check.
	FixedSeconds float64 `json:"fixed_seconds"`
	// BiasSeconds is the part of FixedSeconds that bias correction took (0 without it).
	BiasSeconds float64 `json:"bias_seconds"`
	// ImageSeconds is, per calibration image, the passes that collect each block's inputs
	// (and the blocks' sessions, measured together with them).
	ImageSeconds float64 `json:"image_seconds"`
}

// StepSecondsFrom returns one reconstruction step of blocks first, first+1, …: what a run
// resumed with first blocks finished has left of each step.
func (e TimeEstimate) StepSecondsFrom(first int) float64 {
	sum := 0.0
	for _, s := range e.BlockStepSeconds[min(max(first, 0), len(e.BlockStepSeconds)):] {
		sum += s
	}
	return sum
}

// Seconds returns the estimated time of Quantize with iters reconstruction steps per block
// on images calibration images (iters 0: round-to-nearest, which has no reconstruction).
func (e TimeEstimate) Seconds(iters, images int) float64 {
	if iters == 0 {
		return e.FixedSeconds
	}
	return e.FixedSeconds + float64(images)*e.ImageSeconds + float64(iters)*e.StepSeconds
}

// Estimate runs Quantize as o describes but with steps+2 reconstruction steps per block
// (steps ≤ 0 means 3) and times it: each block's last steps steps (the first two create its
// session and lay out its memory, and count as time outside the steps) and the rest of the
// run. It writes nothing: o.WorkDir, o.Resume, o.Log and o.Recon's progress and checkpoint
// callbacks are not used. The images are the calibration images Quantize would take, or as
// many of them as the caller wants to spend on the estimate: the passes over them are timed
// per image. The Result is that of the short run.
func Estimate(ctx context.Context, rt *ort.Runtime, m *ir.Model, images []float32, n int, o Options, steps int) (TimeEstimate, *Result, error) {
	if steps <= 0 {
		steps = 3
	}
	o.WorkDir, o.Resume, o.Log = "", false, nil
	o.Recon.Resume, o.Recon.Checkpoint = nil, nil
	rtn := o.Recon.Iters == 0
	if !rtn {
		o.Recon.Iters, o.Recon.ProgressEvery = steptime.Skip+steps, 1
	}
	clocks := map[int]*steptime.Clock{}
	o.Recon.Progress = func(p ReconProgress) {
		if clocks[p.Block] == nil {
			clocks[p.Block] = steptime.New(steps)
		}
		clocks[p.Block].Done(p.Step)
	}
	res, err := Quantize(ctx, rt, m, images, n, o)
	if err != nil {
		return TimeEstimate{}, nil, err
	}
	e := TimeEstimate{Blocks: len(res.Blocks)}
	if !rtn {
		e.BlockStepSeconds = make([]float64, len(res.Blocks))
	}
	for b, c := range clocks {
		e.StepSeconds += c.PerStep()
		if b < len(e.BlockStepSeconds) {
			e.BlockStepSeconds[b] = c.PerStep()
		}
	}
	for _, st := range res.Stages {
		switch st.Name {
		case "reconstruction":
			e.ImageSeconds = max(0, st.Seconds-float64(steptime.Skip+steps)*e.StepSeconds) / float64(n)
		case "bias correction":
			e.BiasSeconds = st.Seconds
			e.FixedSeconds += st.Seconds
		default:
			e.FixedSeconds += st.Seconds
		}
	}
	if rtn {
		e.Blocks = 0
	}
	return e, res, nil
}
