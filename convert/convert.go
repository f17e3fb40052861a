// Package convert is sharpq's whole pipeline as a library: from a float ONNX model and
// nothing else to a low-bit QDQ ONNX model. It synthesises calibration images (GENIE), refines
// them against a warm-up quantized model (SADAG), reconstructs the quantizer block by block
// (GENIE-M), exports QDQ and self-checks it in ONNX Runtime. No real image is read.
package convert

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/internal/checkpoint"
	"github.com/sharpq/sharpq/internal/english"
	"github.com/sharpq/sharpq/internal/version"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/quantizer"
)

// Method is how calibration images are made.
type Method string

// Methods.
const (
	SADAG Method = "sadag" // GENIE synthesis refined by sharpness-aware gradient matching
	GENIE Method = "genie" // GENIE synthesis alone
)

// Schedule is everything a preset fixes. Start from a preset (Quick, Fast, Paper) and change
// its fields: a Schedule written out from nothing has Swing off and no Name, and Run calls it
// "custom".
type Schedule struct {
	// Name is the preset's name, written to the model's metadata and the report.
	Name        string
	Images      int // synthetic images
	GenBatch    int // images per generator
	GenSteps    int // GENIE steps per batch
	WarmUpIters int // SADAG's warm-up reconstruction steps per block
	RefineSteps int // SADAG refinement steps per batch
	ReconIters  int // final reconstruction steps per block
	ReconBatch  int // images per reconstruction step (0 = the paper's 32)
	ActImages   int // images that initialise activation steps
	// Swing shifts each strided convolution's input by a random pixel or two at every
	// generation step (GENIE's swing convolution); every preset has it on.
	Swing bool
	// RefineLRScale multiplies the refinement's learning rates (latents 1e-5, generator
	// 1e-4); 0 is 1, the paper's rates. RefineSteps 0 turns refinement off.
	RefineLRScale float64
	// RefineCurrentDirection takes the neighbour direction from a first pass at each step's
	// parameters (DESIGN.md's reading; twice the refinement's cost) instead of the step before.
	RefineCurrentDirection bool
	RoundWeight            float64 // λ of the rounding regulariser (0 = quantizer's default)
	LRActStep              float64 // activation steps' learning rate (0 = quantizer's default)
	LRBias                 float64 // biases' learning rate (0 = biases are not learned)
	// Rounding is the reconstructions' rounding when Options.Rounding is "" ("" = AdaRound).
	// Omitted from JSON when "" so that work folders keyed before it existed still resume.
	Rounding quantizer.Rounding `json:",omitempty"`
}

// Paper returns DESIGN.md's schedule (a GPU job). Presets are functions, not variables, so
// that no caller can change what another one gets.
func Paper() Schedule {
	return Schedule{Name: "paper", Images: 1024, GenBatch: 128, GenSteps: 4000, WarmUpIters: 4000, RefineSteps: 500, ReconIters: 20000, ReconBatch: 32, ActImages: 256, Swing: true, RefineLRScale: 1}
}

// Fast returns the schedule peers.md ran GENIE's own PyTorch code with on this kind of
// machine (256 images × 500 generation steps, 2000 reconstruction steps per block), with a
// short SADAG warm-up and refinement.
func Fast() Schedule {
	return Schedule{Name: "fast", Images: 256, GenBatch: 128, GenSteps: 500, WarmUpIters: 200, RefineSteps: 100, ReconIters: 2000, ReconBatch: 32, ActImages: 256, Swing: true, RefineLRScale: 1}
}

// Quick returns a short CPU schedule, about a third of Fast's time: fewer generation and
// refinement steps (the refinement's generator rate has decayed to 0.13 of its start by
// step 40) and 500 FlexRound steps per block, which matched 2000 AdaRound steps on the
// ResNets (BENCHMARKS.md, "The quick convert preset").
func Quick() Schedule {
	return Schedule{Name: "quick", Images: 256, GenBatch: 128, GenSteps: 200, WarmUpIters: 100, RefineSteps: 40, ReconIters: 500, ReconBatch: 32, ActImages: 256, Swing: true, RefineLRScale: 1, Rounding: quantizer.FlexRound}
}

// The largest synthetic set and generator batch a Schedule may ask for.
const (
	maxImages   = 1 << 24
	maxGenBatch = 1 << 16
)

// Validate reports the first setting of s that cannot be run, as an option.Error named
// Schedule.Field.
func (s Schedule) Validate() error {
	for _, c := range []struct {
		name string
		v    int
		min  int
	}{
		{"Schedule.Images", s.Images, 1}, {"Schedule.GenBatch", s.GenBatch, 1},
		{"Schedule.GenSteps", s.GenSteps, 0}, {"Schedule.WarmUpIters", s.WarmUpIters, 0},
		{"Schedule.RefineSteps", s.RefineSteps, 0}, {"Schedule.ReconIters", s.ReconIters, 0},
		{"Schedule.ReconBatch", s.ReconBatch, 0}, {"Schedule.ActImages", s.ActImages, 0},
	} {
		if c.v < c.min {
			return option.Errorf(c.name, "%s = %d: want %d or more", c.v, c.min)
		}
	}
	// Beyond any machine, and where the memory estimate's arithmetic would overflow.
	if s.Images > maxImages {
		return option.Errorf("Schedule.Images", "%s = %d: want at most %d", s.Images, maxImages)
	}
	if s.GenBatch > maxGenBatch {
		return option.Errorf("Schedule.GenBatch", "%s = %d: want at most %d", s.GenBatch, maxGenBatch)
	}
	if s.RefineLRScale < 0 || math.IsNaN(s.RefineLRScale) || math.IsInf(s.RefineLRScale, 0) {
		return option.Errorf("Schedule.RefineLRScale", "%s = %g: want a positive, finite factor (or 0 for 1, the paper's rates)", s.RefineLRScale)
	}
	return nil
}

// ScheduleByName returns the preset called name.
func ScheduleByName(name string) (Schedule, error) {
	switch name {
	case "paper":
		return Paper(), nil
	case "fast":
		return Fast(), nil
	case "quick":
		return Quick(), nil
	}
	return Schedule{}, option.Errorf("Schedule.Name", "%s %q: want fast, quick or paper", name)
}

// Options configures Run. The zero value of each field is its default.
type Options struct {
	// Model is the float model; Run does not change it.
	Model     *ir.Model
	ModelName string // for messages and metadata
	// Bits are the weights' and activations' bits (quantizer.DefaultBits for the paper's
	// 8-bit first and last layers).
	Bits quantizer.Bits
	// Symmetric: see quantizer.Options.
	Symmetric bool
	// AsymmetricActs and FloatResidual: see quantizer.Options.
	AsymmetricActs, FloatResidual bool
	// Equalize and EqualizeStreams: see quantizer.Options.
	Equalize, EqualizeStreams bool
	// ActClipNorm and ExportOpset: see quantizer.Options.
	ActClipNorm float64
	ExportOpset int64 // the QDQ model's default-domain opset (0 = quantizer.ExportOpsetFor's default)
	// BiasCorrection corrects the final model's biases on the calibration set (see
	// quantizer.Options); the warm-up model of SADAG's refinement is left as it is.
	BiasCorrection bool
	// Mirror adds each synthetic image's horizontal mirror to the final reconstruction's
	// calibration set (for models trained with random flips).
	Mirror bool
	// Mixtures adds this many convex mixtures of random pairs of the calibration images
	// (after the mirrors) to the final reconstruction's set (generator.Images.WithMixtures).
	Mixtures int
	// Rounding is how reconstruction (the warm-up and the final one) learns each weight's
	// integer; "" is the schedule's (AdaRound for Fast and Paper, FlexRound for Quick).
	Rounding quantizer.Rounding
	// Method makes the calibration images: SADAG (default) or GENIE alone.
	Method Method
	// Schedule is the run's length; the zero Schedule is Fast(). Start from a preset and
	// change its fields.
	Schedule Schedule
	// Seed fixes every random draw: the same seed, settings and threads give the same model.
	Seed uint64
	// GenParallel is how many generation batches run at once (generator.Options.Parallel;
	// 0 = its default: one per thread on CPU, one on CUDA).
	GenParallel int
	// Memory, when set, receives the estimate of the run's peak resident memory
	// (EstimateMemory) once the inputs are checked, before the long work starts.
	Memory func(Memory)
	// Version is sharpq's version for the metadata; "" is the module's version from the
	// build information, or "dev".
	Version string
	// Log receives one line per stage and periodic progress.
	Log func(format string, args ...any)
	// WorkDir, when set, is a folder where Run saves its progress after every generated
	// batch, refined batch and reconstructed block (and SADAG's generators until refinement
	// has read them), so that a stopped run can continue. A run without Resume clears the
	// progress an earlier run left there; files of other names are left alone.
	WorkDir string
	// Resume continues the run whose progress WorkDir holds, and ends as that run would have
	// uninterrupted. The folder must hold this run: the same model and the same settings
	// (runKey; not the device, threads or logging), else Run returns ErrOtherRun. A folder
	// without progress starts the run from the beginning.
	Resume bool
	// GenProgress and ReconProgress, when set, receive fine-grained progress.
	GenProgress   func(stage string, p generator.Progress)
	ReconProgress func(stage string, p quantizer.ReconProgress) // stage is "warmup" or "reconstruct"
	// ImagesReady, when set, receives the calibration images (before mirrors) as soon as
	// they are final, before the reconstruction: a long run's images can be looked at, or
	// taken elsewhere, while it goes on. An error stops the run.
	ImagesReady func(*generator.Images) error

	// ORTLibrary is the ONNX Runtime shared library; empty searches as ort.FindLibrary and
	// the sharpq command do ($SHARPQ_ORT_LIB; .ort/ in the working folder, the executable's
	// folder or a parent of either; the system's library folders). A process loads
	// one library at a time: Runs that overlap must name the same one. Loading it sets
	// ORT_DISABLE_TELEMETRY and ORT_TELEMETRY_DISABLED to 1 unless they are set (ort.Open).
	ORTLibrary string
	// Device is the execution provider, "cpu" (default) or "cuda".
	Device string
	// Threads is the intra-op threads per ONNX Runtime session (0 = one per core).
	Threads int
}

// Report is what Run measured.
type Report struct {
	Model  string `json:"model"`  // Options.ModelName
	Method string `json:"method"` // sadag or genie
	Preset string `json:"preset"` // the Schedule's Name ("custom" for one without)
	WBits  int    `json:"wbits"`  // default weight bits (Options.Bits.Weight)
	ABits  int    `json:"abits"`  // default activation bits (Options.Bits.Activation)
	Seed   uint64 `json:"seed"`   // Options.Seed
	// Rounding is as the sharpq.rounding metadata: adaround, flexround or nearest.
	Rounding string `json:"rounding"`
	// Images is the number of synthetic images (before mirrors and mixtures).
	Images int `json:"images"`
	// Stages are the run's timed parts in order: generate, warm-up reconstruction, refine,
	// reconstruct+export (GENIE has no warm-up or refinement).
	Stages  []quantizer.Stage `json:"stages"`
	Seconds float64           `json:"seconds"` // the whole run
	// GenLoss is each generated batch's BNS loss at its first and last step.
	GenLoss []BatchLoss `json:"generation"`
	// Refine is what SADAG's refinement did to each batch.
	Refine []RefineBatch `json:"refinement,omitempty"`
	// Blocks, Layers and SelfCheck are the final reconstruction's (quantizer.Result).
	Blocks    []quantizer.BlockResult `json:"blocks"`
	Layers    []quantizer.LayerReport `json:"layers"`     // per quantized layer: bits and SQNR
	SelfCheck quantizer.SelfCheck     `json:"self_check"` // the exported model checked in ONNX Runtime
	// BiasCorrection is what --bias-correct did (nil without it).
	BiasCorrection *quantizer.BiasReport `json:"bias_correction,omitempty"`
	// Quantized is the QDQ model, with o.Model's input layout: a channels-last model (an
	// [N, H, W, C] input read by a Transpose, as TensorFlow converters write Keras models)
	// gets that interface back.
	Quantized *ir.Model `json:"-"`
	// Synthetic holds the calibration images, NCHW whatever the model's layout.
	Synthetic *generator.Images `json:"-"`
	// Simulation is the float graph with fake quantizers the reconstruction optimised,
	// channels-first.
	Simulation *ir.Model `json:"-"`
}

// RefineBatch is what SADAG refinement did to one batch: its losses at the first step and
// after the last one's update (a pass of its own, so not the last step's progress figure),
// and how far its images moved.
type RefineBatch struct {
	FirstLoss float64 `json:"loss_first"` // total loss L_BN + λ1·L_GM + λ2·L_div at the first step
	Loss      float64 `json:"loss_last"`  // total loss after the last update
	BNS       float64 `json:"bns_last"`   // its BN-statistics part L_BN
	GM        float64 `json:"gm_last"`    // its gradient-matching part L_GM, unweighted
	Div       float64 `json:"div_last"`   // its diversity part L_div, unweighted
	// Change is RMS(refined − synthesised) / RMS(synthesised): how much the refinement
	// altered the batch's images.
	Change float64 `json:"image_change"`
	// DirCos is the mean cosine between the neighbour direction each step used (the step
	// before's latent gradient) and the step's own.
	DirCos float64 `json:"direction_cosine"`
	// Seconds is the batch's refinement time; SetupSeconds the part spent building its graph
	// and session (the first batch of a size; the others restart it).
	Seconds      float64 `json:"seconds"`
	SetupSeconds float64 `json:"setup_seconds"` // graph and session building, within Seconds
}

// BatchLoss is the BNS loss of one generated batch at its first and last step, and its time.
type BatchLoss struct {
	First float64 `json:"bns_first"` // BNS loss at the first step
	Last  float64 `json:"bns_last"`  // BNS loss of the returned images, after the last update
	// Seconds is the batch's synthesis time; SetupSeconds the part spent building its graph
	// and session (a worker's first batch of a size; its others restart it).
	Seconds      float64 `json:"seconds"`
	SetupSeconds float64 `json:"setup_seconds"` // graph and session building, within Seconds
}

// ErrOtherRun is returned (wrapped) when Options.Resume finds another run's progress in
// Options.WorkDir.
var ErrOtherRun = checkpoint.ErrOtherRun

// ErrNoBNStats is returned (wrapped) for models without BatchNormalization statistics.
var ErrNoBNStats = generator.ErrNoBNStats

// Run converts o.Model. It writes no output: the caller writes Report.Quantized
// (WriteModel) and the images where it wants, so a failure or a cancelled ctx leaves nothing
// behind. The files it does write are its own: progress in o.WorkDir, and SADAG's
// generators between synthesis and refinement, in the work folder or else in a temporary
// folder ($TMPDIR; about 9 MB per batch at 32×32, 400 MB at 224×224) removed before it
// returns.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Settings first: a bad one is reported even where ONNX Runtime cannot be loaded.
	if err := o.settle(); err != nil {
		return nil, err
	}
	rt, err := openRuntime(o)
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	return run(ctx, rt, o)
}

// openRuntime loads ONNX Runtime as o asks, once o has a model.
func openRuntime(o Options) (*ort.Runtime, error) {
	if o.Model == nil {
		return nil, errors.New("convert: no model")
	}
	// ort's errors name ort.Options.LibPath; the caller set Options.ORTLibrary.
	ortNames := option.Names{"Options.LibPath": "Options.ORTLibrary"}
	lib, err := ort.FindLibrary(o.ORTLibrary)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", ortNames.Rename(err))
	}
	rt, err := ort.Open(ort.Options{LibPath: lib, Device: o.Device, Threads: o.Threads})
	if err != nil {
		return nil, fmt.Errorf("convert: %w", ortNames.Rename(err))
	}
	return rt, nil
}

// WriteModel writes the quantized model to path, atomically (a temporary file renamed when
// complete).
func (r *Report) WriteModel(path string) error {
	if r == nil || r.Quantized == nil {
		return fmt.Errorf("convert: write %s: the report holds no quantized model", path)
	}
	return onnxio.Write(path, r.Quantized)
}

// Validate reports the first setting of o that Run would refuse, as an *option.Error named
// as Options spells it (Options.Method, Schedule.Images, Bits.Weight …), without loading ONNX
// Runtime or doing any of the work: an export step can check its configuration on a machine
// without the library.
func (o Options) Validate() error {
	return o.settle()
}

// settle fills in o's defaults and checks every setting that needs neither ONNX Runtime nor
// the long work.
func (o *Options) settle() error {
	if o.Model == nil {
		return errors.New("convert: no model")
	}
	if o.Method == "" {
		o.Method = SADAG
	}
	if o.Method != SADAG && o.Method != GENIE {
		return fmt.Errorf("convert: %w", option.Errorf("Options.Method", "%s = %q: want sadag or genie", o.Method))
	}
	if o.Schedule == (Schedule{}) {
		o.Schedule = Fast()
	} else if o.Schedule.Name == "" {
		o.Schedule.Name = "custom"
	}
	if err := o.Schedule.Validate(); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	if o.Version == "" {
		o.Version = version.Default()
	}
	if o.Rounding == "" {
		o.Rounding = o.Schedule.Rounding
	}
	// SADAG's losses compare the images of a batch with each other: a batch of one would
	// fail at refinement, after the whole generation.
	if s := o.Schedule; o.Method == SADAG && s.RefineSteps > 0 {
		switch {
		case s.GenBatch == 1:
			return fmt.Errorf("convert: %w", option.Errorf("Schedule.GenBatch", "%s = 1: SADAG refinement needs batches of 2 images or more"))
		case s.Images == 1:
			return fmt.Errorf("convert: %w", option.Errorf("Schedule.Images", "%s = 1: SADAG refinement needs batches of 2 images or more"))
		case s.Images%s.GenBatch == 1:
			return fmt.Errorf("convert: %w", option.Errorf("Schedule.Images", "%s = %d in batches of %d leaves a last batch of 1 image, and SADAG refinement needs 2 or more: use %d or %d", s.Images, s.GenBatch, s.Images-1, s.Images+1))
		}
	}
	if o.Mixtures < 0 {
		return fmt.Errorf("convert: %w", option.Errorf("Options.Mixtures", "%s = %d: want 0 or more mixtures", o.Mixtures))
	}
	if o.Resume && o.WorkDir == "" {
		return fmt.Errorf("convert: %w", option.Errorf("Options.Resume", "%s needs Options.WorkDir, the folder that holds the run's progress"))
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	// The quantizer's own settings, checked now rather than when the warm-up starts after
	// the whole generation; named as convert's API spells them.
	qo := quantizer.Options{Bits: o.Bits, ActClipNorm: o.ActClipNorm, ExportOpset: o.ExportOpset, Recon: quantizer.ReconOptions{Iters: o.Schedule.ReconIters,
		Batch: o.Schedule.ReconBatch, Rounding: o.Rounding, RoundWeight: o.Schedule.RoundWeight, LRActStep: o.Schedule.LRActStep, LRBias: o.Schedule.LRBias}}
	if err := qo.Validate(); err != nil {
		return fmt.Errorf("convert: %w", option.Names{"ReconOptions.Rounding": "Options.Rounding", "ReconOptions.RoundWeight": "Schedule.RoundWeight",
			"ReconOptions.LRActStep": "Schedule.LRActStep", "ReconOptions.LRBias": "Schedule.LRBias"}.Rename(err))
	}
	// The quantizer checks these too, but only after generation: minutes later.
	if err := quantizer.CheckExportOpset(o.Model, o.ExportOpset); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	for _, name := range slices.Sorted(maps.Keys(o.Bits.PerLayer)) {
		if !slices.ContainsFunc(o.Model.Graph.Nodes, func(n *ir.Node) bool {
			return n.Name == name && (n.OpType == "Conv" || n.OpType == "Gemm" || n.OpType == "MatMul")
		}) {
			return fmt.Errorf("convert: %w", option.Errorf(quantizer.PerLayerName(name), "%s: the model has no Conv, Gemm or MatMul called %q; sharpq inspect lists its quantizable layers", name))
		}
	}
	if err := ir.CheckFinite(o.Model.Graph); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	if err := quantizer.CheckFloat(o.Model); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	if err := quantizer.CheckTrainable(o.Model); err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	return nil
}

// prepare gives the settled o the channels-first model it works on and reports the memory
// estimate. It returns the synthesis options and whether the caller's model was
// channels-last.
func prepare(rt *ort.Runtime, o *Options) (gen generator.Options, channelsLast bool, err error) {
	model, channelsLast, err := channelsFirst(o.Model)
	if err != nil {
		return gen, false, err
	}
	o.Model = model
	s := o.Schedule
	gen = generator.Options{Images: s.Images, Batch: s.GenBatch, Steps: s.GenSteps, Seed: o.Seed, Swing: s.Swing, ModelName: o.ModelName, Parallel: o.GenParallel}
	if o.Memory != nil {
		if e, err := EstimateMemory(o.Model, s, o.Method, gen.Workers(rt)); err != nil {
			o.Log("memory: no estimate (%v)", err)
		} else {
			o.Memory(e)
		}
	}
	return gen, channelsLast, nil
}

// run does the conversion with o settled (Options.settle).
func run(ctx context.Context, rt *ort.Runtime, o Options) (*Report, error) {
	gen, channelsLast, err := prepare(rt, &o)
	if err != nil {
		return nil, err
	}
	logf := o.Log
	s := o.Schedule
	rep := &Report{Model: o.ModelName, Method: string(o.Method), Preset: s.Name, WBits: o.Bits.Weight, ABits: o.Bits.Activation, Seed: o.Seed,
		Rounding: quantizer.RoundingName(o.Rounding, s.ReconIters)}
	start := time.Now()
	stage := func(name string, t0 time.Time) {
		rep.Stages = append(rep.Stages, quantizer.Stage{Name: name, Seconds: time.Since(t0).Seconds()})
	}

	t0 := time.Now()
	if o.GenProgress != nil {
		gen.Progress = func(p generator.Progress) { o.GenProgress("generate", p) }
	}
	var cp *checkpoint.Folder
	if o.WorkDir != "" {
		key, err := runKey(o)
		if err != nil {
			return nil, err
		}
		if cp, err = checkpoint.Open(o.WorkDir, key, o.Resume); err != nil {
			return nil, err
		}
	}
	if o.Method == GENIE {
		// GENIE's images are final: the generators are not needed again.
		gen.DiscardGenerators = true
	} else {
		dir, remove, err := generatorFolder(cp)
		if err != nil {
			return nil, err
		}
		defer remove()
		gen.SpillDir = dir
	}
	var saved generator.Images
	if ok, err := cp.Load("generate", &saved); err != nil {
		return nil, err
	} else if ok {
		gen.Resume = &saved
		logf("generate: resuming after %s", english.Count(len(saved.Batches), "finished batch"))
	}
	if cp != nil {
		gen.Checkpoint = func(im *generator.Images) error { return cp.Save("generate", im) }
	}
	logf("generate: GENIE synthesis of %s (%s per batch of %d)", english.Count(s.Images, "image"), english.Count(s.GenSteps, "step"), s.GenBatch)
	images, err := generator.Synthesize(ctx, rt, o.Model, gen)
	if err != nil {
		return nil, err
	}
	for _, b := range images.Batches {
		rep.GenLoss = append(rep.GenLoss, BatchLoss{First: b.FirstBNS, Last: b.BNS, Seconds: b.Elapsed.Seconds(), SetupSeconds: b.Setup.Seconds()})
	}
	stage("generate", t0)
	logf("generate: done in %.0fs", time.Since(t0).Seconds())

	recon := func(name string, iters int) (quantizer.ReconOptions, error) {
		r := o.reconOptions(iters)
		if o.ReconProgress != nil {
			r.Progress = func(p quantizer.ReconProgress) { o.ReconProgress(name, p) }
		}
		if cp != nil {
			var st quantizer.ReconState
			ok, err := cp.Load(name, &st)
			if err != nil {
				return r, err
			}
			if ok {
				r.Resume = &st
				logf("%s: resuming after %s", name, english.Count(st.Blocks, "reconstructed block"))
			}
			r.Checkpoint = func(st quantizer.ReconState) error { return cp.Save(name, st) }
		}
		return r, nil
	}
	if o.Method == SADAG {
		synthesised := images
		var refined generator.Images
		refinedSaved, err := cp.Load("refine", &refined)
		if err != nil {
			return nil, err
		}
		t1 := time.Now()
		var warm *quantizer.Result
		if refinedSaved {
			// The warm-up's model serves the refinement alone.
			logf("warm-up: not needed, the refined images are in the checkpoint")
		} else {
			logf("warm-up: reconstruction on the GENIE images (%s per block)", english.Count(s.WarmUpIters, "step"))
			ro, err := recon("warmup", s.WarmUpIters)
			if err != nil {
				return nil, err
			}
			if warm, err = quantizer.Quantize(ctx, rt, o.Model, images.Data, images.N, o.quantizerOptions(ro, false)); err != nil {
				return nil, fmt.Errorf("convert: warm-up: %w", err)
			}
		}
		stage("warm-up reconstruction", t1)
		t2 := time.Now()
		refineOpts := o.refineOptions(s.RefineSteps)
		refineOpts.DropGenerators = true // only the images go on from here
		refineOpts.SpillDir = gen.SpillDir
		if o.GenProgress != nil {
			refineOpts.Progress = func(p generator.Progress) { o.GenProgress("refine", p) }
		}
		if refinedSaved {
			logf("refine: taken from the checkpoint")
			images = &refined
		} else {
			var part generator.RefineState
			if ok, err := cp.Load("refine-batches", &part); err != nil {
				return nil, err
			} else if ok {
				refineOpts.Resume = &part
				logf("refine: resuming after %s", english.Count(len(part.Images.Batches), "refined batch"))
			}
			if cp != nil {
				refineOpts.Checkpoint = func(st *generator.RefineState) error { return cp.Save("refine-batches", st) }
			}
			logf("refine: SADAG, %s per batch", english.Count(s.RefineSteps, "step"))
			images, err = generator.Refine(ctx, rt, o.Model, warm.Simulated, images, refineOpts)
			if err != nil {
				return nil, fmt.Errorf("convert: refine: %w", err)
			}
			if err := keepImagesOnly(cp, synthesised, images); err != nil {
				return nil, err
			}
		}
		rep.Refine = refineReport(synthesised, images)
		images = images.WithoutGenerators() // refinement was their last use
		for i, b := range rep.Refine {
			logf("refine: batch %d of %d: loss %.4g at the first step, %.4g after the last (L_GM %.4g, L_div %.4g), images changed by %.2f%% (RMS), direction cosine step to step %.3f", i+1, len(rep.Refine), b.FirstLoss, b.Loss, b.GM, b.Div, 100*b.Change, b.DirCos)
		}
		stage("refine", t2)
	}
	rep.Images = images.N
	rep.Synthetic = images
	if o.ImagesReady != nil {
		if err := o.ImagesReady(images); err != nil {
			return nil, err
		}
	}

	t3 := time.Now()
	calibration := images
	what := english.Count(images.N, "synthetic image")
	if o.Mirror {
		calibration = images.WithMirrors()
		what += " and their mirrors"
	}
	if o.Mixtures > 0 {
		calibration = calibration.WithMixtures(o.Mixtures, generator.MixtureRand(o.Seed))
		what += fmt.Sprintf(", %d mixtures of pairs", o.Mixtures)
	}
	logf("reconstruct: %s per block on %s", english.Count(s.ReconIters, "step"), what)
	meta := []ir.KeyValue{
		{Key: "sharpq.version", Value: o.Version},
		{Key: "sharpq.method", Value: string(o.Method) + " (data-free)"},
		{Key: "sharpq.preset", Value: s.Name},
		{Key: "sharpq.iters", Value: strconv.Itoa(s.ReconIters)},
		{Key: "sharpq.rounding", Value: quantizer.RoundingName(o.Rounding, s.ReconIters)},
		{Key: "sharpq.seed", Value: strconv.FormatUint(o.Seed, 10)},
		{Key: "sharpq.synthetic_images", Value: strconv.Itoa(images.N)},
		{Key: "sharpq.calibration_images", Value: strconv.Itoa(calibration.N)},
	}
	rf, err := recon("reconstruct", s.ReconIters)
	if err != nil {
		return nil, err
	}
	qo := o.quantizerOptions(rf, true)
	qo.Metadata = meta
	res, err := quantizer.Quantize(ctx, rt, o.Model, calibration.Data, calibration.N, qo)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("convert: final reconstruction: %w", err)
	}
	stage("reconstruct+export", t3)
	rep.Blocks, rep.Layers, rep.SelfCheck, rep.BiasCorrection = res.Blocks, res.Layers, res.Check, res.Bias
	rep.Quantized, rep.Simulation = res.QDQ, res.Simulated
	if channelsLast {
		if err := ir.ChannelsLastInput(rep.Quantized); err != nil {
			return nil, fmt.Errorf("convert: giving the quantized model its channels-last input back: %w", err)
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// refineOptions returns the settings of o's SADAG refinement with steps per batch.
func (o *Options) refineOptions(steps int) generator.RefineOptions {
	r := generator.RefinePaper()
	r.Steps = steps
	r.LRz *= o.Schedule.RefineLRScale
	r.LRg *= o.Schedule.RefineLRScale
	r.CurrentDirection = o.Schedule.RefineCurrentDirection
	r.ModelName = o.ModelName
	return r
}

// reconOptions returns the settings of a reconstruction of o with iters steps per block.
func (o *Options) reconOptions(iters int) quantizer.ReconOptions {
	s := o.Schedule
	return quantizer.ReconOptions{Iters: iters, Batch: s.ReconBatch, Seed: o.Seed, Rounding: o.Rounding, RoundWeight: s.RoundWeight, LRActStep: s.LRActStep, LRBias: s.LRBias}
}

// quantizerOptions returns the quantizer's options for one of o's reconstructions: SADAG's
// warm-up, or the final one, which corrects biases when o asks and logs.
func (o *Options) quantizerOptions(r quantizer.ReconOptions, final bool) quantizer.Options {
	q := quantizer.Options{Bits: o.Bits, Symmetric: o.Symmetric, AsymmetricActs: o.AsymmetricActs, FloatResidual: o.FloatResidual,
		Equalize: o.Equalize, EqualizeStreams: o.EqualizeStreams, ActClipNorm: o.ActClipNorm, Recon: r, ActImages: o.Schedule.ActImages}
	if final {
		q.BiasCorrection, q.Log, q.ExportOpset = o.BiasCorrection, o.Log, o.ExportOpset
	}
	return q
}

// channelsFirst returns m, or for a channels-last m a channels-first copy (ir.ChannelsFirstInput)
// and true: synthesis and calibration work channels-first, and m is the caller's.
func channelsFirst(m *ir.Model) (*ir.Model, bool, error) {
	g := m.Graph
	if len(g.Inputs) != 1 || len(g.Inputs[0].Shape) != 4 {
		return m, false, nil
	}
	for _, n := range g.Consumers()[g.Inputs[0].Name] {
		if n.OpType != "Transpose" {
			return m, false, nil // the usual case, without copying the model
		}
	}
	data, err := onnxio.Encode(m)
	if err != nil {
		return nil, false, fmt.Errorf("convert: %w", err)
	}
	c, err := onnxio.Decode(data, "")
	if err != nil {
		return nil, false, fmt.Errorf("convert: %w", err)
	}
	if !ir.ChannelsFirstInput(c) {
		return m, false, nil
	}
	return c, true, nil
}

// generatorFolder returns the folder where synthesis writes each batch's generator until
// refinement reads it back: generators/ in the work folder, so a resumed run refines from
// them, or else a temporary folder, which remove deletes.
func generatorFolder(cp *checkpoint.Folder) (dir string, remove func(), err error) {
	if cp != nil {
		return filepath.Join(cp.Dir(), checkpoint.Scratch), func() {}, nil
	}
	dir, err = os.MkdirTemp("", "sharpq-generators-")
	if err != nil {
		return "", nil, fmt.Errorf("convert: a folder for the generators: %w (set TMPDIR to a folder with room, or give the run a work folder)", err)
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// keepImagesOnly saves the refined images and drops the generators from the work folder: only
// refinement continues from them, and the paper preset's eight generators take about 100 MB
// at 32×32 (3.3 GB at 224×224), too much to carry a GPU run's folder to another machine. The
// refined state is written first, so a folder is consistent whenever the run stops.
func keepImagesOnly(cp *checkpoint.Folder, synthesised, refined *generator.Images) error {
	if err := cp.Save("refine", refined.WithoutGenerators()); err != nil {
		return err
	}
	if err := cp.Save("generate", synthesised.WithoutGenerators()); err != nil {
		return err
	}
	if err := cp.Remove("refine-batches"); err != nil {
		return err
	}
	if cp != nil {
		if err := os.RemoveAll(filepath.Join(cp.Dir(), checkpoint.Scratch)); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
	}
	return nil
}

// refineReport summarises each refined batch against the synthesised images it started from.
func refineReport(before, after *generator.Images) []RefineBatch {
	sz := after.C * after.H * after.W
	var out []RefineBatch
	for _, b := range after.Batches {
		lo, hi := b.Start*sz, (b.Start+b.Len)*sz
		var d2, x2 float64
		for i := lo; i < hi && i < len(before.Data); i++ {
			d := float64(after.Data[i]) - float64(before.Data[i])
			d2 += d * d
			x2 += float64(before.Data[i]) * float64(before.Data[i])
		}
		change := 0.0
		if x2 > 0 {
			change = math.Sqrt(d2 / x2)
		}
		out = append(out, RefineBatch{FirstLoss: b.FirstLoss, Loss: b.Loss, BNS: b.BNS, GM: b.GM, Div: b.Div, Change: change, DirCos: b.DirCos,
			Seconds: b.Elapsed.Seconds(), SetupSeconds: b.Setup.Seconds()})
	}
	return out
}
