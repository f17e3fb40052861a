package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/atomicfile"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/report"
)

// evalFlags let quantize and convert measure the accuracy of the float and the quantized
// model on labelled images before the output is written.
func evalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "eval-data", Usage: "labelled test images (.npy with --eval-labels, a folder of class subfolders, or a folder of images with --eval-labels): report the float and quantized top-1 on them"},
		&cli.StringFlag{Name: "eval-labels", Usage: "labels of an .npy --eval-data (int .npy), or of a folder of images without class subfolders (int .npy in name order, or text: a label a line in name order, or NAME LABEL lines)"},
		&cli.IntFlag{Name: "eval-images", Usage: "evaluate on `N` of the --eval-data images (0 = all): an array's first N, or N spread evenly through a folder"},
		&cli.StringFlag{Name: "eval-mean", DefaultText: "--mean", Usage: "per-channel mean for --eval-data alone (e.g. uint8 test pixels beside already normalised --calib-data given without --mean)"},
		&cli.StringFlag{Name: "eval-std", DefaultText: "--std", Usage: "per-channel std for --eval-data alone"},
		&cli.Float64Flag{Name: "max-drop", DefaultText: "off", Usage: "quality gate: fail with exit status 3 and write nothing when the quantized top-1 on --eval-data is more than this many points below the float model's"},
		&cli.Float64Flag{Name: "min-agreement", DefaultText: "off", Usage: "quality gate without labelled images: fail with exit status 3 and write nothing when the quantized model picks the float model's top-1 class on fewer than this percentage of the self-check's images (the first 256 calibration images; its float_top1_agreement)"},
	}
}

// gateError marks a run that worked but whose model missed the accuracy the user asked for
// (exit status 3), so that a pipeline can tell a rejected model from a failed run.
type gateError struct{ error }

func (e gateError) Unwrap() error { return e.error }

// checkMaxDrop applies --max-drop to acc (measured on --eval-data) before out is written.
func checkMaxDrop(c *cli.Context, acc *report.Accuracy, out string) error {
	if !c.IsSet("max-drop") || acc == nil {
		return nil
	}
	// Top-1 figures are counts over the images in percent; compare at a precision far below
	// one image so that a drop of exactly --max-drop passes.
	drop := math.Round((acc.FloatTop1-acc.Top1)*1e6) / 1e6
	limit := c.Float64("max-drop")
	if drop <= limit {
		return nil
	}
	hint := ""
	if c.String("work-dir") != "" {
		hint = "; --resume with the same --work-dir exports again without recomputing"
	}
	return gateError{fmt.Errorf("--max-drop %g: quantized top-1 %.2f%% is %.2f points below the float model's %.2f%% on %d images; %s not written%s",
		limit, acc.Top1, drop, acc.FloatTop1, acc.Images, out, hint)}
}

// checkMinAgreement applies --min-agreement to the self-check's top-1 agreement with the float
// model before out is written.
func checkMinAgreement(c *cli.Context, check quantizer.SelfCheck, out string) error {
	if !c.IsSet("min-agreement") {
		return nil
	}
	got := math.Round(check.FloatAgreement*1e6) / 1e6
	limit := c.Float64("min-agreement")
	if got >= limit {
		return nil
	}
	hint := ""
	if c.String("work-dir") != "" {
		hint = "; --resume with the same --work-dir exports again without recomputing"
	}
	return gateError{fmt.Errorf("--min-agreement %g: the quantized model picks the float model's top-1 class on %.2f%% of %d calibration images; %s not written%s",
		limit, got, check.Images, out, hint)}
}

// loadEval loads --eval-data (nil without it) and checks it fits model m, so that a mistake
// shows before the long work, not after.
func loadEval(c *cli.Context, m *ir.Model, pre calib.Preprocess) (calib.Images, error) {
	path := c.String("eval-data")
	if v := c.Float64("min-agreement"); c.IsSet("min-agreement") && !(v >= 0 && v <= 100) {
		return nil, usageError{fmt.Errorf("--min-agreement %g: want a percentage of the calibration images, 0 to 100", v)}
	}
	if c.IsSet("max-drop") && !(c.Float64("max-drop") >= 0) {
		return nil, usageError{fmt.Errorf("--max-drop %g: want a number of top-1 points ≥ 0", c.Float64("max-drop"))}
	}
	n := c.Int("eval-images")
	if n < 0 {
		return nil, usageError{fmt.Errorf("--eval-images %d: want 0 (all of them) or more", n)}
	}
	if path == "" {
		for _, f := range []string{"eval-labels", "eval-mean", "eval-std"} {
			if c.String(f) != "" {
				return nil, usageError{fmt.Errorf("--%s needs --eval-data", f)}
			}
		}
		if n > 0 {
			return nil, usageError{fmt.Errorf("--eval-images needs --eval-data")}
		}
		if c.IsSet("max-drop") {
			return nil, usageError{fmt.Errorf("--max-drop needs --eval-data (labelled images to measure the drop on)")}
		}
		return nil, nil
	}
	// --eval-mean/--eval-std, when given, replace --mean/--std for the test images alone.
	for _, f := range []struct {
		flag string
		dst  *[]float32
	}{{"eval-mean", &pre.Mean}, {"eval-std", &pre.Std}} {
		if c.IsSet(f.flag) {
			v, err := parseFloats(f.flag, c.String(f.flag))
			if err != nil {
				return nil, err
			}
			*f.dst = v
		}
	}
	d, err := calib.Open(c.Context, path, c.String("eval-labels"), forModel(c, m, path, pre), n)
	if err != nil {
		return nil, fmt.Errorf("--eval-data: %w", withSizeHint(evalDataNames(c.IsSet("eval-mean"), c.IsSet("eval-std")).Rename(err), m))
	}
	warnNormalisedTwice(logger(c), "--eval-data", path, d, pre, "give it as uint8 pixels or [0,1] floats with --mean/--std (or --eval-mean/--eval-std), or normalised floats without them")
	d = calib.Head(d, n) // an array's first images; a folder's were chosen by Open
	if d.ImageLabels() == nil {
		return nil, usageError{fmt.Errorf("--eval-data %s: needs labels (--eval-labels, or class subfolders)", path)}
	}
	if err := calib.CheckInputShape(m, d); err != nil {
		return nil, fmt.Errorf("--eval-data %s: %w", path, withShapeHint(err))
	}
	// Evaluate refuses these too, but only after the quantization: minutes later.
	if out := m.Graph.Outputs[0].Shape; len(out) == 2 && out[1] > 0 {
		for i, l := range d.ImageLabels() {
			if l >= out[1] {
				return nil, usageError{fmt.Errorf("--eval-labels: label %d of image %d is not below the model's %d classes", l, i, out[1])}
			}
		}
	}
	return d, nil
}

// evaluateBoth measures the float model fp and the quantized model q on d in ONNX Runtime, in
// one pass over the images, and how often q picks fp's top-1 class.
func evaluateBoth(ctx context.Context, rt *ort.Runtime, fp, q *ir.Model, d calib.Images, progress func(done, total int), log func(string, ...any)) (*report.Accuracy, error) {
	labels := option.Names{"Dataset.Labels": "--eval-labels"} // not eval's --labels
	r, err := calib.Compare(ctx, rt, q, fp, d, calib.EvalOptions{Batch: 250, Progress: progress})
	if err != nil {
		return nil, fmt.Errorf("--eval-data: %w", labels.Rename(err))
	}
	a := &report.Accuracy{Images: r.Images, FloatTop1: r.Reference.Top1, FloatTop5: r.Reference.Top5, Top1: r.Model.Top1, Top5: r.Model.Top5, Agreement: r.Agreement}
	log("eval: top-1 %.2f%% quantized, %.2f%% float, on %d images (the float model's class on %.2f%%)", a.Top1, a.FloatTop1, a.Images, a.Agreement)
	return a, nil
}

// accuracyLine is the end of a command's result line when the run was evaluated.
func accuracyLine(a *report.Accuracy) string {
	if a == nil {
		return ""
	}
	return fmt.Sprintf("; top-1 %.2f%% (float %.2f%%) on %d images", a.Top1, a.FloatTop1, a.Images)
}

// gateAndWrite is the end every quantizing command shares: it measures q beside the float
// model m on evalData (when given; open supplies the runtime then), applies --max-drop and
// --min-agreement (to the self-check check), puts back a channels-last input and writes q to
// out atomically. It returns the accuracy (nil
// without evalData) and the bytes written; when a gate refuses the model, the accuracy so far,
// no bytes and a gateError, so that the caller can still report the run.
func gateAndWrite(c *cli.Context, open func() (*ort.Runtime, func(), error), m, q *ir.Model, check quantizer.SelfCheck, evalData calib.Images,
	form inputForm, out string, log func(string, ...any)) (*report.Accuracy, []byte, error) {
	if err := checkMinAgreement(c, check, out); err != nil {
		return nil, nil, err
	}
	if check.Collapsed && evalData == nil && !c.IsSet("min-agreement") {
		log("hint: --eval-data with --max-drop measures such a model on labelled images, and --min-agreement refuses it without them")
	}
	var acc *report.Accuracy
	if evalData != nil {
		rt, done, err := open()
		if err != nil {
			return nil, nil, err
		}
		acc, err = evaluateBoth(c.Context, rt, m, q, evalData, evalProgress(os.Stderr, logger(c)), log)
		done()
		if err != nil {
			return nil, nil, err
		}
	}
	if err := checkMaxDrop(c, acc, out); err != nil {
		return acc, nil, err
	}
	if err := restoreLayout(q, form); err != nil {
		return nil, nil, err
	}
	data, err := onnxio.Encode(q)
	if err != nil {
		return nil, nil, err
	}
	if err := atomicfile.WriteFile(out, data); err != nil {
		return nil, nil, err
	}
	return acc, data, nil
}

// warnNormalisedTwice warns when float data that looks normalised already (it holds negative
// values) is normalised again by --mean/--std: the usual slip with the float32 images that
// sharpq generate and --save-images write. A warning, not an error: a model trained on
// negative inputs could need it.
// hint says what to do instead.
func warnNormalisedTwice(log *slog.Logger, flag, path string, src calib.Images, pre calib.Preprocess, hint string) {
	// Only .npy floats can be normalised already; a folder's pixels are read as [0,1].
	d, ok := src.(interface{ HasNegativeFloats() bool })
	if !ok || !d.HasNegativeFloats() || (len(pre.Mean) == 0 && len(pre.Std) == 0) {
		return
	}
	log.Warn(fmt.Sprintf("%s %s holds negative values, so it looks normalised already, and --mean/--std normalise it again; %s", flag, path, hint))
}
