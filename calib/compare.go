package calib

import (
	"context"
	"math"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
)

// CompareResult is what Compare measured: how often a model picks the class its reference
// picks, and how far its outputs lie from the reference's.
type CompareResult struct {
	// Images is the number of images compared.
	Images int
	// Agreement is the percentage (0–100) of images on which the model's top-1 class is the
	// reference's (ties ranked as TopK ranks them).
	Agreement float64
	// OutputSQNR is 10·log10(Σ r² / Σ (y − r)²) in dB over every output value y of the model
	// and r of the reference (+Inf when they are equal).
	OutputSQNR float64
	// MaxDiff is the largest |y − r|.
	MaxDiff float64
	// Model and Reference are the two models' accuracies when the images have labels; nil
	// otherwise.
	Model, Reference *Accuracy
	// Seconds is the wall time of reading the images and running both models on them.
	Seconds float64
}

// Compare runs m and its reference ref (a quantized model and the float model it came from)
// over the images of src in ONNX Runtime, each batch read once for both, and measures how
// often m picks ref's top-1 class and how far its outputs lie from ref's: a check of a
// quantized model on images without labels. With labels it measures both models' accuracy
// too. The two models must take the images' shape and have the same number of classes;
// labels are checked as Evaluate checks them.
func Compare(ctx context.Context, rt *ort.Runtime, m, ref *ir.Model, src Images, opts EvalOptions) (CompareResult, error) {
	var (
		modelTally, refTally Tally
		agree, imgs          int
		sig, noise           float64
		maxDiff              float64
	)
	labels := src.ImageLabels() != nil
	secs, err := runBatches(ctx, rt, []*ir.Model{m, ref}, src, opts, func(outs [][]float32, classes int, l []int64) {
		y, r := outs[0], outs[1]
		for i := 0; i < len(y); i += classes {
			if argmax(y[i:i+classes]) == argmax(r[i:i+classes]) {
				agree++
			}
		}
		for i, v := range y {
			d := float64(v) - float64(r[i])
			sig += float64(r[i]) * float64(r[i])
			noise += d * d
			maxDiff = max(maxDiff, math.Abs(d))
		}
		imgs += len(y) / classes
		if labels {
			modelTally.Add(y, classes, l)
			refTally.Add(r, classes, l)
		}
	})
	if err != nil {
		return CompareResult{}, err
	}
	res := CompareResult{Images: imgs, Agreement: 100 * float64(agree) / float64(imgs), MaxDiff: maxDiff, Seconds: secs}
	res.OutputSQNR = math.Inf(1)
	if noise > 0 {
		res.OutputSQNR = 10 * math.Log10(sig/noise)
	}
	if labels {
		a, b := modelTally.Accuracy(), refTally.Accuracy()
		res.Model, res.Reference = &a, &b
	}
	return res, nil
}

// argmax returns the class ranked first in row, as TopK ranks classes.
func argmax(row []float32) int {
	best := 0
	for j := 1; j < len(row); j++ {
		if ahead(row[j], j, row[best], best) {
			best = j
		}
	}
	return best
}
