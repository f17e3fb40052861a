package autodiff

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// channelShape is [1, C, 1, …] for an input of shape xs.
func channelShape(xs []int64) []int64 {
	s := make([]int64, len(xs))
	for i := range s {
		s[i] = 1
	}
	s[1] = xs[1]
	return s
}

// batchAxes are the axes batch statistics reduce over: all but the channel axis 1.
func batchAxes(rank int) []int64 {
	return append([]int64{0}, iota64(2, rank)...)
}

// gradBatchNorm differentiates inference-mode BatchNormalization, the per-channel affine map
// y = scale·(x − mean)/sqrt(var + eps) + bias, with respect to all five inputs.
// Training-mode nodes (batch statistics) are refused: build those with BatchNormTrain.
func gradBatchNorm(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	if n.AttrInt("training_mode", 0) != 0 || len(n.Outputs) > 1 && n.Outputs[1] != "" {
		return nil, fmt.Errorf("training-mode BatchNormalization has no gradient rule; write batch statistics with BatchNormTrain")
	}
	x, scale, mean, variance := n.Inputs[0], n.Inputs[1], n.Inputs[3], n.Inputs[4]
	xs := b.Shape(x)
	if xs == nil {
		return nil, b.Err()
	}
	dt := b.DType(x)
	cs := channelShape(xs)
	axes := batchAxes(len(xs))
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	inv := b.Div(b.Scalar(dt, 1), b.Op("Sqrt", []string{b.Add(variance, b.Scalar(dt, eps))})) // [C]
	k := b.Mul(scale, inv)                                                                    // [C]
	dx := make([]string, 5)
	if need[0] {
		dx[0] = b.Mul(dy[0], b.Reshape(k, cs))
	}
	var sumDY, sumDYXhat string
	if need[2] || need[3] {
		sumDY = b.ReduceSum(dy[0], axes, false)
	}
	if need[1] || need[4] {
		xhat := b.Mul(b.Sub(x, b.Reshape(mean, cs)), b.Reshape(inv, cs))
		sumDYXhat = b.ReduceSum(b.Mul(dy[0], xhat), axes, false)
	}
	if need[1] {
		dx[1] = sumDYXhat
	}
	if need[2] {
		dx[2] = sumDY
	}
	if need[3] {
		dx[3] = b.Neg(b.Mul(sumDY, k))
	}
	if need[4] {
		// dy/dvar = −½·scale·(x−mean)·(var+eps)^(−3/2) = −½·k·inv·xhat.
		dx[4] = b.Mul(sumDYXhat, b.Scale(b.Mul(k, inv), -0.5))
	}
	return dx, nil
}

// gradLayerNorm differentiates LayerNormalization, y = (x − μ)/σ·scale + bias with μ and σ²
// the mean and biased variance over the axes from axis on, recomputing the statistics from
// x: dx = (g − mean(g) − x̂·mean(g·x̂))/σ with g = dy·scale and x̂ = (x − μ)/σ; the scale's
// and bias's gradients are dy·x̂ and dy summed to their shapes.
func gradLayerNorm(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	for _, d := range dy[1:] {
		if d != "" {
			return nil, fmt.Errorf("its Mean and InvStdDev outputs (training statistics) have no gradient rule")
		}
	}
	dx := make([]string, len(n.Inputs))
	if dy[0] == "" {
		return dx, nil
	}
	x, scale := n.Inputs[0], n.Inputs[1]
	xs := b.Shape(x)
	if xs == nil {
		return nil, b.Err()
	}
	axis, err := ir.LayerNormAxis(n, len(xs))
	if err != nil {
		return nil, err
	}
	axes := iota64(axis, len(xs))
	dt := b.DType(x)
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	centered := b.Sub(x, b.ReduceMean(x, axes, true))
	variance := b.ReduceMean(b.Mul(centered, centered), axes, true)
	inv := b.Div(b.Scalar(dt, 1), b.Op("Sqrt", []string{b.Add(variance, b.Scalar(dt, eps))}))
	xhat := b.Mul(centered, inv)
	if need[0] {
		g := b.Mul(dy[0], scale)
		gc := b.Sub(g, b.ReduceMean(g, axes, true))
		dx[0] = b.Mul(inv, b.Sub(gc, b.Mul(xhat, b.ReduceMean(b.Mul(g, xhat), axes, true))))
	}
	if need[1] {
		dx[1] = b.SumTo(b.Mul(dy[0], xhat), b.Shape(scale))
	}
	if len(need) > 2 && need[2] {
		dx[2] = b.SumTo(dy[0], b.Shape(n.Inputs[2]))
	}
	return dx, nil
}

// gradInstanceNorm differentiates InstanceNormalization, y = scale·(x − μ)/σ + bias with μ and
// σ² the mean and biased variance of each image's channel over its spatial axes (PyTorch
// exports GroupNorm as one over [N, groups, −1]), as gradLayerNorm does over those axes; the
// per-channel scale and bias gradients are summed over the batch and the spatial axes.
func gradInstanceNorm(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x, scale := n.Inputs[0], n.Inputs[1]
	xs := b.Shape(x)
	if xs == nil {
		return nil, b.Err()
	}
	if len(xs) < 3 {
		return nil, fmt.Errorf("input %q has shape %v; InstanceNormalization needs [N, C, spatial…]", x, xs)
	}
	dt := b.DType(x)
	cs := channelShape(xs)
	axes := iota64(2, len(xs))
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	centered := b.Sub(x, b.ReduceMean(x, axes, true))
	variance := b.ReduceMean(b.Mul(centered, centered), axes, true)
	inv := b.Div(b.Scalar(dt, 1), b.Op("Sqrt", []string{b.Add(variance, b.Scalar(dt, eps))}))
	xhat := b.Mul(centered, inv)
	dx := make([]string, len(n.Inputs))
	if need[0] {
		g := b.Mul(dy[0], b.Reshape(scale, cs))
		gc := b.Sub(g, b.ReduceMean(g, axes, true))
		dx[0] = b.Mul(inv, b.Sub(gc, b.Mul(xhat, b.ReduceMean(b.Mul(g, xhat), axes, true))))
	}
	if need[1] {
		dx[1] = b.ReduceSum(b.Mul(dy[0], xhat), batchAxes(len(xs)), false)
	}
	if len(need) > 2 && need[2] {
		dx[2] = b.ReduceSum(dy[0], batchAxes(len(xs)), false)
	}
	return dx, nil
}

// gradGroupNorm differentiates GroupNormalization: x [N, C, …] normalised over each of
// num_groups groups of C/num_groups channels and all spatial positions, then scaled and
// shifted per channel (opset 21: scale and bias [C]) or per group (opset 18: [num_groups]).
// The statistics are recomputed on the grouped view [N, G, K], as gradLayerNorm does over
// its last axis.
func gradGroupNorm(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	x, scale := n.Inputs[0], n.Inputs[1]
	xs := b.Shape(x)
	ss := b.Shape(scale)
	if xs == nil || ss == nil {
		return nil, b.Err()
	}
	groups := n.AttrInt("num_groups", 0)
	if len(xs) < 3 || groups <= 0 || xs[1]%groups != 0 {
		return nil, fmt.Errorf("input %q has shape %v; GroupNormalization needs [N, C, spatial…] with C a multiple of num_groups %d", x, xs, groups)
	}
	c := xs[1]
	perGroup := len(ss) == 1 && ss[0] == groups && groups != c
	dt := b.DType(x)
	grouped := []int64{xs[0], groups, ir.NumElements(xs[1:]) / groups}
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	xg := b.Reshape(x, grouped)
	centered := b.Sub(xg, b.ReduceMean(xg, []int64{2}, true))
	variance := b.ReduceMean(b.Mul(centered, centered), []int64{2}, true)
	inv := b.Div(b.Scalar(dt, 1), b.Op("Sqrt", []string{b.Add(variance, b.Scalar(dt, eps))}))
	xhat := b.Mul(centered, inv) // [N, G, K]
	// toChannels spreads a per-group vector [G] over the C channels.
	toChannels := func(v string) string {
		return b.Reshape(b.Op("Expand", []string{b.Reshape(v, []int64{groups, 1}), b.Int64s(groups, c/groups)}), []int64{c})
	}
	// toGroups sums a per-channel vector [C] within each group.
	toGroups := func(v string) string {
		return b.ReduceSum(b.Reshape(v, []int64{groups, c / groups}), []int64{1}, false)
	}
	dx := make([]string, len(n.Inputs))
	if need[0] {
		sc := scale
		if perGroup {
			sc = toChannels(scale)
		}
		g := b.Reshape(b.Mul(dy[0], b.Reshape(sc, channelShape(xs))), grouped)
		gc := b.Sub(g, b.ReduceMean(g, []int64{2}, true))
		dx[0] = b.Reshape(b.Mul(inv, b.Sub(gc, b.Mul(xhat, b.ReduceMean(b.Mul(g, xhat), []int64{2}, true)))), xs)
	}
	perChannel := func(v string) string {
		s := b.ReduceSum(v, batchAxes(len(xs)), false)
		if perGroup {
			s = toGroups(s)
		}
		return s
	}
	if need[1] {
		dx[1] = perChannel(b.Mul(dy[0], b.Reshape(xhat, xs)))
	}
	if len(need) > 2 && need[2] {
		dx[2] = perChannel(dy[0])
	}
	return dx, nil
}

// Moments returns the per-channel batch mean and biased variance of x ([N, C, …]) over
// every axis but the channel axis, both shaped [1, C, 1, …]. They are written with
// ReduceMean, Sub and Mul, so their gradients come from those ops' rules.
func Moments(b *Builder, x string) (mean, variance string) {
	mean, variance, _ = moments(b, x)
	return mean, variance
}

func moments(b *Builder, x string) (mean, variance, centered string) {
	xs := b.Shape(x)
	if xs == nil {
		return "", "", ""
	}
	if len(xs) < 2 {
		b.Fail(fmt.Errorf("autodiff: batch statistics of %q: shape %v has no channel axis", x, xs))
		return "", "", ""
	}
	axes := batchAxes(len(xs))
	mean = b.ReduceMean(x, axes, true)
	centered = b.Sub(x, mean)
	variance = b.ReduceMean(b.Mul(centered, centered), axes, true)
	return mean, variance, centered
}

// BatchNormTrain appends batch normalisation with batch statistics (training mode) of x
// ([N, C, …]) and returns the output: (x − mean)/sqrt(var + eps)·scale + bias, with the
// biased variance, as PyTorch's training-mode BatchNorm computes it. scale and bias are
// per-channel [C] values, or "" for none. It is made of primitive ops, so Grad
// differentiates it through their rules.
func BatchNormTrain(b *Builder, x, scale, bias string, eps float64) string {
	_, variance, centered := moments(b, x)
	if centered == "" {
		return ""
	}
	xs := b.Shape(x)
	dt := b.DType(x)
	y := b.Div(centered, b.Op("Sqrt", []string{b.Add(variance, b.Scalar(dt, eps))}))
	cs := channelShape(xs)
	if scale != "" {
		y = b.Mul(y, b.Reshape(scale, cs))
	}
	if bias != "" {
		y = b.Add(y, b.Reshape(bias, cs))
	}
	return y
}

// softmaxAxes returns the axes a Softmax or LogSoftmax node normalises over: its axis alone
// from opset 13 (default −1), every axis from it on before (default 1; the input is
// flattened to 2-D there).
func softmaxAxes(b *Builder, n *ir.Node, rank int) ([]int64, error) {
	def := int64(-1)
	if b.opset < 13 {
		def = 1
	}
	a := n.AttrInt("axis", def)
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return nil, fmt.Errorf("axis %d out of range for rank %d", n.AttrInt("axis", def), rank)
	}
	if b.opset >= 13 {
		return []int64{a}, nil
	}
	var axes []int64
	for i := a; i < int64(rank); i++ {
		axes = append(axes, i)
	}
	return axes, nil
}

// gradSoftmax: y·(dy − Σ dy·y) over the normalised axes.
func gradSoftmax(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	y := n.Outputs[0]
	axes, err := softmaxAxes(b, n, len(b.Shape(y)))
	if err != nil {
		return nil, err
	}
	return unaryGrad(b.Mul(y, b.Sub(dy[0], b.ReduceSum(b.Mul(dy[0], y), axes, true)))), nil
}

// gradLogSoftmax: dy − exp(y)·Σ dy over the normalised axes.
func gradLogSoftmax(b *Builder, n *ir.Node, dy []string, need []bool) ([]string, error) {
	y := n.Outputs[0]
	axes, err := softmaxAxes(b, n, len(b.Shape(y)))
	if err != nil {
		return nil, err
	}
	return unaryGrad(b.Sub(dy[0], b.Mul(b.Op("Exp", []string{y}), b.ReduceSum(dy[0], axes, true)))), nil
}
