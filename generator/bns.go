package generator

import (
	"errors"
	"fmt"
	"math"

	"github.com/sharpq/sharpq/internal/autodiff"
	"github.com/sharpq/sharpq/ir"
)

// ErrNoBNStats is returned (matched with errors.Is; the message names the model) for a model
// without BatchNormalization statistics: its BN layers were folded into the convolutions at
// export, or its architecture has none (SqueezeNet, ConvNeXt's LayerNorm). The BNS loss has
// nothing to match.
var ErrNoBNStats = errors.New("generator: model has no BatchNormalization statistics " + noBNWhy + "; " + reexportHint)

const (
	noBNWhy      = "(BN folded into Conv at export, or an architecture without BN)"
	reexportHint = "if it has BN, re-export from PyTorch with training=TrainingMode.PRESERVE, do_constant_folding=False"
)

type noBNStatsError struct{ model string }

func (e *noBNStatsError) Error() string {
	return fmt.Sprintf("generator: %s has no BatchNormalization statistics %s; %s", e.model, noBNWhy, reexportHint)
}

func (e *noBNStatsError) Is(target error) bool { return target == ErrNoBNStats }

// bnTap is one BatchNormalization node of the float model whose input statistics the BNS loss
// compares with the node's running statistics.
type bnTap struct {
	node    *ir.Node
	x       string    // the node's input, [N, C, …]
	mean    []float64 // running mean
	std     []float64 // sqrt(running variance + epsilon)
	epsilon float64
}

// bnTaps lists m's BatchNormalization nodes with their running statistics, which must be
// constants. name identifies the model in errors.
func bnTaps(m *ir.Model, name string) ([]bnTap, error) {
	var taps []bnTap
	for _, n := range m.Graph.Nodes {
		if n.OpType != "BatchNormalization" || (n.Domain != "" && n.Domain != "ai.onnx") {
			continue
		}
		if len(n.Inputs) < 5 {
			return nil, fmt.Errorf("generator: node %s has %d inputs, want 5", n, len(n.Inputs))
		}
		if n.AttrInt("training_mode", 0) != 0 {
			return nil, fmt.Errorf("generator: node %s is in training mode; the BNS loss needs its running statistics", n)
		}
		stat := func(i int) ([]float64, error) {
			t := m.Graph.Initializer(n.Inputs[i])
			if t == nil {
				return nil, fmt.Errorf("generator: node %s input %d (%q): running statistics must be initializers", n, i, n.Inputs[i])
			}
			v, err := t.Float64s()
			if err != nil {
				return nil, fmt.Errorf("generator: node %s input %d (%q): %w", n, i, n.Inputs[i], err)
			}
			return v, nil
		}
		mean, err := stat(3)
		if err != nil {
			return nil, err
		}
		variance, err := stat(4)
		if err != nil {
			return nil, err
		}
		if len(mean) != len(variance) {
			return nil, fmt.Errorf("generator: node %s: running mean has %d channels, running variance %d", n, len(mean), len(variance))
		}
		eps := float64(n.AttrFloat("epsilon", 1e-5))
		std := make([]float64, len(variance))
		for i, v := range variance {
			std[i] = math.Sqrt(v + eps)
		}
		taps = append(taps, bnTap{node: n, x: n.Inputs[0], mean: mean, std: std, epsilon: eps})
	}
	if len(taps) == 0 {
		return nil, &noBNStatsError{model: name}
	}
	return taps, nil
}

// addBNSLoss appends the BN-statistics loss of DESIGN.md and returns its name (shape [1]):
// Σ_l (‖mean_l − running_mean_l‖² + ‖sqrt(var_l+ε_l) − sqrt(running_var_l+ε_l)‖²) / C_l, with
// the per-channel batch mean and biased variance of each tap's input over every axis but the
// channel axis.
func addBNSLoss(b *autodiff.Builder, taps []bnTap) string {
	terms := make([]string, 0, len(taps))
	for _, t := range taps {
		xs := b.Shape(t.x)
		if xs == nil {
			return ""
		}
		if len(xs) < 2 || xs[1] != int64(len(t.mean)) {
			b.Fail(fmt.Errorf("generator: node %s input %q: shape %v does not fit %d channels of statistics", t.node, t.x, xs, len(t.mean)))
			return ""
		}
		cs := make([]int64, len(xs))
		for i := range cs {
			cs[i] = 1
		}
		cs[1] = xs[1]
		dt := b.DType(t.x)
		mean, variance := autodiff.Moments(b, t.x)
		dMean := b.ReduceSumSquare(b.Sub(mean, b.Floats(dt, cs, t.mean)), nil, false)
		std := b.Op("Sqrt", []string{b.Add(variance, b.Scalar(dt, t.epsilon))})
		dStd := b.ReduceSumSquare(b.Sub(std, b.Floats(dt, cs, t.std)), nil, false)
		terms = append(terms, b.Scale(b.Add(dMean, dStd), 1/float64(xs[1])))
	}
	return b.Reshape(b.Sum(terms...), []int64{1})
}

// addImagePrior appends the image prior and returns its name (shape [1]): the mean over
// images and channels of mean_hw(x)² + (std_hw(x) − 1)², with the unbiased standard deviation
// over the spatial axes (PyTorch's img.std((2, 3)), as shared/bench/torch_reference.py has it).
func addImagePrior(b *autodiff.Builder, img string) string {
	xs := b.Shape(img)
	if xs == nil {
		return ""
	}
	if len(xs) != 4 {
		b.Fail(fmt.Errorf("generator: image %q has shape %v, want [N C H W]", img, xs))
		return ""
	}
	hw := xs[2] * xs[3]
	spatial := []int64{2, 3}
	mean := b.ReduceMean(img, spatial, true)
	centered := b.Sub(img, mean)
	variance := b.Scale(b.ReduceSumSquare(centered, spatial, false), 1/float64(hw-1))
	std := b.Op("Sqrt", []string{variance})
	meanTerm := b.ReduceSumSquare(mean, nil, false)
	stdTerm := b.ReduceSumSquare(b.Sub(std, b.Scalar(b.DType(img), 1)), nil, false)
	return b.Reshape(b.Scale(b.Add(meanTerm, stdTerm), 1/float64(xs[0]*xs[1])), []int64{1})
}
