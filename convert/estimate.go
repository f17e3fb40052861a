package convert

import (
	"context"
	"fmt"
	"time"

	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/internal/checkpoint"
	"github.com/sharpq/sharpq/internal/steptime"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/quantizer"
)

// TimeEstimate is how long a Run with the same Options would take on the same machine,
// extrapolated from a few timed steps of each of its stages.
type TimeEstimate struct {
	Device  string `json:"device"`           // execution provider: "cpu" or "cuda"
	Threads int    `json:"threads"`          // intra-op threads per ONNX Runtime session
	Method  string `json:"method,omitempty"` // empty for an estimate of the quantizer or the generator alone
	Preset  string `json:"preset"`           // the schedule's or preset's name
	// Stages are named as Report.Stages names them, in the order Run runs them.
	Stages  []StageEstimate `json:"stages"`
	Seconds float64         `json:"seconds"` // the whole run, or with Resumed what it has left
	// Resumed is set when Options.Resume found the run's progress in Options.WorkDir: each
	// stage's Done units are finished there, and Seconds counts what the run has left.
	Resumed bool `json:"resumed,omitempty"`
	// Measured is how long the estimate itself took.
	Measured float64 `json:"measured_seconds"`
}

// StageEstimate is one stage of a TimeEstimate.
type StageEstimate struct {
	Name string `json:"name"` // "generate", "warm-up reconstruction", "refine" or "reconstruct+export"
	// Units are the stage's batches (generation, refinement) or blocks (reconstruction), each
	// of Steps steps; Parallel of them run at once. Done of them are finished in the work
	// folder of a resumed run, and Seconds leaves their steps out.
	Units    int `json:"units"`
	Done     int `json:"done,omitempty"` // units already finished in a resumed run's work folder
	Steps    int `json:"steps"`          // steps per unit
	Parallel int `json:"parallel"`       // units run at once
	// StepSeconds is the measured time of one step: of Parallel batches at once
	// (generation), of one batch (refinement), or of every block once (reconstruction: the
	// sum of the blocks' steps).
	StepSeconds float64 `json:"step_seconds"`
	// OtherSeconds is the stage's time outside its steps: sessions, the clipping search,
	// the passes over the images that collect each block's inputs, export and self-check.
	OtherSeconds float64 `json:"other_seconds"`
	// SetupSeconds is the part of OtherSeconds that generation and refinement spend once,
	// not per batch: building their graphs and sessions and laying out memory.
	SetupSeconds float64 `json:"setup_seconds,omitempty"`
	Seconds      float64 `json:"seconds"` // the stage's estimated time, or with Done what it has left
}

// DefaultEstimateSteps is how many steps of each stage Estimate times when asked for 0.
const DefaultEstimateSteps = 3

// Estimate checks o as Run does (a setting Run refuses, Estimate refuses with the same
// error) and predicts how long Run(ctx, o) would take here, without running it: it
// synthesises one round of the generation batches Run runs at once, reconstructs every
// block of the quantized model on those images and refines one of their batches, each for
// steps+2 steps (steps 0 means DefaultEstimateSteps). The first two steps of each are not
// timed as steps (they create the sessions, lay out memory and, on CUDA, search convolution
// algorithms, at several times a steady step's cost) but as the stage's time outside its
// steps, which is measured whole and, for the passes over the calibration images, scaled to
// the run's number of images. Estimate writes nothing: o.ImagesReady and the progress
// callbacks are not used, and with o.Resume it reads the progress o.WorkDir holds for this
// run (refusing another run's folder with ErrOtherRun, as Run does) and predicts what the
// resumed run has left: the finished batches and blocks' steps are not counted (each
// reconstruction's set-up, export and self-check are, as the resumed run repeats them, but
// not the warm-up once the refined images are saved). It
// takes about as long as steps+2 steps of every stage: half a minute for a 32×32 model on this
// project's 2-core machine, minutes for a 224×224 one.
func Estimate(ctx context.Context, o Options, steps int) (*TimeEstimate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := o.settle(); err != nil {
		return nil, err
	}
	rt, err := openRuntime(o)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	return estimate(ctx, rt, o, steps)
}

// estimate times the stages of the run o (settled) asks for, k steps each.
func estimate(ctx context.Context, rt *ort.Runtime, o Options, k int) (*TimeEstimate, error) {
	if k < 0 {
		return nil, fmt.Errorf("convert: estimate: %d steps: want 0 or more", k)
	}
	if k == 0 {
		k = DefaultEstimateSteps
	}
	start := time.Now()
	gen, _, err := prepare(rt, &o)
	if err != nil {
		return nil, err
	}
	s, logf := o.Schedule, o.Log
	est := &TimeEstimate{Device: rt.Device(), Threads: rt.Threads(), Method: string(o.Method), Preset: s.Name}

	gen.DiscardGenerators = o.Method == GENIE
	logf("estimate: %d generation steps of %d batch(es) of %d at once", steptime.Skip+k, gen.Workers(rt), s.GenBatch)
	ge, images, err := generator.EstimateSynthesis(ctx, rt, o.Model, gen, k)
	if err != nil {
		return nil, err
	}
	batches := ge.Batches
	generate := StageEstimate{Name: "generate", Units: batches, Steps: s.GenSteps, Parallel: ge.Parallel, StepSeconds: ge.StepSeconds,
		OtherSeconds: ge.OtherSeconds(), SetupSeconds: float64(ge.Setups()) * ge.SetupSeconds, Seconds: ge.Seconds(s.GenSteps)}

	logf("estimate: %d reconstruction steps of every block on %d images", steptime.Skip+k, images.N)
	qo := o.quantizerOptions(o.reconOptions(steptime.Skip+k), true)
	qe, res, err := quantizer.Estimate(ctx, rt, o.Model, images.Data, images.N, qo, k)
	if err != nil {
		return nil, fmt.Errorf("convert: estimate: %w", err)
	}
	reconstruction := func(name string, iters, n int, final bool) StageEstimate {
		other := qe.Seconds(iters, n) - float64(iters)*qe.StepSeconds
		if !final {
			other -= qe.BiasSeconds
		}
		return StageEstimate{Name: name, Units: qe.Blocks, Steps: iters, Parallel: 1, StepSeconds: qe.StepSeconds,
			OtherSeconds: other, Seconds: other + float64(iters)*qe.StepSeconds}
	}

	est.Stages = append(est.Stages, generate)
	if o.Method == SADAG {
		est.Stages = append(est.Stages, reconstruction("warm-up reconstruction", s.WarmUpIters, s.Images, false))
		b := images.Batches[0]
		sz := images.C * images.H * images.W
		one := &generator.Images{N: b.Len, C: images.C, H: images.H, W: images.W, Data: images.Data[:b.Len*sz], Batches: images.Batches[:1]}
		ro := o.refineOptions(steptime.Skip + k)
		refineClock := steptime.New(k)
		ro.Progress = func(p generator.Progress) { refineClock.Done(p.Step) }
		logf("estimate: %d refinement steps of a batch of %d", steptime.Skip+k, b.Len)
		t0 := time.Now()
		if _, err := generator.Refine(ctx, rt, o.Model, res.Simulated, one, ro); err != nil {
			return nil, fmt.Errorf("convert: estimate: refine: %w", err)
		}
		step := refineClock.PerStep()
		// One refiner serves every batch of a size: its set-up is paid once (twice with an
		// uneven last batch). Each batch adds two passes of the whole graph to its steps, one
		// before them for the neighbours' first direction and one after them for the final
		// images and features, each about a step's time; the first batch's slower first
		// passes count as set-up.
		perBatch := 2 * step
		setup := max(0, time.Since(t0).Seconds()-float64(steptime.Skip+k)*step-perBatch)
		if ge.Uneven && batches > 1 {
			setup *= 2
		}
		other := setup + float64(batches)*perBatch
		est.Stages = append(est.Stages, StageEstimate{Name: "refine", Units: batches, Steps: s.RefineSteps, Parallel: 1, StepSeconds: step,
			OtherSeconds: other, SetupSeconds: setup, Seconds: other + float64(batches*s.RefineSteps)*step})
	}
	n := s.Images
	if o.Mirror {
		n *= 2
	}
	est.Stages = append(est.Stages, reconstruction("reconstruct+export", s.ReconIters, n+o.Mixtures, true))
	if o.Resume && o.WorkDir != "" {
		done, err := savedProgress(o)
		if err != nil {
			return nil, err
		}
		if done != nil {
			est.Resumed = true
			leaveOut(est.Stages, done, ge, qe)
		}
	}
	for _, st := range est.Stages {
		est.Seconds += st.Seconds
	}
	est.Measured = time.Since(start).Seconds()
	return est, nil
}

// progress is what a work folder holds of a run: the units each stage has finished.
type progress struct {
	generated, refined      int // batches
	warmedUp, reconstructed int // blocks
	refineDone              bool
}

// savedProgress reads the progress o.WorkDir holds for the run o describes (nil for a folder
// without a run), writing nothing.
func savedProgress(o Options) (*progress, error) {
	key, err := runKey(o)
	if err != nil {
		return nil, err
	}
	cp, err := checkpoint.Peek(o.WorkDir, key)
	if err != nil || cp == nil {
		return nil, err
	}
	var p progress
	var images generator.Images
	if _, err := cp.Load("generate", &images); err != nil {
		return nil, err
	}
	p.generated = len(images.Batches)
	for name, blocks := range map[string]*int{"warmup": &p.warmedUp, "reconstruct": &p.reconstructed} {
		var st quantizer.ReconState
		if _, err := cp.Load(name, &st); err != nil {
			return nil, err
		}
		*blocks = st.Blocks
	}
	var refined generator.Images
	if p.refineDone, err = cp.Load("refine", &refined); err != nil {
		return nil, err
	}
	if !p.refineDone {
		var part generator.RefineState
		if _, err := cp.Load("refine-batches", &part); err != nil {
			return nil, err
		}
		p.refined = len(part.Images.Batches)
	}
	return &p, nil
}

// leaveOut takes the units done finished out of the stages' times: the finished batches of
// generation and refinement, and the steps of the finished blocks of each reconstruction
// (whose time outside the steps stays: a resumed run sets it up, exports and checks again),
// and the whole warm-up once refinement is finished.
func leaveOut(stages []StageEstimate, done *progress, ge generator.SynthesisEstimate, qe quantizer.TimeEstimate) {
	for i := range stages {
		st := &stages[i]
		switch st.Name {
		case "generate":
			st.Done = min(done.generated, st.Units)
			left := ge
			left.Batches = st.Units - st.Done
			st.OtherSeconds = left.OtherSeconds()
			st.SetupSeconds = float64(left.Setups()) * left.SetupSeconds
			st.Seconds = left.Seconds(st.Steps)
		case "refine":
			st.Done = min(done.refined, st.Units)
			if done.refineDone {
				st.Done = st.Units
			}
			perBatch := (st.OtherSeconds - st.SetupSeconds) / float64(max(st.Units, 1))
			left := st.Units - st.Done
			if left == 0 {
				st.SetupSeconds = 0
			}
			st.OtherSeconds = st.SetupSeconds + float64(left)*perBatch
			st.Seconds = st.OtherSeconds + float64(left*st.Steps)*st.StepSeconds
		case "warm-up reconstruction", "reconstruct+export":
			blocks := done.warmedUp
			if st.Name == "reconstruct+export" {
				blocks = done.reconstructed
			}
			st.Done = min(blocks, st.Units)
			st.Seconds = st.OtherSeconds + float64(st.Steps)*qe.StepSecondsFrom(st.Done)
			if st.Name == "warm-up reconstruction" && done.refineDone {
				// A resumed run skips the warm-up once the refined images are saved.
				st.Done, st.OtherSeconds, st.Seconds = st.Units, 0, 0
			}
		}
	}
}
