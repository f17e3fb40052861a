package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/calib"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "measure top-1/top-5 accuracy and speed of a model in ONNX Runtime",
		Description: "Data is an .npy array of NCHW (or NHW) uint8 or float32 images with --labels, or a folder\n" +
			"with one subfolder of JPEG/PNG images per class, or a folder of the images themselves with\n" +
			"--labels (.npy in name order, or a text file: one label a line in name order, or NAME LABEL\n" +
			"lines, as ImageNet's validation set comes). uint8 pixels are scaled to [0,1] before\n" +
			"--mean/--std, as torchvision's ToTensor and Normalize do.",
		ArgsUsage: "MODEL.onnx",
		Flags: append(append([]cli.Flag{
			modelFlag("ONNX model"),
			&cli.StringFlag{Name: "data", Required: true, Usage: "images: .npy (NCHW uint8/float32), a folder of class subfolders, or a folder of images"},
			&cli.StringFlag{Name: "labels", Usage: "labels of .npy data (int .npy), or of a folder of images without class subfolders (int .npy in name order, or text: a label a line in name order, or NAME LABEL lines)"},
		}, preprocessFlags()...),
			append([]cli.Flag{
				&cli.IntFlag{Name: "batch", Value: 64, Usage: "images per run"},
				&cli.IntFlag{Name: "limit", Usage: "evaluate only `N` images (0 = all): an array's first N, or N spread evenly through a folder, every class in proportion"},
				&cli.BoolFlag{Name: "json", Usage: "print the result as JSON"},
				&cli.Float64Flag{Name: "min-top1", DefaultText: "off", Usage: "quality gate: after printing the result, exit with status 3 when top-1 (in %) is below this"},
				&cli.StringFlag{Name: "reference", Usage: "compare with this `MODEL.onnx` (the float model a quantized one came from) on the same images: top-1 agreement and output SQNR; labels become optional"},
				&cli.Float64Flag{Name: "min-agreement", DefaultText: "off", Usage: "quality gate with --reference: after printing the result, exit with status 3 when the model picks the reference's top-1 class on fewer than this percentage of the images"},
			}, runtimeFlags()...)...),
		Action: func(c *cli.Context) error {
			p, err := preprocessFrom(c)
			if err != nil {
				return err
			}
			return runEval(c, p)
		},
	}
}

func preprocessFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "mean", Usage: "per-channel mean subtracted after scaling: one value or one per channel, comma-separated"},
		&cli.StringFlag{Name: "std", Usage: "per-channel std divided by: one value or one per channel, comma-separated"},
		&cli.IntFlag{Name: "size", Usage: "resize folder images to `N`×N, ignoring their aspect ratio"},
		&cli.IntFlag{Name: "resize", Usage: "resize folder images so that their shorter side is `N`, keeping the aspect ratio (torchvision's Resize(N))"},
		&cli.IntFlag{Name: "crop", Usage: "cut the centre `N`×N out of folder images after --size or --resize (torchvision's CenterCrop(N); --resize 256 --crop 224 is its ImageNet evaluation)"},
		&cli.BoolFlag{Name: "grayscale", Usage: "convert images to one luma channel"},
	}
}

func preprocessFrom(c *cli.Context) (calib.Preprocess, error) {
	mean, err := parseFloats("mean", c.String("mean"))
	if err != nil {
		return calib.Preprocess{}, err
	}
	std, err := parseFloats("std", c.String("std"))
	if err != nil {
		return calib.Preprocess{}, err
	}
	if c.Int("size") > 0 && c.Int("resize") > 0 {
		return calib.Preprocess{}, usageError{fmt.Errorf("--size %d and --resize %d: set one (--size squeezes images to a square, --resize keeps their aspect ratio; add --crop for a square)", c.Int("size"), c.Int("resize"))}
	}
	return calib.Preprocess{Mean: mean, Std: std, Size: c.Int("size"), Resize: c.Int("resize"), Crop: c.Int("crop"), Grayscale: c.Bool("grayscale")}, nil
}

func parseFloats(flag, s string) ([]float32, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []float32
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
		if err != nil {
			return nil, usageError{fmt.Errorf("--%s %q: %q is not a number", flag, s, f)}
		}
		out = append(out, float32(v))
	}
	return out, nil
}

// evalReport is the JSON form of `sharpq eval --json`.
type evalReport struct {
	Model string `json:"model"`
	// Top1 and Top5 are absent for images without labels (with --reference).
	Top1         *float64         `json:"top1,omitempty"`
	Top5         *float64         `json:"top5,omitempty"`
	Images       int              `json:"images"`
	ImagesPerSec float64          `json:"images_per_s"`
	Device       string           `json:"device"`
	Batch        int              `json:"batch"`
	Reference    *referenceReport `json:"reference,omitempty"`
}

// referenceReport is what --reference adds to evalReport: the reference model's accuracy
// (with labels) and how the evaluated model compares with it.
type referenceReport struct {
	Model      string   `json:"model"`
	Top1       *float64 `json:"top1,omitempty"`
	Top5       *float64 `json:"top5,omitempty"`
	Agreement  float64  `json:"top1_agreement"`
	OutputSQNR float64  `json:"output_sqnr_db"` // 200 for identical outputs
	MaxDiff    float64  `json:"max_output_diff"`
}

func runEval(c *cli.Context, p calib.Preprocess) error {
	modelPath, err := modelArg(c)
	if err != nil {
		return err
	}
	if b := c.Int("batch"); b < 1 {
		return usageError{fmt.Errorf("--batch %d: want 1 or more images per run", b)}
	}
	if minTop1 := c.Float64("min-top1"); minTop1 < 0 || minTop1 > 100 {
		return usageError{fmt.Errorf("--min-top1 %g: want a top-1 in %% between 0 and 100", minTop1)}
	}
	if v := c.Float64("min-agreement"); c.IsSet("min-agreement") && !(v >= 0 && v <= 100) {
		return usageError{fmt.Errorf("--min-agreement %g: want a percentage of the images, 0 to 100", v)}
	}
	if c.IsSet("min-agreement") && c.String("reference") == "" {
		return usageError{fmt.Errorf("--min-agreement needs --reference (the model to agree with)")}
	}
	m, _, err := readModel(modelPath, readOptionsOf(c), true)
	if err != nil {
		return err
	}
	limit := c.Int("limit")
	if limit < 0 {
		return usageError{fmt.Errorf("--limit %d: want 0 (all images) or more", limit)}
	}
	// A folder is decoded batch by batch as it is evaluated: ImageNet's validation images
	// would not fit in memory at once.
	d, err := calib.Open(c.Context, c.String("data"), c.String("labels"), forModel(c, m, c.String("data"), p), limit)
	if err != nil {
		return fmt.Errorf("--data: %w", withSizeHint(err, m))
	}
	if d.ImageLabels() == nil && c.String("reference") == "" {
		return usageError{fmt.Errorf("--data %s: needs labels (--labels, or class subfolders), or --reference to compare with", c.String("data"))}
	}
	if d.ImageLabels() == nil && c.IsSet("min-top1") {
		return usageError{fmt.Errorf("--min-top1: --data %s has no labels (--labels, or class subfolders)", c.String("data"))}
	}
	warnNormalisedTwice(logger(c), "--data", c.String("data"), d, p, "give an already normalised array without them")
	d = calib.Head(d, limit) // an array's first images; a folder's were chosen by Open
	rt, err := openRuntime(c)
	if err != nil {
		return err
	}
	defer rt.Close()
	opts := calib.EvalOptions{Batch: c.Int("batch"), Progress: evalProgress(os.Stderr, logger(c))}
	var rep evalReport
	if refPath := c.String("reference"); refPath != "" {
		ref, _, err := readModel(refPath, readOptionsOf(c), true)
		if err != nil {
			return fmt.Errorf("--reference: %w", err)
		}
		res, err := calib.Compare(c.Context, rt, m, ref, d, opts)
		if err != nil {
			return fmt.Errorf("%s against %s: %w", modelPath, refPath, withShapeHint(err))
		}
		rep = evalReport{Model: modelPath, Images: res.Images, ImagesPerSec: float64(res.Images) / res.Seconds, Device: rt.Device(), Batch: opts.Batch,
			Reference: &referenceReport{Model: refPath, Agreement: res.Agreement, OutputSQNR: min(res.OutputSQNR, 200), MaxDiff: res.MaxDiff}}
		if res.Model != nil {
			rep.Top1, rep.Top5 = &res.Model.Top1, &res.Model.Top5
			rep.Reference.Top1, rep.Reference.Top5 = &res.Reference.Top1, &res.Reference.Top5
		}
	} else {
		res, err := calib.Evaluate(c.Context, rt, m, d, opts)
		if err != nil {
			return fmt.Errorf("%s: %w", modelPath, withShapeHint(err))
		}
		rep = evalReport{Model: modelPath, Top1: &res.Top1, Top5: &res.Top5, Images: res.Images, ImagesPerSec: res.ImagesPerSec, Device: rt.Device(), Batch: opts.Batch}
	}
	if err := printEval(c.App.Writer, rep, c.Bool("json")); err != nil {
		return err
	}
	if c.IsSet("min-top1") && rep.Top1 != nil && *rep.Top1 < c.Float64("min-top1") {
		return gateError{fmt.Errorf("--min-top1 %g: %s has top-1 %.2f%% on %d images", c.Float64("min-top1"), modelPath, *rep.Top1, rep.Images)}
	}
	if r := rep.Reference; c.IsSet("min-agreement") && r.Agreement < c.Float64("min-agreement") {
		return gateError{fmt.Errorf("--min-agreement %g: %s picks the top-1 class of %s on %.2f%% of %d images", c.Float64("min-agreement"), modelPath, r.Model, r.Agreement, rep.Images)}
	}
	return nil
}

func printEval(w io.Writer, r evalReport, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	var err error
	if r.Top1 != nil {
		_, err = fmt.Fprintf(w, "%s: top-1 %.2f%%, top-5 %.2f%% on %d images, %.0f images/s (%s, batch %d)\n",
			r.Model, *r.Top1, *r.Top5, r.Images, r.ImagesPerSec, r.Device, r.Batch)
	}
	if ref := r.Reference; ref != nil && err == nil {
		accuracy := ""
		if ref.Top1 != nil {
			accuracy = fmt.Sprintf(" (top-1 %.2f%%, top-5 %.2f%%)", *ref.Top1, *ref.Top5)
		}
		_, err = fmt.Fprintf(w, "%s against %s%s: top-1 agreement %.2f%%, output SQNR %.1f dB, largest output difference %.4g on %d images\n",
			r.Model, ref.Model, accuracy, ref.Agreement, tenths(ref.OutputSQNR), ref.MaxDiff, r.Images)
	}
	return err
}

// isTerminal reports whether f is a character device (a terminal), for progress output.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// tenths rounds x to one decimal, without a minus sign on zero ("0.0 dB", not "-0.0 dB").
func tenths(x float64) float64 {
	r := math.Round(x*10) / 10
	if r == 0 {
		return 0
	}
	return r
}
