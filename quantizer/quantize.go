package quantizer

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/version"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/ort"
)

// Preset is a named reconstruction schedule; Recon turns it into Options.Recon.
type Preset struct {
	Name  string // written to the model's metadata as sharpq.preset by the sharpq command
	Iters int    // reconstruction steps per block
	Batch int    // reconstruction minibatch
	// RoundWeight is λ of the rounding regulariser (0 = ReconOptions' default).
	RoundWeight float64
	// Rounding is how the preset learns each weight's integer ("" = AdaRound).
	Rounding Rounding
}

// PresetPaper returns DESIGN.md's schedule (a GPU job). Presets are functions, not
// variables, so that no caller can change what another one gets.
func PresetPaper() Preset { return Preset{Name: "paper", Iters: 20000, Batch: 32} }

// PresetFast returns the CPU schedule whose accuracy and time BENCHMARKS.md publishes.
func PresetFast() Preset { return Preset{Name: "fast", Iters: 2000, Batch: 32} }

// PresetQuick returns a schedule for iterating on settings with real calibration images:
// FlexRound converges in a tenth of AdaRound's steps (BENCHMARKS.md: W2A4 with 1024 real
// images, 200 steps per block, resnet20 93.13 and resnet18w16 93.47 against fast's 93.32 and
// 94.01). convert's quick preset (convert.Quick) gives FlexRound 500 steps: synthetic images
// want more.
func PresetQuick() Preset { return Preset{Name: "quick", Iters: 200, Batch: 32, Rounding: FlexRound} }

// Recon returns the reconstruction settings of p with seed: its steps, minibatch, rounding
// and regulariser, every other field at its default.
func (p Preset) Recon(seed uint64) ReconOptions {
	return ReconOptions{Iters: p.Iters, Batch: p.Batch, Seed: seed, RoundWeight: p.RoundWeight, Rounding: p.Rounding}
}

// PresetByName returns the preset called name.
func PresetByName(name string) (Preset, error) {
	switch name {
	case "paper":
		return PresetPaper(), nil
	case "fast":
		return PresetFast(), nil
	case "quick":
		return PresetQuick(), nil
	}
	return Preset{}, option.Errorf("Preset.Name", "%s %q: want fast, quick or paper", name)
}

// Options configures Quantize.
type Options struct {
	Bits      Bits // bit widths per layer (DefaultBits for the paper's 8-bit first and last layers)
	Symmetric bool // symmetric per-channel weights (default asymmetric)
	// AsymmetricActs quantizes activations that can be negative on an unsigned grid with a
	// zero point (default: a symmetric signed grid).
	AsymmetricActs bool
	// FloatResidual keeps the residual Adds on float values (see Plan.FloatResidual).
	FloatResidual bool
	// Recon sets block reconstruction; Recon.Iters == 0 means round-to-nearest after the
	// clipping search, without reconstruction.
	Recon ReconOptions
	// ActImages is how many calibration images initialise the activation steps (0 = 256; all
	// the images when there are fewer).
	ActImages int
	// ActClipNorm is the exponent p of the error Σ|x − q(x)|^p the activation clipping search
	// minimises; 0 means the paper's 2.4. 2 (mean squared error) clips more, which
	// MobileNetV2's 4-bit activations want (BENCHMARKS.md).
	ActClipNorm float64
	// Equalize applies cross-layer equalization after BN folding: MobileNet's
	// depthwise → 1×1 pairs get even channel ranges before anything is quantized.
	Equalize bool
	// EqualizeStreams rescales the channels of residual streams read only by convolutions
	// (equalizeStreams), measured on the first ActImages images: it helps round-to-nearest
	// (MobileNetV2 W3A3 by 12 points), not reconstruction (BENCHMARKS.md).
	EqualizeStreams bool
	// BiasCorrection shifts every quantized layer's bias, after reconstruction, so that its
	// outputs' mean per channel on the calibration images (up to 1024) matches the float
	// model's (correctBiases).
	BiasCorrection bool
	// ExportOpset is the default-domain opset of the exported model: 0 means QDQOpset (21) or
	// the model's own opset when that is later (ExportOpsetFor). 21 to ir.LatestOpset store
	// grids of 4 bits or fewer in int4/uint4; 13 to 20 store them in int8/uint8 behind a Clip
	// to the grid (the same values, twice the weight bytes), for runtimes without 4-bit types
	// (ONNX Runtime before 1.19). It cannot be below the model's own opset (13 for a model
	// raised from an older one).
	ExportOpset int64
	// Metadata is added to the exported model after what Quantize writes itself
	// (sharpq.bits, sharpq.version, sharpq.iters, sharpq.rounding, sharpq.seed,
	// sharpq.calibration_images), whose values a key given here replaces: give
	// sharpq.version, sharpq.method and sharpq.preset. The model's producer version is
	// sharpq.version's value.
	Metadata []ir.KeyValue
	// Log, when set, receives one line per stage.
	Log func(format string, args ...any)
	// WorkDir, when set, is a folder where Quantize saves the reconstruction's progress after
	// every block, so that a stopped run can continue. A run without Resume clears the
	// progress an earlier run left there; files of other names are left alone.
	WorkDir string
	// Resume continues the run whose progress WorkDir holds, and ends as that run would have
	// uninterrupted. The folder must hold this run: the same model, images and settings
	// (keyedSettings), else Quantize returns ErrOtherRun. A folder without progress starts
	// the run from the beginning.
	Resume bool
}

// Result is a quantized model and what making it measured.
type Result struct {
	QDQ       *ir.Model // the exported model
	Simulated *ir.Model // the fake-quant float model it must reproduce
	// Plan is every quantizer with its learned scale, step and bits.
	Plan *Plan
	// Blocks holds each reconstructed block's loss before and after, in order (none for
	// round-to-nearest).
	Blocks []BlockResult
	// Layers holds each quantized layer's bits and output SQNR against the float model.
	Layers []LayerReport
	// Check is the self-check of the exported model in ONNX Runtime.
	Check SelfCheck
	Bias  *BiasReport // nil unless Options.BiasCorrection
	// Stages are the run's timed parts, in the order they ran: init, reconstruction, bias
	// correction, export.
	Stages []Stage
}

// Stage is one timed part of a run.
type Stage struct {
	Name    string  `json:"name"`    // e.g. "init", "reconstruction", "export"
	Seconds float64 `json:"seconds"` // wall time of the part
}

// SelfCheck compares the exported QDQ model in ONNX Runtime with the simulation, and the
// quantized outputs with the float model's.
type SelfCheck struct {
	// Images is how many calibration images both models ran: the first Options.ActImages (256
	// by default), or all when there are fewer.
	Images int `json:"images"`
	// Agreement is the percentage (0–100) of them on which ONNX Runtime's QDQ model and the
	// simulation pick the same top-1 class, graph optimizations on.
	Agreement float64 `json:"top1_agreement"`
	// MaxLogitDiff is the largest difference of an output between the two.
	MaxLogitDiff float64 `json:"max_logit_diff"`
	// UnoptimizedMaxLogitDiff is the same difference with ONNX Runtime's graph optimizations
	// off in both models: float rounding (0 to ~1e-6) when the export reproduces the
	// simulation, a quantization step or more when it does not. With them on,
	// the two graphs get differently fused kernels that sum in another order, and an activation
	// within a rounding error of a quantization boundary can land on either side: MaxLogitDiff
	// is that noise, which grows with the number of activations.
	UnoptimizedMaxLogitDiff float64 `json:"max_logit_diff_unoptimized"`
	// UnoptimizedAgreement is the top-1 agreement (%) without graph optimizations: the export's
	// correctness, which the self-check requires. With optimizations on, a model whose top
	// logits lie within that noise of each other (random weights, a thousand classes) can
	// disagree on some images without anything being wrong.
	UnoptimizedAgreement float64 `json:"top1_agreement_unoptimized"`
	// FloatAgreement (%, as eval --reference's) and OutputSQNR compare the QDQ model with the
	// float model.
	FloatAgreement float64 `json:"float_top1_agreement"`
	// OutputSQNR is 10·log10 of the float outputs' power over the power of their difference
	// from the QDQ model's, in dB.
	OutputSQNR float64 `json:"output_sqnr_db"`
	// Collapsed is set when the QDQ model picks the float model's top-1 class on fewer than
	// half the calibration images: it has lost most of the float model's behaviour. Without
	// labelled images this is the only sign of it, so reports and JSON carry it.
	Collapsed bool `json:"collapsed"`
}

// collapsedBelow is the float top-1 agreement under which a quantized model counts as
// collapsed: a useful model agrees on most images, a collapsed one (a step driven to its
// floor, every layer at 2 bits with round-to-nearest) on about one in the number of classes.
const collapsedBelow = 50

// Validate checks the settings Quantize cannot use, before any work: the bit widths, the
// clipping norm, and the reconstruction's steps, minibatch, rates, rounding and QDrop
// probability. Errors are *option.Error named as the fields are (Options.ActClipNorm,
// ReconOptions.Rounding, …).
func (o Options) Validate() error {
	if err := o.Bits.Validate(); err != nil {
		return err
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	r := o.Recon
	switch {
	case o.ActClipNorm != 0 && !(o.ActClipNorm >= 1 && finite(o.ActClipNorm)):
		return fmt.Errorf("quantizer: %w", option.Errorf("Options.ActClipNorm", "%s = %g: want 0 (the paper's 2.4) or an exponent of 1 or more", o.ActClipNorm))
	case o.ActImages < 0:
		return fmt.Errorf("quantizer: %w", option.Errorf("Options.ActImages", "%s = %d: want 0 (256) or more images", o.ActImages))
	case exportOpsetRange(o.ExportOpset) != nil:
		return exportOpsetRange(o.ExportOpset)
	case r.Iters < 0:
		return fmt.Errorf("quantizer: %w", option.Errorf("ReconOptions.Iters", "%s = %d: want 0 (round-to-nearest) or more steps per block", r.Iters))
	case r.Batch < 0:
		return fmt.Errorf("quantizer: %w", option.Errorf("ReconOptions.Batch", "%s = %d: want 0 (32) or more images", r.Batch))
	case r.QDrop < 0 || r.QDrop > 1 || !finite(r.QDrop):
		return fmt.Errorf("quantizer: %w", option.Errorf("ReconOptions.QDrop", "%s = %g: want a probability, 0 (the paper's 0.5) to 1", r.QDrop))
	}
	for _, lr := range []struct {
		name string
		v    float64
	}{{"ReconOptions.LRWeightStep", r.LRWeightStep}, {"ReconOptions.LRActStep", r.LRActStep}, {"ReconOptions.LRRound", r.LRRound},
		{"ReconOptions.LRBias", r.LRBias}, {"ReconOptions.RoundWeight", r.RoundWeight}} {
		if lr.v < 0 || !finite(lr.v) {
			return fmt.Errorf("quantizer: %w", option.Errorf(lr.name, "%s = %g: want 0 (the default) or a positive, finite number", lr.v))
		}
	}
	if _, err := ParseRounding(string(r.Rounding)); err != nil {
		return fmt.Errorf("quantizer: %w", option.Errorf("ReconOptions.Rounding", "%s = %q: want %q or %q", r.Rounding, AdaRound, FlexRound))
	}
	return nil
}

// ExportOpsetFor is the default-domain opset m is exported at when opset is 0: QDQOpset, the
// first with 4-bit types, or m's own opset when that is later; any other opset is returned
// as it is.
func ExportOpsetFor(m *ir.Model, opset int64) int64 {
	if opset != 0 {
		return opset
	}
	return max(QDQOpset, m.Opset(""))
}

// CheckExportOpset checks that m can be exported at opset (0 meaning ExportOpsetFor's
// default): an opset from ir.BaseOpset to ir.LatestOpset, and not below the one m runs at,
// its own or, for an older model, ir.BaseOpset. The error is an *option.Error named
// Options.ExportOpset.
func CheckExportOpset(m *ir.Model, opset int64) error {
	if err := exportOpsetRange(opset); err != nil {
		return err
	}
	opset = ExportOpsetFor(m, opset)
	if own := max(m.Opset(""), ir.BaseOpset); opset < own {
		return fmt.Errorf("quantizer: %w", option.Errorf("Options.ExportOpset", "%s = %d: the model runs at opset %d, and the export cannot go below it", opset, own))
	}
	return nil
}

// exportOpsetRange checks Options.ExportOpset's range: 0, or BaseOpset to LatestOpset.
func exportOpsetRange(opset int64) error {
	if opset != 0 && (opset < ir.BaseOpset || opset > ir.LatestOpset) {
		return fmt.Errorf("quantizer: %w", option.Errorf("Options.ExportOpset", "%s = %d: want %d to %d (4-bit types) or, for runtimes without them, %d to %d (4-bit grids in 8-bit types)", opset, QDQOpset, ir.LatestOpset, ir.BaseOpset, QDQOpset-1))
	}
	return nil
}

// checkImages refuses calibration images that cannot be n of the model's input: every later
// step divides by n and slices per image.
func checkImages(m *ir.Model, images []float32, n int) error {
	if n <= 0 {
		return fmt.Errorf("quantizer: %d calibration images: want at least one", n)
	}
	if len(images) == 0 || len(images)%n != 0 {
		return fmt.Errorf("quantizer: %d calibration values do not make %d images", len(images), n)
	}
	if m.Graph == nil || len(m.Graph.Inputs) == 0 {
		return fmt.Errorf("quantizer: the model has no input")
	}
	in := m.Graph.Inputs[0]
	per := int64(1)
	for _, d := range in.Shape[min(1, len(in.Shape)):] {
		if d < 0 {
			return nil // a dynamic dimension: FixBatch's shape inference checks it later
		}
		per *= d
	}
	if int64(len(images)/n) != per {
		return fmt.Errorf("quantizer: calibration images of %d values each do not fit input %q of shape %v", len(images)/n, in.Name, in.Shape)
	}
	return nil
}

// Quantize turns float model m into a QDQ model using calibration images (NCHW, n of them,
// already preprocessed): BN folding, quantizer placement, clipping search, activation step
// initialisation, block reconstruction, export, and a self-check in ONNX Runtime.
func Quantize(ctx context.Context, rt *ort.Runtime, m *ir.Model, images []float32, n int, o Options) (*Result, error) {
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := CheckFloat(m); err != nil {
		return nil, err
	}
	if err := checkImages(m, images, n); err != nil {
		return nil, err
	}
	if err := ir.CheckFinite(m.Graph); err != nil {
		return nil, fmt.Errorf("quantizer: %w", err)
	}
	if o.Recon.Iters > 0 {
		if err := CheckTrainable(m); err != nil {
			return nil, err
		}
	}
	// Opened once the checks pass: without Resume it clears an earlier run's progress.
	if err := openWorkDir(&o, m, images, n); err != nil {
		return nil, err
	}
	var stages []Stage
	timed := func(name string, since time.Time) float64 {
		st := Stage{name, time.Since(since).Seconds()}
		stages = append(stages, st)
		return st.Seconds
	}
	t0 := time.Now()
	fm, err := cloneModel(m)
	if err != nil {
		return nil, err
	}
	if err := ir.Canonicalize(fm); err != nil {
		return nil, fmt.Errorf("quantizer: %w", err)
	}
	if _, err := canonicalLinear(fm.Graph); err != nil {
		return nil, err
	}
	exportOpset := ExportOpsetFor(fm, o.ExportOpset)
	if err := CheckExportOpset(fm, exportOpset); err != nil {
		return nil, err
	}
	folded, err := FoldBN(fm)
	if err != nil {
		return nil, err
	}
	if o.Equalize {
		pairs, err := equalizePairs(fm.Graph)
		if err != nil {
			return nil, err
		}
		logf("cross-layer equalization: %d depthwise/1×1 pairs rescaled", pairs)
	}
	if err := ir.InferBatchShapes(fm); err != nil {
		return nil, fmt.Errorf("quantizer: %w", err)
	}
	k := o.ActImages
	switch {
	case k <= 0:
		k = min(256, n)
	case k > n:
		k = n
	}
	per := len(images) / n
	if o.EqualizeStreams {
		streams, err := equalizeStreams(ctx, rt, fm, images[:k*per], k)
		if err != nil {
			return nil, err
		}
		logf("stream equalization: %d streams rescaled", streams)
	}
	p, err := newPlan(fm.Graph, o.Bits, o.Symmetric)
	if err != nil {
		return nil, err
	}
	if err := initWeights(fm.Graph, p, rt.Threads()); err != nil {
		return nil, err
	}
	if o.AsymmetricActs {
		p.AsymmetricActs()
	}
	p.FloatResidual = o.FloatResidual
	acts, err := collectActs(ctx, rt, fm, p, images[:k*per], k, 64)
	if err != nil {
		return nil, err
	}
	if err := initActs(p, acts, o.ActClipNorm, rt.Threads()); err != nil {
		return nil, err
	}
	initSeconds := timed("init", t0)
	if left := InspectBN(fm.Graph).Nodes; left > 0 {
		logf("%d BatchNormalization nodes follow no Conv or Gemm (pre-activation BN) and stay float", left)
	}
	logf("folded %d BatchNormalization nodes; %d weight and %d activation quantizers initialised in %.1fs", folded, len(p.Weights), len(p.Acts), initSeconds)

	blocks := []BlockResult{} // "blocks": [] in JSON reports, also without reconstruction
	var bias *BiasReport
	if o.Recon.Iters > 0 {
		t1 := time.Now()
		blocks, err = reconstructBlocks(ctx, rt, fm, p, images, n, o.Recon)
		if err != nil {
			return nil, err
		}
		logf("reconstructed %d blocks in %.1fs", len(blocks), timed("reconstruction", t1))
	}

	if o.BiasCorrection {
		t1 := time.Now()
		m := min(n, 1024)
		r, err := correctBiases(ctx, rt, fm, p, images[:m*per], m)
		if err != nil {
			return nil, err
		}
		seconds := timed("bias correction", t1)
		bias = &r
		verdict := "kept"
		if !r.Kept {
			verdict = "lowered the agreement, so the biases were restored"
		}
		logf("bias correction: %d layers on %d images in %.1fs; top-1 agreement with the float model %.2f%% before, %.2f%% after: %s",
			r.Layers, m, seconds, r.AgreementBefore, r.AgreementAfter, verdict)
	}

	t2 := time.Now()
	sim, err := simulate(fm, p)
	if err != nil {
		return nil, err
	}
	meta := append(defaultMetadata(p, o.Recon, n), o.Metadata...)
	qdq, err := exportQDQ(fm, p, meta, exportOpset)
	if err != nil {
		return nil, err
	}
	// A half-precision model's users feed and read float16: the quantized model keeps that
	// interface, with Casts to and from the float32 it computes in.
	if err := ir.SetIOTypes(qdq, ir.IOTypes(m)); err != nil {
		return nil, fmt.Errorf("quantizer: %w", err)
	}
	check, err := selfCheck(rt, qdq, sim, fm, images[:k*per], k)
	if err != nil {
		return nil, err
	}
	timed("export", t2)
	logf("self-check: ONNX Runtime's QDQ model and the simulation agree on %.2f%% of %d images (max logit difference %.3g; %.3g without graph optimizations); top-1 agreement with the float model %.2f%%, output SQNR %.1f dB", check.Agreement, check.Images, check.MaxLogitDiff, check.UnoptimizedMaxLogitDiff, check.FloatAgreement, check.OutputSQNR)
	if check.Collapsed {
		logf("warning: the quantized model picks the float model's top-1 class on only %.1f%% of %d calibration images (output SQNR %.1f dB): it has lost most of the float model's behaviour; try more bits or other reconstruction settings, and measure it on labelled images", check.FloatAgreement, check.Images, check.OutputSQNR)
	}
	if math.IsNaN(check.MaxLogitDiff) || math.IsNaN(check.UnoptimizedMaxLogitDiff) || math.IsNaN(check.OutputSQNR) {
		return nil, fmt.Errorf("quantizer: self-check failed: the quantized model's outputs on the calibration images hold NaN")
	}
	// A QDQ model that disagrees with what was optimised is a bug, never a result.
	if check.UnoptimizedAgreement < 98 {
		return nil, fmt.Errorf("quantizer: self-check failed: without graph optimizations the exported model agrees with the simulation on only %.1f%% of %d images (max logit difference %.3g)", check.UnoptimizedAgreement, check.Images, check.UnoptimizedMaxLogitDiff)
	}
	if check.Agreement < 98 {
		logf("warning: with ONNX Runtime's graph optimizations on, the QDQ model and the simulation agree on only %.1f%% of %d images (%.1f%% without): the top logits lie within the optimized kernels' rounding of each other", check.Agreement, check.Images, check.UnoptimizedAgreement)
	}
	layers := layerReports(fm.Graph, p)
	if err := measureActs(ctx, rt, fm, sim, p, layers, images[:min(k, 64)*per], min(k, 64)); err != nil {
		return nil, err
	}
	return &Result{QDQ: qdq, Simulated: sim, Plan: p, Blocks: blocks, Layers: layers, Check: check, Bias: bias, Stages: stages}, nil
}

// bitsJSON describes the bit widths per layer and activation for the model's metadata.
func bitsJSON(p *Plan) string {
	type entry struct {
		Name string `json:"name"`
		Bits int    `json:"bits"`
	}
	var d struct {
		Weights     []entry `json:"weights"`
		Activations []entry `json:"activations"`
	}
	for _, w := range p.Weights {
		d.Weights = append(d.Weights, entry{w.Node, w.Bits})
	}
	for _, a := range p.Acts {
		d.Activations = append(d.Activations, entry{a.Value, a.Bits})
	}
	b, _ := json.Marshal(d)
	return string(b)
}

// selfCheck runs the QDQ, simulated and float models in ORT on the images and compares their
// outputs.
func selfCheck(rt *ort.Runtime, qdq, sim, fp *ir.Model, images []float32, n int) (SelfCheck, error) {
	sim, err := atOpsetOf(sim, qdq)
	if err != nil {
		return SelfCheck{}, fmt.Errorf("quantizer: self-check: %w", err)
	}
	// One model at a time, each session closed before the next opens: at ImageNet size a
	// session at this batch holds about a gigabyte.
	batch := min(64, n)
	optimized := infer.Config{Batch: batch}
	ya, err := outputsOf(rt, qdq, optimized, images, n)
	if err != nil {
		return SelfCheck{}, fmt.Errorf("quantizer: self-check: ONNX Runtime cannot load or run the exported model: %w", err)
	}
	yb, err := outputsOf(rt, sim, optimized, images, n)
	if err != nil {
		return SelfCheck{}, fmt.Errorf("quantizer: self-check: %w", err)
	}
	yf, err := outputsOf(rt, fp, optimized, images, n)
	if err != nil {
		return SelfCheck{}, fmt.Errorf("quantizer: self-check: %w", err)
	}
	classes := len(ya) / n
	c := SelfCheck{Images: n}
	same, sameFP := 0, 0
	for j := range n {
		ra, rb, rf := ya[j*classes:(j+1)*classes], yb[j*classes:(j+1)*classes], yf[j*classes:(j+1)*classes]
		if argmax(ra) == argmax(rb) {
			same++
		}
		if argmax(ra) == argmax(rf) {
			sameFP++
		}
		for x := range ra {
			c.MaxLogitDiff = math.Max(c.MaxLogitDiff, math.Abs(float64(ra[x]-rb[x])))
		}
	}
	if c.UnoptimizedMaxLogitDiff, c.UnoptimizedAgreement, err = unoptimizedDiff(rt, qdq, sim, images, n, batch); err != nil {
		return c, err
	}
	c.Agreement = 100 * float64(same) / float64(n)
	c.FloatAgreement = 100 * float64(sameFP) / float64(n)
	c.Collapsed = c.FloatAgreement < collapsedBelow
	c.OutputSQNR = sqnr(yf, ya)
	return c, nil
}

// outputsOf runs m over the images (n of them) in batches of cfg.Batch and returns its
// output for each image, concatenated.
func outputsOf(rt *ort.Runtime, m *ir.Model, cfg infer.Config, images []float32, n int) ([]float32, error) {
	s, err := infer.Open(rt, m, cfg)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	batch := cfg.Batch
	per := len(images) / n
	outs := len(s.Output()) / batch
	y := make([]float32, 0, n*outs)
	for i := 0; i < n; i += batch {
		k := min(batch, n-i)
		copy(s.Input(), images[i*per:(i+k)*per])
		clear(s.Input()[k*per:])
		if err := s.Run(); err != nil {
			return nil, err
		}
		y = append(y, s.Output()[:k*outs]...)
	}
	return y, nil
}

// atOpsetOf returns a copy of sim raised to ref's default-domain opset, so that ONNX Runtime
// runs the two with the same kernels: its AveragePool of opset 19 and of opset 11 round
// differently by an ulp, enough to move an activation that lies on a rounding tie to the next
// quantization step (DenseNet's transitions did).
func atOpsetOf(sim, ref *ir.Model) (*ir.Model, error) {
	c, err := cloneModel(sim)
	if err != nil {
		return nil, err
	}
	if err := ir.UpgradeOpset(c, ref.Opset("")); err != nil {
		return nil, err
	}
	return c, nil
}

// unoptimizedDiff returns the largest difference between the outputs of models a and b on
// the images, and the percentage of images with the same top-1 class, when ONNX Runtime runs
// both without graph optimizations.
func unoptimizedDiff(rt *ort.Runtime, a, b *ir.Model, images []float32, n, batch int) (float64, float64, error) {
	cfg := infer.Config{Batch: batch, Session: ort.SessionConfig{Optimization: ort.OptimizeNone}}
	ya, err := outputsOf(rt, a, cfg, images, n)
	if err != nil {
		return 0, 0, fmt.Errorf("quantizer: self-check: %w", err)
	}
	yb, err := outputsOf(rt, b, cfg, images, n)
	if err != nil {
		return 0, 0, fmt.Errorf("quantizer: self-check: %w", err)
	}
	outs := len(ya) / n
	diff, same := 0.0, 0
	for x := range ya {
		diff = math.Max(diff, math.Abs(float64(ya[x]-yb[x])))
	}
	for j := range n {
		if argmax(ya[j*outs:(j+1)*outs]) == argmax(yb[j*outs:(j+1)*outs]) {
			same++
		}
	}
	return diff, 100 * float64(same) / float64(n), nil
}

func argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// defaultMetadata is what Quantize records of a run of plan p with reconstruction r on n
// images, whatever the caller adds.
func defaultMetadata(p *Plan, r ReconOptions, n int) []ir.KeyValue {
	return []ir.KeyValue{
		{Key: "sharpq.bits", Value: bitsJSON(p)},
		{Key: "sharpq.version", Value: version.Default()},
		{Key: "sharpq.iters", Value: strconv.Itoa(r.Iters)},
		{Key: "sharpq.rounding", Value: RoundingName(r.Rounding, r.Iters)},
		{Key: "sharpq.seed", Value: strconv.FormatUint(r.Seed, 10)},
		{Key: "sharpq.calibration_images", Value: strconv.Itoa(n)},
	}
}
