package main

import (
	"context"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/ir"
	"github.com/sharpq/sharpq/internal/ort"
	"github.com/sharpq/sharpq/report"
)

// evalFlags let quantize and convert measure the accuracy of the float and the quantized
// model on labelled images before the output is written.
func evalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "eval-data", Usage: "labelled test images (.npy with --eval-labels, or a folder of class subfolders): report the float and quantized top-1 on them"},
		&cli.StringFlag{Name: "eval-labels", Usage: "labels .npy (int) for an .npy --eval-data"},
	}
}

// loadEval loads --eval-data (nil without it) and checks it fits model m, so that a mistake
// shows before the long work, not after.
func loadEval(c *cli.Context, m *ir.Model, pre calib.Preprocess) (*calib.Dataset, error) {
	path := c.String("eval-data")
	if path == "" {
		if c.String("eval-labels") != "" {
			return nil, usageError{fmt.Errorf("--eval-labels needs --eval-data")}
		}
		return nil, nil
	}
	d, err := calib.Load(path, c.String("eval-labels"), pre)
	if err != nil {
		return nil, fmt.Errorf("--eval-data: %w", err)
	}
	if d.Labels == nil {
		return nil, usageError{fmt.Errorf("--eval-data %s: needs labels (--eval-labels, or class subfolders)", path)}
	}
	if err := calib.CheckInputShape(m, d); err != nil {
		return nil, fmt.Errorf("--eval-data %s: %w", path, err)
	}
	return d, nil
}

// evaluateBoth measures the float model fp and the quantized model q on d in ONNX Runtime.
func evaluateBoth(ctx context.Context, rt *ort.Runtime, fp, q *ir.Model, d *calib.Dataset, log func(string, ...any)) (*report.Accuracy, error) {
	opts := calib.EvalOptions{Batch: 250}
	f, err := calib.Evaluate(ctx, rt, fp, d, opts)
	if err != nil {
		return nil, fmt.Errorf("--eval-data: float model: %w", err)
	}
	r, err := calib.Evaluate(ctx, rt, q, d, opts)
	if err != nil {
		return nil, fmt.Errorf("--eval-data: quantized model: %w", err)
	}
	a := &report.Accuracy{Images: r.Images, FloatTop1: f.Top1, FloatTop5: f.Top5, Top1: r.Top1, Top5: r.Top5}
	log("eval: top-1 %.2f %% quantized, %.2f %% float, on %d images", a.Top1, a.FloatTop1, a.Images)
	return a, nil
}

// accuracyLine is the end of a command's result line when the run was evaluated.
func accuracyLine(a *report.Accuracy) string {
	if a == nil {
		return ""
	}
	return fmt.Sprintf("; top-1 %.2f %% (float %.2f %%) on %d images", a.Top1, a.FloatTop1, a.Images)
}
