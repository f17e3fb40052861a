package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/convert"
	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/report"
)

func convertCommand() *cli.Command {
	cmd := &cli.Command{
		Name:  "convert",
		Usage: "quantize a float model to low-bit QDQ ONNX without any data (GENIE + SADAG + GENIE-M)",
		Description: "No real image is read for the quantization. --eval-data (with --mean/--std/--size/--grayscale,\n" +
			"which apply to it only) measures the float and quantized top-1 before the output is written.",
		ArgsUsage: "MODEL.onnx",
		Flags: append(append([]cli.Flag{
			modelFlag("float ONNX model"),
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the QDQ model (required, but for --estimate)"},
			&cli.BoolFlag{Name: "estimate", Usage: "check the model and the settings, time a few steps of every stage with them, print how long the whole run would take here, and stop: nothing is written"},
			&cli.StringFlag{Name: "preset", Value: "fast", Usage: "fast (256 images × 500 generation steps, 2000 reconstruction steps per block; CPU), quick (256 × 200, 500 FlexRound steps; about a third of fast's time) or paper (1024 × 4000, 20000; GPU)"},
			&cli.StringFlag{Name: "method", Value: "sadag", Usage: "calibration images: sadag (GENIE refined by SADAG) or genie"},
			&cli.IntFlag{Name: "images", DefaultText: "the preset's", Usage: "synthetic images"},
			&cli.IntFlag{Name: "gen-steps", DefaultText: "the preset's", Usage: "generation steps per batch"},
			&cli.IntFlag{Name: "gen-batch", DefaultText: "128, as every preset", Usage: "images per generator"},
			genParallelFlag(),
			&cli.IntFlag{Name: "warmup-iters", DefaultText: "the preset's", Value: -1, Usage: "SADAG warm-up reconstruction steps per block"},
			&cli.IntFlag{Name: "refine-steps", DefaultText: "the preset's", Value: -1, Usage: "SADAG refinement steps per batch"},
			&cli.Float64Flag{Name: "refine-lr-scale", DefaultText: "1, the paper's rates", Usage: "multiply SADAG refinement's learning rates (latents 1e-5, generator 1e-4) by this"},
			&cli.StringFlag{Name: "sadag-direction", Value: "previous", Usage: "SADAG neighbour direction: the latent gradient of the step before (previous) or of a first pass at each step (current; twice the refinement's time)"},
			&cli.BoolFlag{Name: "mirror", Usage: "calibrate on each synthetic image and its horizontal mirror (for models trained with random flips, as most image classifiers are)"},
			&cli.IntFlag{Name: "mixup", Usage: "add `N` mixtures l·a + (1 − l)·b of random pairs of the calibration images (after --mirror), l uniform on [0, 1], to the final reconstruction"},
			&cli.StringFlag{Name: "save-images", Usage: "write the synthetic images to DIR (images.npy and grid.png)"},
		}, append(append(quantFlags(), evalFlags()...), preprocessFlags()...)...), runtimeFlags()...),
		Action: func(c *cli.Context) error {
			model, err := modelArg(c)
			if err != nil {
				return err
			}
			return runConvert(c, model)
		},
	}
	for _, f := range cmd.Flags {
		if f, ok := f.(*cli.StringFlag); ok && f.Name == "rounding" {
			f.DefaultText = "the preset's: adaround, flexround for quick"
		}
	}
	return cmd
}

// overrides lists the schedule flags that changed the preset's schedule, " (--gen-steps 5,
// --iters 5)", or "" for the preset as it is.
func overrides(c *cli.Context) string {
	var set []string
	for _, f := range []string{"gen-steps", "gen-batch", "warmup-iters", "refine-steps", "iters", "rounding"} {
		if c.IsSet(f) {
			set = append(set, fmt.Sprintf("--%s %v", f, c.Value(f)))
		}
	}
	if len(set) == 0 {
		return ""
	}
	return " (" + strings.Join(set, ", ") + ")"
}

// heldImages names what a conversion holds in memory at once, for checkImagesFit: the
// synthetic images, their refined copies (SADAG), mirrors and mixtures.
func heldImages(images int, refined, mirror bool, mixtures int) (flags string, n int64) {
	held, copies := []string{"synthesised"}, int64(1)
	if refined {
		held, copies = append(held, "refined"), copies+1
	}
	if mirror {
		held, copies = append(held, "mirrored"), copies+1
	}
	flags = "--images"
	if copies > 1 {
		flags += " (each held " + strings.Join(held[:len(held)-1], ", ") + " and " + held[len(held)-1] + ")"
	}
	n = copies * int64(images)
	if mixtures > 0 {
		flags += " and --mixup"
		n += int64(mixtures)
	}
	return flags, n
}

func runConvert(c *cli.Context, modelPath string) error {
	bits, err := bitsFrom(c)
	if err != nil {
		return err
	}
	sched, err := generationSchedule(c)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		flag string
		dst  *int
	}{{"iters", &sched.ReconIters}, {"warmup-iters", &sched.WarmUpIters}, {"refine-steps", &sched.RefineSteps}} {
		switch n := c.Int(f.flag); {
		case n < -1:
			return usageError{fmt.Errorf("--%s %d: want 0 or more steps", f.flag, n)}
		case n >= 0:
			*f.dst = n
		}
	}
	if f := c.Float64("refine-lr-scale"); f < 0 {
		return usageError{fmt.Errorf("--refine-lr-scale %g: want a positive factor", f)}
	} else if f > 0 {
		sched.RefineLRScale = f
	}
	switch d := c.String("sadag-direction"); d {
	case "previous":
	case "current":
		sched.RefineCurrentDirection = true
	default:
		return usageError{fmt.Errorf("--sadag-direction %q: want previous or current", d)}
	}
	if err := checkGenParallel(c); err != nil {
		return err
	}
	ov, err := reconOverrides(c)
	if err != nil {
		return err
	}
	if ov.RoundWeight > 0 {
		if ov.Rounding == "" && sched.Rounding == quantizer.FlexRound {
			return usageError{fmt.Errorf("--round-weight %g: FlexRound (the %s preset's rounding) has no rounding regulariser; drop it or use --rounding adaround", ov.RoundWeight, sched.Name)}
		}
		sched.RoundWeight = ov.RoundWeight
	}
	sched.LRActStep, sched.LRBias = ov.ActLR, ov.BiasLR
	out, estimate := c.String("output"), c.Bool("estimate")
	switch {
	case out == "" && !estimate:
		return usageError{fmt.Errorf("--output is required (sharpq convert --help)")}
	case out != "":
		if err := checkWritable(c, out, modelPath); err != nil {
			return err
		}
	}
	for _, flag := range []string{"--save-images", "--report"} {
		if err := checkFolderWritable(flag, c.String(flag[2:])); err != nil {
			return err
		}
	}
	m, form, err := readModel(modelPath, readOptionsOf(c), true)
	if err != nil {
		return err
	}
	if err := ir.CheckFinite(m.Graph); err != nil {
		return fmt.Errorf("%s: %w", modelPath, err)
	}
	if err := quantizer.CheckFloat(m); err != nil {
		return fmt.Errorf("%s: %w", modelPath, err)
	}
	held, n := heldImages(sched.Images, convert.Method(c.String("method")) == convert.SADAG, c.Bool("mirror"), c.Int("mixup"))
	if err := checkImagesFit(held, n, inputValues(m)); err != nil {
		return err
	}
	if bn := quantizer.InspectBN(m.Graph); bn.Nodes == 0 {
		return fmt.Errorf("%s: %w; or calibrate it on real images with sharpq quantize --calib-data", modelPath, convert.ErrNoBNStats)
	}
	if sched.ReconIters > 0 || convert.Method(c.String("method")) == convert.SADAG {
		if err := checkReconFits(m, "--images", widenedCount(sched.Images, c.Bool("mirror"), c.Int("mixup"))); err != nil {
			return err
		}
	}
	pre, err := preprocessFrom(c)
	if err != nil {
		return err
	}
	evalData, err := loadEval(c, m, pre)
	if err != nil {
		return err
	}
	work, resume, err := workDir(c)
	if err != nil {
		return err
	}
	log := logger(c)
	logf := logfTo(log)
	if convert.Method(c.String("method")) == convert.GENIE {
		var unused []string
		for _, f := range []string{"warmup-iters", "refine-steps", "refine-lr-scale", "sadag-direction"} {
			if c.IsSet(f) {
				unused = append(unused, "--"+f)
			}
		}
		if len(unused) > 0 {
			log.Warn(fmt.Sprintf("%s: --method genie has no warm-up or refinement; ignored", strings.Join(unused, ", ")))
		}
	}
	var imagesReady func(*generator.Images) error
	if dir := c.String("save-images"); dir != "" {
		// Written before the reconstruction, so a long run's images are there to look at
		// (or to calibrate elsewhere with quantize --calib-data) while it goes on.
		imagesReady = func(im *generator.Images) error {
			if err := saveImages(dir, m, im); err != nil {
				return err
			}
			logf("save-images: %d images in %s", im.N, dir)
			return nil
		}
	}
	var curves [][]float64
	progress := genProgress(os.Stderr, log)
	opts := convert.Options{
		ORTLibrary: ortLibFlag(c), Device: c.String("device"), Threads: c.Int("threads"),
		Model: m, ModelName: modelPath, Bits: bits, Symmetric: c.Bool("sym"), AsymmetricActs: c.Bool("asym-acts"), FloatResidual: c.Bool("float-residual"), Equalize: c.Bool("equalize"), EqualizeStreams: c.Bool("equalize-streams"), ActClipNorm: c.Float64("act-clip-norm"), BiasCorrection: c.Bool("bias-correct"), ExportOpset: c.Int64("export-opset"),
		Mirror: c.Bool("mirror"), Mixtures: c.Int("mixup"), Rounding: ov.Rounding, Method: convert.Method(c.String("method")), Schedule: sched, Seed: c.Uint64("seed"), Version: sharpqVersion(),
		GenParallel: c.Int("gen-parallel"), ImagesReady: imagesReady,
		// The kernel stops a process out of memory without a word: say beforehand when the
		// estimate exceeds what is available, and which batch would fit.
		Memory: func(e convert.Memory) {
			if mc := newMemoryCheck(e, sched.GenBatch, convert.Method(c.String("method")), availableMemory()); mc.Over() {
				log.Warn("memory: " + mc.String())
			} else {
				logf("memory: %s", mc)
			}
		},
		Log: logf, ReconProgress: reconProgress(os.Stderr, log), WorkDir: work, Resume: resume,
		GenProgress: func(stage string, p generator.Progress) {
			if stage == "generate" {
				for len(curves) <= p.Batch {
					curves = append(curves, nil)
				}
				curves[p.Batch] = append(curves[p.Batch], p.BNS)
			}
			progress(stage, p)
		},
	}
	if estimate {
		return runEstimate(c, modelPath, opts)
	}
	rep, err := convert.Run(c.Context, opts)
	if err != nil {
		return otherRun(layerBitsNames(bits).Rename(fmt.Errorf("%s: %w", modelPath, err)), work)
	}
	open := func() (*ort.Runtime, func(), error) {
		rt, err := openRuntime(c)
		if err != nil {
			return nil, nil, err
		}
		return rt, func() { rt.Close() }, nil
	}
	acc, data, err := gateAndWrite(c, open, m, rep.Quantized, rep.SelfCheck, evalData, form, out, logf)
	refused, err := refusedBy(err)
	if err != nil {
		return err
	}
	written := out
	if refused != nil {
		written = ""
	}
	settings := metaMap(rep.Quantized.Metadata, bits, commandLine(c, modelPath))
	if rep.Method == string(convert.SADAG) {
		settings["refine_lr_scale"] = fmt.Sprint(sched.RefineLRScale)
	}
	run := report.Report{Command: "convert", Model: modelPath, Output: written, Refused: errText(refused),
		Method: rep.Method, Preset: rep.Preset, WBits: rep.WBits, ABits: rep.ABits, Iters: sched.ReconIters, Rounding: rep.Rounding, Seed: rep.Seed, Images: rep.Images,
		Settings: settings, Stages: rep.Stages, Seconds: rep.Seconds, Blocks: rep.Blocks, Layers: rep.Layers, SelfCheck: rep.SelfCheck, BiasCorrection: rep.BiasCorrection,
		Bytes: int64(len(data)), FPBytes: fileSize(modelPath), Opset: rep.Quantized.Opset(""), GenLoss: rep.GenLoss, Refinement: rep.Refine, Accuracy: acc}
	if dir := c.String("report"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		if err := saveGrid(filepath.Join(dir, "synthetic.png"), m, rep.Synthetic); err != nil {
			return err
		}
		full := run
		full.Generation, full.ImageGrid = curves, "synthetic.png"
		if err := report.Write(dir, &full); err != nil {
			return err
		}
	}
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, run.Summary()); err != nil {
			return err
		}
		return refused
	}
	if refused != nil {
		return refused
	}
	_, err = fmt.Fprintf(c.App.Writer, "%s: W%dA%d, %s, %s preset%s, %d synthetic images, %s; %d bytes (float: %d, %s)%s\n",
		out, rep.WBits, rep.ABits, rep.Method, rep.Preset, overrides(c), rep.Images, time.Duration(rep.Seconds*float64(time.Second)).Round(time.Second),
		run.Bytes, run.FPBytes, sizeRatio(run.Bytes, run.FPBytes), accuracyLine(acc))
	return err
}

// saveImages writes images.npy (NCHW float32, as model m takes them) and grid.png.
func saveImages(dir string, m *ir.Model, im *generator.Images) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--save-images: %w", err)
	}
	if err := calib.SaveNPYFloat32(filepath.Join(dir, "images.npy"), im.Data, []int{im.N, im.C, im.H, im.W}); err != nil {
		return err
	}
	return saveGrid(filepath.Join(dir, "grid.png"), m, im)
}

// saveGrid writes a PNG grid of the synthetic images of model m. The images are normalised
// (zero mean and unit spread per channel; the grid shows x·0.25 + 0.5), unless m has its
// normalisation baked in: then they are raw inputs, shown as they are.
func saveGrid(path string, m *ir.Model, im *generator.Images) error {
	mean, std := []float32{0.5}, []float32{0.25}
	if c, err := infer.Static(m, 1); err == nil {
		if _, _, raw := generator.InputNormalisation(c); raw {
			mean, std = []float32{0}, []float32{1}
		}
	}
	return generator.SaveGrid(path, im, 16, mean, std)
}
