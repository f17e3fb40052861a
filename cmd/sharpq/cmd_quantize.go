package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/internal/checkpoint"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/report"
)

func quantizeCommand() *cli.Command {
	return &cli.Command{
		Name:  "quantize",
		Usage: "quantize a model with given calibration images (GENIE-M block reconstruction) and export QDQ ONNX",
		Description: "The calibration images (--calib-data, .npy or a folder of images) are preprocessed like eval's\n" +
			"data. --iters 0 skips reconstruction (clipping search and round-to-nearest only).",
		ArgsUsage: "MODEL.onnx",
		Flags: append(append(append([]cli.Flag{
			modelFlag("float ONNX model"),
			&cli.StringFlag{Name: "preset", Value: "fast", Usage: "reconstruction schedule: fast (2000 steps per block, CPU), quick (200 FlexRound steps per block, to try settings) or paper (20000 steps per block, GPU)"},
			&cli.StringFlag{Name: "calib-data", Required: true, Usage: "calibration images: .npy (NCHW uint8/float32) or a folder"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "where to write the QDQ model (required, but for --estimate)"},
			&cli.BoolFlag{Name: "estimate", Usage: "check the model, the images and the settings, time a few reconstruction steps of every block with them, print how long the whole run would take here, and stop: nothing is written"},
			&cli.IntFlag{Name: "calib-images", Usage: "use only `N` calibration images (0, or more than the data holds, = all of them): an array's first N, or N spread evenly through a folder, every class in proportion"},
			&cli.BoolFlag{Name: "mirror", Usage: "add each calibration image's horizontal mirror (after --calib-images), as convert --mirror does"},
			&cli.IntFlag{Name: "mixup", Usage: "add `N` mixtures l·a + (1 − l)·b of random pairs of the calibration images (after --mirror), l uniform on [0, 1], drawn as convert --mixup with the same --seed draws them"},
		}, preprocessFlags()...), append(quantFlags(), evalFlags()...)...), runtimeFlags()...),
		Action: func(c *cli.Context) error {
			p, err := preprocessFrom(c)
			if err != nil {
				return err
			}
			return runQuantize(c, p)
		},
	}
}

// quantFlags are the quantizer settings shared by quantize and convert.
func quantFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "wbits", Value: 4, Usage: "weight bits (2–8)"},
		&cli.IntFlag{Name: "abits", Value: 4, Usage: "activation bits (2–8)"},
		&cli.IntFlag{Name: "iters", DefaultText: "the preset's", Value: -1, Usage: "reconstruction steps per block (0 = none: round-to-nearest)"},
		&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "random seed"},
		&cli.BoolFlag{Name: "sym", Usage: "symmetric weights (default asymmetric)"},
		&cli.BoolFlag{Name: "bias-correct", Usage: "after reconstruction, shift each layer's bias so its outputs' channel means on the calibration images match the float model's"},
		&cli.BoolFlag{Name: "float-residual", Usage: "residual Adds read float values (identity shortcuts stay float, as GENIE's code); default: every consumer reads the quantized value"},
		&cli.BoolFlag{Name: "equalize", Usage: "cross-layer equalization of depthwise → 1×1 convolution pairs before quantizing (DFQ; evens out MobileNet's per-channel ranges)"},
		&cli.BoolFlag{Name: "equalize-streams", Usage: "rescale the channels of residual streams read only by convolutions so activation and weight ranges meet halfway (helps round-to-nearest, --iters 0)"},
		&cli.BoolFlag{Name: "asym-acts", Usage: "activations that can be negative on an unsigned grid with a zero point (default: symmetric signed grid)"},
		&cli.Int64Flag{Name: "export-opset", DefaultText: "21, or the model's own opset when later", Usage: "opset of the QDQ model: 21–26 store grids of 4 bits or fewer in int4/uint4; 13–20 in int8/uint8 behind a Clip to the grid (the same values, twice the weight bytes), for ONNX Runtime before 1.19 and other runtimes without 4-bit types"},
		&cli.StringFlag{Name: "rounding", DefaultText: "the preset's: adaround, flexround for quick", Usage: "how reconstruction learns each weight's integer: adaround (floor or ceiling; GENIE-M) or flexround (a learned divisor per weight and input channel; converges in fewer --iters)"},
		&cli.Float64Flag{Name: "round-weight", Usage: "weight λ of AdaRound's rounding regulariser (0 = the preset's)"},
		&cli.Float64Flag{Name: "act-lr", Usage: "Adam learning rate of the activation step sizes (0 = the paper's 4e-5)"},
		&cli.Float64Flag{Name: "bias-lr", Usage: "learn each layer's bias during reconstruction at this Adam rate (AdaQuant's bias tuning; 0 = keep the float biases, as GENIE-M)"},
		&cli.Float64Flag{Name: "act-clip-norm", Usage: "exponent p of the error Σ|x−q(x)|^p the activations' clipping search minimises (0 = the paper's 2.4; 2 = mean squared error, clips more)"},
		&cli.IntFlag{Name: "first-wbits", Value: 8, Usage: "first layer's weight bits (0 = --wbits)"},
		&cli.IntFlag{Name: "second-abits", Value: 8, Usage: "second layer's input bits (0 = --abits)"},
		&cli.IntFlag{Name: "last-wbits", Value: 8, Usage: "last layer's weight bits (0 = --wbits)"},
		&cli.IntFlag{Name: "last-abits", Value: 8, Usage: "last layer's input bits (0 = --abits)"},
		&cli.BoolFlag{Name: "quantize-input", Usage: "quantize the model input too (at --abits)"},
		&cli.StringFlag{Name: "layer-bits", Usage: "per-layer weight bits, NODE=BITS[,NODE=BITS…] (node names from sharpq inspect)"},
		&cli.BoolFlag{Name: "json", Usage: "print a JSON report on stdout"},
		&cli.StringFlag{Name: "report", Usage: "write report.json, report.md and PNG plots into DIR"},
		&cli.StringFlag{Name: "work-dir", Usage: "save progress into DIR after every reconstructed block (and, for convert, every generated and refined batch)"},
		&cli.BoolFlag{Name: "resume", Usage: "continue the run whose progress --work-dir holds"},
	}
}

// workDir checks --work-dir and --resume and says what the run will do with the folder's
// progress; the library opens the folder.
func workDir(c *cli.Context) (dir string, resume bool, err error) {
	dir, resume = c.String("work-dir"), c.Bool("resume")
	if dir == "" {
		if resume {
			return "", false, usageError{fmt.Errorf("--resume needs --work-dir")}
		}
		return "", false, nil
	}
	if c.Bool("estimate") && !resume {
		return "", false, nil // an estimate of a fresh run neither reads nor writes the folder
	}
	if err := checkFolderWritable("--work-dir", dir); err != nil {
		return "", false, err
	}
	switch saved := checkpoint.Saved(dir); {
	case !resume && saved:
		logger(c).Warn(fmt.Sprintf("--work-dir %s holds an earlier run's progress, which this run replaces (--resume continues it instead)", dir))
	case resume && !saved:
		logger(c).Info(fmt.Sprintf("--resume: --work-dir %s holds no progress yet, so the run starts from the beginning", dir))
	}
	return dir, resume, nil
}

// otherRun turns the library's refusal to resume another run's folder into a usage error
// that names the flags; other errors pass through.
func otherRun(err error, dir string) error {
	if errors.Is(err, checkpoint.ErrOtherRun) {
		how := "another model, other images or other settings"
		if o := (*checkpoint.OtherRunError)(nil); errors.As(err, &o) {
			how = o.How(workFolderNames())
		}
		return usageError{fmt.Errorf("--resume: --work-dir %s holds another run (%s): use another --work-dir, or run without --resume to start afresh there", dir, how)}
	}
	return err
}

func bitsFrom(c *cli.Context) (quantizer.Bits, error) {
	b := quantizer.Bits{
		Weight: c.Int("wbits"), Activation: c.Int("abits"),
		FirstWeight: c.Int("first-wbits"), SecondInput: c.Int("second-abits"),
		LastWeight: c.Int("last-wbits"), LastInput: c.Int("last-abits"),
		QuantizeInput: c.Bool("quantize-input"),
	}
	if s := strings.TrimSpace(c.String("layer-bits")); s != "" {
		b.PerLayer = map[string]int{}
		for _, kv := range strings.Split(s, ",") {
			name, v, ok := strings.Cut(kv, "=")
			bits, err := strconv.Atoi(strings.TrimSpace(v))
			if !ok || err != nil {
				return b, usageError{fmt.Errorf("--layer-bits %q: want NODE=BITS", kv)}
			}
			b.PerLayer[strings.TrimSpace(name)] = bits
		}
	}
	if err := b.Validate(); err != nil {
		return b, usageError{layerBitsNames(b).Rename(err)}
	}
	return b, nil
}

func reconFrom(c *cli.Context) (quantizer.Preset, quantizer.ReconOptions, error) {
	preset, err := quantizer.PresetByName(c.String("preset"))
	if err != nil {
		return preset, quantizer.ReconOptions{}, usageError{err}
	}
	o := preset.Recon(c.Uint64("seed"))
	switch n := c.Int("iters"); {
	case n < -1:
		return preset, quantizer.ReconOptions{}, usageError{fmt.Errorf("--iters %d: want 0 or more steps", n)}
	case n >= 0:
		o.Iters = n
	}
	ov, err := reconOverrides(c)
	if err != nil {
		return preset, o, err
	}
	if ov.RoundWeight > 0 {
		o.RoundWeight = ov.RoundWeight
	}
	o.LRActStep, o.LRBias = ov.ActLR, ov.BiasLR
	if ov.Rounding != "" {
		o.Rounding = ov.Rounding
	}
	if ov.RoundWeight > 0 && o.Rounding == quantizer.FlexRound {
		return preset, o, usageError{fmt.Errorf("--round-weight %g: FlexRound (the %s preset's rounding) has no rounding regulariser; drop it or use --rounding adaround", ov.RoundWeight, preset.Name)}
	}
	progress := reconProgress(os.Stderr, logger(c))
	o.Progress = func(p quantizer.ReconProgress) { progress("reconstruct", p) }
	return preset, o, nil
}

func runQuantize(c *cli.Context, pre calib.Preprocess) error {
	start := time.Now()
	bits, err := bitsFrom(c)
	if err != nil {
		return err
	}
	preset, recon, err := reconFrom(c)
	if err != nil {
		return err
	}
	modelPath, err := modelArg(c)
	if err != nil {
		return err
	}
	out, estimate := c.String("output"), c.Bool("estimate")
	switch {
	case out == "" && !estimate:
		return usageError{fmt.Errorf("--output is required (sharpq quantize --help)")}
	case out != "":
		if err := checkWritable(c, out, modelPath); err != nil {
			return err
		}
	}
	if err := checkFolderWritable("--report", c.String("report")); err != nil {
		return err
	}
	m, form, err := readModel(modelPath, readOptionsOf(c), true)
	if err != nil {
		return err
	}
	if err := ir.CheckFinite(m.Graph); err != nil {
		return fmt.Errorf("%s: %w", modelPath, err)
	}
	if err := quantizer.CheckExportOpset(m, c.Int64("export-opset")); err != nil {
		return err // before the calibration images are read
	}
	k := c.Int("calib-images")
	if k < 0 {
		return usageError{fmt.Errorf("--calib-images %d: want 0 (all of them) or more", k)}
	}
	d, held, err := loadCalibration(c.Context, c.String("calib-data"), forModel(c, m, c.String("calib-data"), pre), k)
	if err != nil {
		return fmt.Errorf("--calib-data: %w", withSizeHint(err, m))
	}
	warnNormalisedTwice(logger(c), "--calib-data", c.String("calib-data"), d, pre, "give an already normalised array without --mean/--std (and the test images' normalisation as --eval-mean/--eval-std)")
	if k > held {
		logger(c).Warn(fmt.Sprintf("--calib-images %d: %s holds %d images; using all of them", k, c.String("calib-data"), held))
	}
	if err := calib.CheckInputShape(m, d); err != nil {
		return fmt.Errorf("%s: %w", c.String("calib-data"), withShapeHint(err))
	}
	used := d.N
	if recon.Iters > 0 {
		if err := checkReconFits(m, calibFlag(c), widenedCount(d.N, c.Bool("mirror"), c.Int("mixup"))); err != nil {
			return err
		}
	}
	if d, err = widenCalibration(d, c.Bool("mirror"), c.Int("mixup"), c.Uint64("seed")); err != nil {
		return err
	}
	evalData, err := loadEval(c, m, pre)
	if err != nil {
		return err
	}
	rt, err := openRuntime(c)
	if err != nil {
		return err
	}
	defer rt.Close()
	opts := quantizer.Options{
		Bits: bits, Symmetric: c.Bool("sym"), AsymmetricActs: c.Bool("asym-acts"), FloatResidual: c.Bool("float-residual"), Equalize: c.Bool("equalize"), EqualizeStreams: c.Bool("equalize-streams"), ActClipNorm: c.Float64("act-clip-norm"), BiasCorrection: c.Bool("bias-correct"), Recon: recon, ExportOpset: c.Int64("export-opset"),
	}
	work, resume, err := workDir(c)
	if err != nil {
		return err
	}
	if estimate {
		opts.WorkDir, opts.Resume = work, resume
		return quantizeEstimate(c, rt, modelPath, m, d, preset.Name, opts)
	}
	meta := []ir.KeyValue{
		{Key: "sharpq.version", Value: sharpqVersion()},
		{Key: "sharpq.method", Value: "genie-m (real calibration data)"},
		{Key: "sharpq.preset", Value: preset.Name},
		{Key: "sharpq.iters", Value: strconv.Itoa(recon.Iters)},
		{Key: "sharpq.rounding", Value: quantizer.RoundingName(recon.Rounding, recon.Iters)},
		{Key: "sharpq.seed", Value: strconv.FormatUint(recon.Seed, 10)},
		{Key: "sharpq.calibration_images", Value: strconv.Itoa(d.N)},
	}
	opts.Metadata, opts.WorkDir, opts.Resume = meta, work, resume
	opts.Log = afterFirst(logfTo(logger(c)), calibrationSummary(c.String("calib-data"), held, used, isDir(c.String("calib-data")), c.Bool("mirror"), c.Int("mixup"), d.N))
	res, err := quantizer.Quantize(c.Context, rt, m, d.X, d.N, opts)
	if err != nil {
		return otherRun(layerBitsNames(bits).Rename(fmt.Errorf("%s: %w", modelPath, err)), work)
	}
	open := func() (*ort.Runtime, func(), error) { return rt, func() {}, nil }
	acc, data, err := gateAndWrite(c, open, m, res.QDQ, res.Check, evalData, form, out, logfTo(logger(c)))
	refused, err := refusedBy(err)
	if err != nil {
		return err
	}
	written := out
	if refused != nil {
		written = ""
	}
	run := report.Report{Command: "quantize", Model: modelPath, Output: written, Refused: errText(refused),
		Preset: preset.Name, WBits: bits.Weight, ABits: bits.Activation, Iters: recon.Iters, Rounding: quantizer.RoundingName(recon.Rounding, recon.Iters), Seed: recon.Seed, Images: d.N,
		Settings: metaMap(res.QDQ.Metadata, bits, commandLine(c, modelPath)), Stages: res.Stages, Seconds: time.Since(start).Seconds(), Blocks: res.Blocks, Layers: res.Layers, SelfCheck: res.Check, BiasCorrection: res.Bias,
		Bytes: int64(len(data)), FPBytes: fileSize(modelPath), Opset: res.QDQ.Opset(""), Accuracy: acc}
	if dir := c.String("report"); dir != "" {
		if err := report.Write(dir, &run); err != nil {
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
	schedule := fmt.Sprintf("%s preset (%d steps per block)", run.Preset, run.Iters)
	if run.Iters == 0 {
		schedule = "round-to-nearest (no reconstruction)"
	}
	_, err = fmt.Fprintf(c.App.Writer, "%s: W%dA%d, %s, %.1fs; %d bytes (float: %d, %s)%s\n",
		run.Output, run.WBits, run.ABits, schedule, run.Seconds, run.Bytes, run.FPBytes, sizeRatio(run.Bytes, run.FPBytes), accuracyLine(run.Accuracy))
	return err
}

// sizeRatio says how much smaller (or, for a model whose quantizers outweigh its few
// weights, larger) the quantized file is than the float one.
func sizeRatio(quantized, float int64) string {
	if quantized > float {
		return fmt.Sprintf("%.1f× larger", float64(quantized)/float64(float))
	}
	return fmt.Sprintf("%.1f× smaller", float64(float)/float64(quantized))
}

// printJSON writes v to w as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// fileSize is the size of the file at path, 0 if it cannot be read.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// refusedBy splits the error of gateAndWrite into a quality gate's refusal, after which the
// run is still reported (its JSON and --report are what a pipeline reads), and any other
// error.
func refusedBy(err error) (refused, other error) {
	var gate gateError
	if errors.As(err, &gate) {
		return err, nil
	}
	return nil, err
}

// errText is err's message, or "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// metaMap turns the model metadata, bit widths and command line into report settings.
// metaMap returns a report's settings: the written model's sharpq.* metadata without the
// prefix, except sharpq.bits (the report's layers carry each layer's bits), the bits asked
// for, and the command line.
func metaMap(meta []ir.KeyValue, b quantizer.Bits, commandLine string) map[string]string {
	m := map[string]string{"wbits": strconv.Itoa(b.Weight), "abits": strconv.Itoa(b.Activation), "command_line": commandLine}
	for _, kv := range meta {
		if key, ok := strings.CutPrefix(kv.Key, "sharpq."); ok && key != "bits" {
			m[key] = kv.Value
		}
	}
	return m
}

// widenCalibration adds the images' mirrors and mixtures of random pairs, as convert's --mirror
// and --mixup add them to the synthetic set, so that a saved synthetic set (convert
// --save-images) can be calibrated on again without synthesising it anew. Labels are dropped:
// calibration does not read them.
func widenCalibration(d *calib.Dataset, mirror bool, mixtures int, seed uint64) (*calib.Dataset, error) {
	if mixtures < 0 {
		return nil, usageError{fmt.Errorf("--mixup %d: want 0 or more mixtures", mixtures)}
	}
	copies := int64(1)
	if mirror {
		copies = 2
	}
	if err := checkImagesFit("--mixup", copies*int64(d.N)+int64(mixtures), int64(d.SampleLen())); err != nil {
		return nil, err
	}
	if !mirror && mixtures == 0 {
		return d, nil
	}
	im := &generator.Images{N: d.N, C: d.C, H: d.H, W: d.W, Data: d.X}
	if mirror {
		im = im.WithMirrors()
	}
	if mixtures > 0 {
		im = im.WithMixtures(mixtures, generator.MixtureRand(seed))
	}
	return &calib.Dataset{N: im.N, C: im.C, H: im.H, W: im.W, X: im.Data, NegativeFloats: d.NegativeFloats}, nil
}

// afterFirst returns logf that first logs line: the calibration set is announced with the
// quantizer's first line, after its checks, so that a run they stop prints only its error.
func afterFirst(logf func(string, ...any), line string) func(string, ...any) {
	var once sync.Once
	return func(format string, args ...any) {
		once.Do(func() { logf("%s", line) })
		logf(format, args...)
	}
}

// calibrationSummary says what the reconstruction calibrates on: how many of the file's
// images, and what --mirror and --mixup added to them.
func calibrationSummary(path string, held, used int, spread, mirror bool, mixtures, total int) string {
	parts := []string{fmt.Sprintf("all %d of %s", used, path)}
	switch {
	case used < held && spread:
		parts[0] = fmt.Sprintf("%d spread through the %d in %s", used, held, path)
	case used < held:
		parts[0] = fmt.Sprintf("the first %d of the %d in %s", used, held, path)
	}
	if mirror {
		parts = append(parts, "their mirrors")
	}
	if mixtures > 0 {
		parts = append(parts, fmt.Sprintf("%d mixtures of pairs", mixtures))
	}
	what := parts[0]
	if n := len(parts); n > 1 {
		what = strings.Join(parts[:n-1], ", ") + " and " + parts[n-1]
	}
	return fmt.Sprintf("calibration: %d images (%s)", total, what)
}

// loadCalibration reads k calibration images (all for k = 0) from path into memory: an
// array's first k, or k spread evenly through a folder, decoding only those. It also returns
// how many images path holds.
func loadCalibration(ctx context.Context, path string, pre calib.Preprocess, k int) (*calib.Dataset, int, error) {
	src, err := calib.Open(ctx, path, "", pre, k)
	if err != nil {
		return nil, 0, err
	}
	held, _, _, _ := src.Dims()
	if f, ok := src.(*calib.ImageFolder); ok {
		held = f.Listed()
	}
	d, err := calib.ReadAll(ctx, calib.Head(src, k))
	return d, held, err
}

// checkWritable fails early, before minutes of work, when the output cannot be created, and
// refuses to replace any file the run reads: the float model it is made from, or a file
// another flag of c names (calibration or test data, labels, config).
func checkWritable(c *cli.Context, path, model string) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("--output %s: folder %s does not exist", path, dir)
	}
	fi, err := os.Stat(path)
	if err == nil && fi.IsDir() {
		return fmt.Errorf("--output %s is a folder", path)
	}
	if err == nil {
		if mi, merr := os.Stat(model); merr == nil && os.SameFile(fi, mi) {
			return usageError{fmt.Errorf("--output %s is the input model: write the quantized model elsewhere", path)}
		}
		for _, flag := range []string{"calib-data", "eval-data", "eval-labels", "config"} {
			in := c.String(flag)
			if in == "" {
				continue
			}
			if ii, ierr := os.Stat(in); ierr == nil && os.SameFile(fi, ii) {
				return usageError{fmt.Errorf("--output %s is the --%s file: write the quantized model elsewhere", path, flag)}
			}
		}
	}
	f, err := os.CreateTemp(dir, ".sharpq-write-test-*")
	if err != nil {
		// The probe file's own name would only confuse: say why the folder refused it.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("--output %s: cannot write into %s: %w", path, dir, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// checkFolderWritable checks, before any work, that the folder a flag names is one sharpq can
// create or write into, so that a long run does not fail at its end. It creates nothing: the
// test file goes into the nearest folder that exists.
func checkFolderWritable(flag, dir string) error {
	if dir == "" {
		return nil
	}
	p := dir
	for {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s %s: %s is a file, not a folder", flag, dir, p)
			}
			break
		}
		// Not there (or under a file, ENOTDIR): look at the folder above.
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	f, err := os.CreateTemp(p, ".sharpq-write-test-*")
	if err != nil {
		var pe *fs.PathError // the probe file's name would only confuse
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s %s: cannot write into %s: %w", flag, dir, p, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// reconFlags are the reconstruction settings quantize and convert share; a zero field means
// the preset's (or the paper's) value.
type reconFlags struct {
	Rounding                   quantizer.Rounding
	RoundWeight, ActLR, BiasLR float64
}

// reconOverrides checks the reconstruction flags quantize and convert share
// (--rounding, --round-weight, --act-lr, --bias-lr); --act-clip-norm is checked here too, since a bad
// value would otherwise surface only after the calibration images are loaded.
func reconOverrides(c *cli.Context) (reconFlags, error) {
	f := reconFlags{RoundWeight: c.Float64("round-weight"), ActLR: c.Float64("act-lr"), BiasLR: c.Float64("bias-lr")}
	var r quantizer.Rounding // "" when not given: the preset's
	if s := c.String("rounding"); s != "" {
		var err error
		if r, err = quantizer.ParseRounding(s); err != nil {
			return f, usageError{fmt.Errorf("--rounding %q: want adaround or flexround", s)}
		}
	}
	f.Rounding = r
	switch p := c.Float64("act-clip-norm"); {
	case f.RoundWeight < 0:
		return f, usageError{fmt.Errorf("--round-weight %g: want a positive weight", f.RoundWeight)}
	case f.RoundWeight > 0 && r == quantizer.FlexRound:
		return f, usageError{fmt.Errorf("--round-weight %g: FlexRound has no rounding regulariser; drop it or use --rounding adaround", f.RoundWeight)}
	case f.ActLR < 0:
		return f, usageError{fmt.Errorf("--act-lr %g: want a positive learning rate", f.ActLR)}
	case f.BiasLR < 0:
		return f, usageError{fmt.Errorf("--bias-lr %g: want a positive learning rate, or 0 to keep the float biases", f.BiasLR)}
	case p != 0 && !(p >= 1 && p <= 16):
		return f, usageError{fmt.Errorf("--act-clip-norm %g: want 0 (the paper's 2.4) or an exponent from 1 to 16", p)}
	}
	return f, nil
}

// isDir reports whether path is a folder (an image folder, for data flags).
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
