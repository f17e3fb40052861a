package quantizer

import (
	"context"
	"fmt"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/ort"
)

// BiasReport is what correctBiases did.
type BiasReport struct {
	Layers int `json:"layers"` // layers whose bias was corrected
	// AgreementBefore and AgreementAfter are the percentages (0–100) of the images on which the
	// quantized simulation's top-1 class is the float model's, before and after.
	AgreementBefore float64 `json:"top1_agreement_before"`
	AgreementAfter  float64 `json:"top1_agreement_after"` // with the corrected biases, even when they are not kept
	// Kept is false when the correction lowered the agreement and the biases were restored:
	// with errors as large as 2-bit round-to-nearest weights leave, shifting every layer's
	// mean can collapse the model onto one class (BENCHMARKS.md).
	Kept bool `json:"kept"`
}

// correctBiases is empirical bias correction (Nagel et al., "Data-Free Quantization", 2019, §4.2
// with measured statistics): for each quantized layer with a bias, in graph order, it
// subtracts from the bias the mean per output channel of the difference between the layer's
// output in the quantized simulation and in the float model fm on the n images, so that the
// quantized layer's outputs are unbiased on them. Each layer is measured with the corrections
// of the layers before it in place. The corrected biases go to p's WeightQuant.Bias, which
// simulate and exportQDQ read; they are kept only if the quantized model then agrees with the
// float model's top-1 class on at least as many of the images as before.
func correctBiases(ctx context.Context, rt *ort.Runtime, fm *ir.Model, p *Plan, images []float32, n int) (BiasReport, error) {
	var r BiasReport
	fpTop, err := topClasses(ctx, rt, fm, images, n)
	if err != nil {
		return r, fmt.Errorf("quantizer: bias correction: %w", err)
	}
	if r.AgreementBefore, err = simAgreement(ctx, rt, fm, p, fpTop, images, n); err != nil {
		return r, err
	}
	saved := make([][]float32, len(p.Weights))
	for i, q := range p.Weights {
		saved[i] = q.Bias
	}
	if r.Layers, err = correctBias(ctx, rt, fm, p, images, n); err != nil {
		return r, err
	}
	if r.AgreementAfter, err = simAgreement(ctx, rt, fm, p, fpTop, images, n); err != nil {
		return r, err
	}
	r.Kept = r.AgreementAfter >= r.AgreementBefore
	if !r.Kept {
		for i, q := range p.Weights {
			q.Bias = saved[i]
		}
	}
	return r, nil
}

// simAgreement is the percentage of the images on which the simulation of p has the top-1
// class fpTop holds.
func simAgreement(ctx context.Context, rt *ort.Runtime, fm *ir.Model, p *Plan, fpTop []int, images []float32, n int) (float64, error) {
	sim, err := simulate(fm, p)
	if err != nil {
		return 0, err
	}
	top, err := topClasses(ctx, rt, sim, images, n)
	if err != nil {
		return 0, fmt.Errorf("quantizer: bias correction: %w", err)
	}
	same := 0
	for i, c := range top {
		if c == fpTop[i] {
			same++
		}
	}
	return 100 * float64(same) / float64(n), nil
}

// topClasses returns m's top-1 class on each of the n images.
func topClasses(ctx context.Context, rt *ort.Runtime, m *ir.Model, images []float32, n int) ([]int, error) {
	batch := min(64, n)
	s, err := infer.New(rt, m, batch)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	classes := int(s.OutShape[len(s.OutShape)-1])
	top := make([]int, 0, n)
	err = runBatches(ctx, s, images, n, batch, func(k int) error {
		y := s.Output()
		for j := 0; j < k; j++ {
			top = append(top, argmax(y[j*classes:(j+1)*classes]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return top, nil
}

// correctBias does correctBiases's corrections and returns how many layers it shifted.
func correctBias(ctx context.Context, rt *ort.Runtime, fm *ir.Model, p *Plan, images []float32, n int) (int, error) {
	nodes := map[string]*ir.Node{}
	for _, node := range fm.Graph.Nodes {
		nodes[node.Name] = node
	}
	type layer struct {
		q    *WeightQuant
		node *ir.Node
	}
	var layers []layer
	var outs []string
	for _, q := range p.Weights {
		node := nodes[q.Node]
		if node == nil || node.Input(2) == "" || layerBias(fm.Graph, q, node) == nil {
			continue // nothing to shift
		}
		layers = append(layers, layer{q, node})
		outs = append(outs, node.Outputs[0])
	}
	if len(layers) == 0 {
		return 0, nil
	}
	fpMeans, err := channelMeans(ctx, rt, fm, outs, images, n)
	if err != nil {
		return 0, fmt.Errorf("quantizer: bias correction: %w", err)
	}
	for i, l := range layers {
		sim, err := simulate(fm, p)
		if err != nil {
			return i, err
		}
		qMeans, err := channelMeans(ctx, rt, sim, outs[i:i+1], images, n)
		if err != nil {
			return i, fmt.Errorf("quantizer: bias correction of %s: %w", l.node.Name, err)
		}
		bias := append([]float32(nil), layerBias(fm.Graph, l.q, l.node)...)
		if len(bias) != len(qMeans[0]) {
			return i, fmt.Errorf("quantizer: bias correction of %s: %d biases for %d channels", l.node.Name, len(bias), len(qMeans[0]))
		}
		for c := range bias {
			bias[c] -= float32(qMeans[0][c] - fpMeans[i][c])
		}
		l.q.Bias = bias
	}
	return len(layers), nil
}

// channelMeans runs m on the n images and returns the mean per channel (axis 1), over images
// and positions, of each of the given values. A single value becomes the graph's only output,
// so that ONNX Runtime computes nothing after it.
func channelMeans(ctx context.Context, rt *ort.Runtime, m *ir.Model, values []string, images []float32, n int) ([][]float64, error) {
	extra := values
	if len(values) == 1 {
		c, err := cloneModel(m)
		if err != nil {
			return nil, err
		}
		g := c.Graph
		vi := g.ValueInfo[values[0]]
		if vi == nil {
			return nil, fmt.Errorf("no shape for %q", values[0])
		}
		g.Outputs = []*ir.Value{{Name: vi.Name, DType: vi.DType, Shape: vi.Shape}}
		ir.PruneDead(g)
		m, extra = c, nil
	}
	batch := min(64, n)
	s, err := infer.NewWithOutputs(rt, m, batch, extra)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	sums := make([][]float64, len(values))
	counts := make([]float64, len(values))
	err = runBatches(ctx, s, images, n, batch, func(k int) error {
		for i, v := range values {
			shape := s.ShapeOf(v)
			if len(shape) < 2 {
				return fmt.Errorf("value %q has shape %v; want a channel axis", v, shape)
			}
			ch := int(shape[1])
			spatial := 1
			for _, d := range shape[2:] {
				spatial *= int(d)
			}
			if sums[i] == nil {
				sums[i] = make([]float64, ch)
			}
			x := s.OutputOf(v)
			for b := 0; b < k; b++ { // padded images do not count
				for cc := 0; cc < ch; cc++ {
					var t float64
					for _, y := range x[(b*ch+cc)*spatial : (b*ch+cc+1)*spatial] {
						t += float64(y)
					}
					sums[i][cc] += t
				}
			}
			counts[i] += float64(k * spatial)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := range sums {
		for cc := range sums[i] {
			sums[i][cc] /= counts[i]
		}
	}
	return sums, nil
}

// runBatches feeds session s the n images in batches of batch (the last one zero-padded) and
// calls f after each run with the number of real images in it.
func runBatches(ctx context.Context, s *infer.Session, images []float32, n, batch int, f func(k int) error) error {
	per := len(images) / n
	for start := 0; start < n; start += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(batch, n-start)
		copy(s.Input(), images[start*per:(start+k)*per])
		clear(s.Input()[k*per:])
		if err := s.Run(); err != nil {
			return err
		}
		if err := f(k); err != nil {
			return err
		}
	}
	return nil
}
