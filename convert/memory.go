package convert

import (
	"fmt"

	"github.com/sharpq/sharpq/generator"
	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/ir"
)

// Constants of the peak-memory estimate. Refinement's: a least-squares fit (on relative error)
// of eleven peaks of eight models measured with /usr/bin/time (scripts/memory-check.sh: one
// batch, so refinement's peak), from 0.63 GB (resnet20 at 32×32, a batch of 64) to 13.4 GB
// (DenseNet-121 at 224×224, a batch of 16), all within 17 % of it; synthesis's: the same fit
// of `sharpq generate`'s peaks, one and two batches at once, of four models at 32×32 and
// 224×224, all within 10 % (BENCHMARKS.md, "Memory at ImageNet size" and "The memory of
// batches synthesised side by side").
const (
	memBase          = 0.03e9 // the process, ONNX Runtime and the model
	memPerGenWeight  = 38     // bytes per generator weight: values, gradients, Adam moments, copies
	memPerActivation = 2.9    // bytes per byte of the float model's activations, per batch image
	// One batch's synthesis: the generator's weights with their gradients and Adam moments,
	// and the float model once, forward and backward.
	memSynthPerGenWeight  = 27.2
	memSynthPerActivation = 0.97
)

// Memory is the estimated peak resident memory of a conversion.
type Memory struct {
	// Bytes is the estimated peak: SADAG refinement, whose graph runs the float and the
	// quantized model forward and backward on a batch and its neighbours, or synthesis (the
	// float model once and a generator per batch, times the batches synthesised at once).
	Bytes int64
	// Fixed is the part of one batch's refinement that does not grow with the batch (mostly
	// the generator's weights); PerImage is what each image of a batch adds.
	Fixed, PerImage int64
	// SynthFixed and SynthPerImage are the same for one batch's synthesis, of which Parallel
	// run at once beside the process's Base.
	Base, SynthFixed, SynthPerImage int64
	// Generator is the bytes of one generator's weights. SADAG writes every synthesised
	// batch's generator to disk (the work folder, or a temporary folder) until its
	// refinement: Disk bytes in all; GENIE keeps none.
	Generator, Disk int64
	// ActivationBytes is the float model's intermediate values for one image.
	ActivationBytes int64
	// Images is how many images are synthesised; Parallel how many batches at once (0: one).
	Images, Parallel int
}

// EstimateMemory estimates the peak resident memory of converting m (static C×H×W input)
// with schedule s and method, with parallel synthesis batches at once (generator.Options'
// Workers). The generator's batch (s.GenBatch) sets most of it: lower it when the estimate
// exceeds the machine's memory.
func EstimateMemory(m *ir.Model, s Schedule, method Method, parallel int) (Memory, error) {
	act, err := activationBytes(m)
	if err != nil {
		return Memory{}, err
	}
	in := m.Graph.Inputs[0].Shape
	weights := generator.ParamCount(int(in[1]), int(in[2]), int(in[3]))
	e := Memory{
		Fixed:           int64(memBase) + memPerGenWeight*weights,
		PerImage:        int64(memPerActivation * float64(act)),
		Base:            int64(memBase),
		SynthFixed:      int64(memSynthPerGenWeight * float64(weights)),
		SynthPerImage:   int64(memSynthPerActivation * float64(act)),
		Generator:       4 * weights,
		ActivationBytes: act,
		Images:          s.Images,
		Parallel:        parallel,
	}
	e.Bytes = e.At(s.GenBatch, method)
	e.Disk = e.DiskAt(s.GenBatch, method)
	return e, nil
}

// DiskAt returns the disk the generators take until refinement with generator batches of
// batch images: one generator per batch for SADAG, none for GENIE.
func (e Memory) DiskAt(batch int, method Method) int64 {
	if method != SADAG {
		return 0
	}
	return int64((e.Images+max(batch, 1)-1)/max(batch, 1)) * e.Generator
}

// At returns the estimated peak with generator batches of batch images.
func (e Memory) At(batch int, method Method) int64 {
	batch = max(batch, 1)
	batches := int64(max(1, (e.Images+batch-1)/batch))
	workers := min(int64(max(e.Parallel, 1)), batches)
	one := e.Fixed + int64(batch)*e.PerImage
	// Finished batches' generators wait on disk, not in memory: the peak is the batches
	// synthesised at once, or one batch's refinement.
	synthesis := e.Base + workers*(e.SynthFixed+int64(batch)*e.SynthPerImage)
	if method == GENIE {
		return synthesis
	}
	return max(one, synthesis)
}

// BatchWithin returns the largest generator batch, at most batch, whose estimate stays within
// limit bytes, or 0 when not even 2 images (the least synthesis takes) do.
func (e Memory) BatchWithin(limit int64, batch int, method Method) int {
	for b := batch; b >= 2; b-- {
		if e.At(b, method) <= limit {
			return b
		}
	}
	return 0
}

// activationBytes sums the float values m's nodes compute for one image.
func activationBytes(m *ir.Model) (int64, error) {
	c, err := infer.Static(m, 1)
	if err != nil {
		return 0, fmt.Errorf("memory estimate: %w", err)
	}
	var n int64
	for _, nd := range c.Graph.Nodes {
		for _, o := range nd.Outputs {
			if v := c.Graph.ValueInfo[o]; v != nil && v.DType == ir.Float32 && v.Static() {
				n += 4 * ir.NumElements(v.Shape)
			}
		}
	}
	return n, nil
}
