package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/quantizer"
)

// flagNames maps the library settings that the flags set to the flags, so that an error
// about a setting names the flag the user gave (option.Names.Rename).
func flagNames() option.Names {
	return option.Names{
		"Bits.Weight":        "--wbits",
		"Bits.Activation":    "--abits",
		"Bits.FirstWeight":   "--first-wbits",
		"Bits.SecondInput":   "--second-abits",
		"Bits.LastWeight":    "--last-wbits",
		"Bits.LastInput":     "--last-abits",
		"ReconOptions.Iters": "--iters",
		// convert.Schedule, which the preset fills and these flags override
		"Schedule.Name":          "--preset",
		"Preset.Name":            "--preset",
		"Schedule.Images":        "--images",
		"Schedule.GenBatch":      "--gen-batch",
		"Schedule.GenSteps":      "--gen-steps",
		"Schedule.WarmUpIters":   "--warmup-iters",
		"Schedule.RefineSteps":   "--refine-steps",
		"Schedule.ReconIters":    "--iters",
		"Schedule.RefineLRScale": "--refine-lr-scale",
		"Options.Method":         "--method",
		"Options.Mixtures":       "--mixup",
		"Options.ActClipNorm":    "--act-clip-norm",
		"Options.ExportOpset":    "--export-opset",
		"Options.Rounding":       "--rounding",
		"Schedule.RoundWeight":   "--round-weight",
		"Schedule.LRActStep":     "--act-lr",
		"Schedule.LRBias":        "--bias-lr",
		"Options.Device":         "--device",
		"Options.Threads":        "--threads",
		"Options.LibPath":        "--ort-lib",
		"Options.ORTLibrary":     "--ort-lib",
		"EvalOptions.Batch":      "--batch",
		"Dataset.Labels":         "--labels",
		"Preprocess.Mean":        "--mean",
		"Preprocess.Std":         "--std",
		"Preprocess.Size":        "--size",
		"Preprocess.Resize":      "--resize",
		"Preprocess.Crop":        "--crop",
		"Preprocess.Grayscale":   "--grayscale",
	}
}

// layerBitsNames names each --layer-bits entry of b as the flag's NODE=BITS.
func layerBitsNames(b quantizer.Bits) option.Names {
	names := option.Names{}
	for node := range b.PerLayer {
		names[quantizer.PerLayerName(node)] = "--layer-bits " + node
	}
	return names
}

// evalDataNames names the settings of the test images: --eval-mean and --eval-std where the
// user gave them (they replace --mean and --std for these images), and --eval-labels.
func evalDataNames(evalMean, evalStd bool) option.Names {
	names := option.Names{"Dataset.Labels": "--eval-labels"}
	if evalMean {
		names["Preprocess.Mean"] = "--eval-mean"
	}
	if evalStd {
		names["Preprocess.Std"] = "--eval-std"
	}
	return names
}

// forModel returns pre for reading images at path for model m: an image folder read for a
// model that takes one channel is read as grayscale without --grayscale (a PNG or JPEG is
// decoded to RGB otherwise, which such a model cannot take). Arrays are taken as they are.
func forModel(c *cli.Context, m *ir.Model, path string, pre calib.Preprocess) calib.Preprocess {
	if c.IsSet("grayscale") || len(m.Graph.Inputs) == 0 || len(m.Graph.Inputs[0].Shape) != 4 || m.Graph.Inputs[0].Shape[1] != 1 {
		return pre
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		pre.Grayscale = true
	}
	return pre
}

// withShapeHint adds to an error about images of the wrong shape the flags that fix them.
func withShapeHint(err error) error {
	if errors.Is(err, calib.ErrInputShape) {
		return fmt.Errorf("%w (--size, or --resize and --crop, prepare the images of a folder, and --grayscale makes colour images one channel; or use other data)", err)
	}
	return err
}

// withSizeHint adds to an error about folder images of different sizes the flags that would
// prepare them for m's input.
func withSizeHint(err error, m *ir.Model) error {
	if !errors.Is(err, calib.ErrImageSizes) {
		return err
	}
	if len(m.Graph.Inputs) == 1 {
		if s := m.Graph.Inputs[0].Shape; len(s) == 4 && s[2] > 0 && s[2] == s[3] {
			return usageError{fmt.Errorf("%w (the model takes %d×%d images: --resize %d --crop %[2]d prepares them as torchvision's ImageNet evaluation does, --size %[2]d squeezes them to that)", err, s[2], s[3], s[2]*8/7)}
		}
	}
	return usageError{fmt.Errorf("%w (--size N squeezes them to N×N, --crop N cuts out the centre of each, after --resize)", err)}
}

// workFolderNames maps the field paths a work folder's run.json records (convert.Options' and
// quantizer.Options' fields, quantize's reconstruction under Recon) to the flags that set
// them, so that a refused --resume names the flags whose values differ.
func workFolderNames() map[string]string {
	names := map[string]string{
		"Seed": "--seed", "Recon.Seed": "--seed", "Mirror": "--mirror", "FloatResidual": "--float-residual",
		"Equalize": "--equalize", "EqualizeStreams": "--equalize-streams", "Symmetric": "--sym",
		"AsymmetricActs": "--asym-acts", "BiasCorrection": "--bias-correct", "GenParallel": "--gen-parallel",
		"Schedule.RefineCurrentDirection": "--sadag-direction",
	}
	for setting, flag := range flagNames() {
		switch {
		case strings.HasPrefix(setting, "Options."):
			names[strings.TrimPrefix(setting, "Options.")] = flag
		case strings.HasPrefix(setting, "ReconOptions."):
			names["Recon."+strings.TrimPrefix(setting, "ReconOptions.")] = flag
		case strings.HasPrefix(setting, "Schedule."), strings.HasPrefix(setting, "Bits."):
			names[setting] = flag
		}
	}
	return names
}
