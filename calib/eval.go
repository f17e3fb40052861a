package calib

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/option"
	"github.com/sharpq/sharpq/ort"
)

// EvalOptions controls Evaluate.
type EvalOptions struct {
	Batch int // images per session run; the last batch is zero-padded
	// Progress, when set, is called after each batch with the images done so far.
	Progress func(done, total int)
}

// EvalResult is what Evaluate measured.
type EvalResult struct {
	Accuracy
	Seconds      float64 // wall time of the session runs, excluding session creation
	ImagesPerSec float64
}

// Evaluate runs m over d in ONNX Runtime and measures top-1/top-5 accuracy against d.Labels.
// The dataset's per-image shape must equal the model input's, and every label must be
// non-negative and below the model's number of classes (its output's width): a label out of
// range is an *option.Error named Dataset.Labels, reported before any batch runs.
func Evaluate(ctx context.Context, rt *ort.Runtime, m *ir.Model, d *Dataset, opts EvalOptions) (EvalResult, error) {
	if d.Labels == nil {
		return EvalResult{}, fmt.Errorf("calib: %w", option.Errorf("Dataset.Labels", "%s is empty: evaluation needs the images' labels"))
	}
	if opts.Batch <= 0 {
		return EvalResult{}, fmt.Errorf("calib: %w", option.Errorf("EvalOptions.Batch", "%s = %d: want a positive batch size", opts.Batch))
	}
	// A Dataset built by hand may not hold what N says; Batch would slice past its end.
	if len(d.Labels) != d.N {
		return EvalResult{}, fmt.Errorf("calib: %w", option.Errorf("Dataset.Labels", "%s holds %d labels for %d images", len(d.Labels), d.N))
	}
	if want := d.N * d.SampleLen(); len(d.X) != want {
		return EvalResult{}, fmt.Errorf("calib: %w", option.Errorf("Dataset.X", "%s holds %d values for %d images of %d×%d×%d (%d values)",
			len(d.X), d.N, d.C, d.H, d.W, want))
	}
	if i := negativeLabel(d.Labels); i >= 0 {
		return EvalResult{}, fmt.Errorf("calib: %w", option.Errorf("Dataset.Labels", "%s: label %d of image %d is negative", d.Labels[i], i))
	}
	if err := CheckInputShape(m, d); err != nil {
		return EvalResult{}, err
	}
	batch := opts.Batch
	if d.N < batch {
		batch = d.N
	}
	s, err := infer.New(rt, m, batch)
	if err != nil {
		return EvalResult{}, err
	}
	defer s.Close()
	if len(s.OutShape) != 2 {
		return EvalResult{}, fmt.Errorf("calib: model output shape %v is not [batch, classes]", s.OutShape)
	}
	classes := int(s.OutShape[1])
	// TopK counts a label the model cannot output as wrong, which would only show as a low
	// accuracy after the whole run: refuse it before any batch.
	for i, l := range d.Labels {
		if l >= int64(classes) {
			return EvalResult{}, fmt.Errorf("calib: %w", option.Errorf("Dataset.Labels", "%s: label %d of image %d is not below the model's %d classes", l, i, classes))
		}
	}
	var tally Tally
	in := s.Input()
	start := time.Now()
	for b := 0; b < d.NumBatches(batch); b++ {
		if err := ctx.Err(); err != nil {
			return EvalResult{}, err
		}
		x, labels, n := d.Batch(b, batch)
		copy(in, x)
		clear(in[len(x):])
		if err := s.Run(); err != nil {
			return EvalResult{}, fmt.Errorf("calib: batch %d: %w", b, err)
		}
		tally.Add(s.Output()[:n*classes], classes, labels)
		if opts.Progress != nil {
			opts.Progress(tally.Images, d.N)
		}
	}
	secs := time.Since(start).Seconds()
	return EvalResult{Accuracy: tally.Accuracy(), Seconds: secs, ImagesPerSec: float64(d.N) / secs}, nil
}

// negativeLabel returns the index of the first negative label, or -1 when there is none.
func negativeLabel(labels []int64) int {
	for i, l := range labels {
		if l < 0 {
			return i
		}
	}
	return -1
}

// ErrInputShape is returned (wrapped) when images do not have the shape the model takes:
// resize or convert them (Preprocess.Size, Preprocess.Grayscale), or use other data.
var ErrInputShape = errors.New("images of the wrong shape")

// CheckInputShape reports a clear error when the dataset's images do not have the model
// input's per-image shape [C, H, W].
func CheckInputShape(m *ir.Model, d *Dataset) error {
	if len(m.Graph.Inputs) != 1 {
		return fmt.Errorf("calib: model has %d inputs; sharpq evaluates models with one", len(m.Graph.Inputs))
	}
	if err := ir.CheckStaticInputs(m.Graph); err != nil {
		return fmt.Errorf("calib: %w", err)
	}
	in := m.Graph.Inputs[0]
	want := []int64{int64(d.C), int64(d.H), int64(d.W)}
	if len(in.Shape) != 4 {
		return fmt.Errorf("calib: model input %q has shape %v; sharpq needs NCHW images", in.Name, in.Shape)
	}
	for i, w := range want {
		if in.Shape[i+1] != w {
			return fmt.Errorf("calib: %w: data has images of shape %v but model input %q wants %v", ErrInputShape, want, in.Name, in.Shape[1:])
		}
	}
	return nil
}
