package quantizer

import (
	"fmt"

	"github.com/sharpq/sharpq/ir"
)

// ReconMemory is the memory block reconstruction holds for its calibration images, which
// grows with their number: every block's input, for the quantized and the float model, and
// its float output, for all the images at once (each training step draws its minibatch from
// all of them).
type ReconMemory struct {
	// PerImage is the bytes each calibration image adds at the peak, beside the image itself.
	PerImage int64
	// Block is the block at which the peak lies.
	Block string
}

// EstimateReconMemory returns the memory reconstruction holds per calibration image of
// float model m (static C×H×W input). It prepares a copy of m as Quantize does (BN folded,
// shapes inferred) and partitions it into blocks; nothing runs.
func EstimateReconMemory(m *ir.Model) (ReconMemory, error) {
	fm, blocks, err := partitioned(m)
	if err != nil {
		return ReconMemory{}, err
	}
	var r ReconMemory
	for i, b := range blocks {
		in, out := valueBytes(fm.Graph, b.Input), valueBytes(fm.Graph, b.Output)
		// While a block trains: its quantized and float inputs and its float output; then,
		// the float input released, its quantized output is computed beside them. The
		// first block's inputs are the calibration images themselves.
		if i == 0 {
			in = 0
		}
		peak := max(2*in+out, in+2*out)
		if peak > r.PerImage {
			r = ReconMemory{PerImage: peak, Block: b.Name}
		}
	}
	return r, nil
}

// partitioned returns a copy of float model m prepared as Quantize prepares it for
// reconstruction (BN folded, fully-connected layers in one form, shapes inferred with a
// dynamic batch), and its blocks.
func partitioned(m *ir.Model) (*ir.Model, []Block, error) {
	fm, err := cloneModel(m)
	if err != nil {
		return nil, nil, err
	}
	if err := ir.Canonicalize(fm); err != nil {
		return nil, nil, fmt.Errorf("quantizer: %w", err)
	}
	if _, err := canonicalLinear(fm.Graph); err != nil {
		return nil, nil, err
	}
	if _, err := FoldBN(fm); err != nil {
		return nil, nil, err
	}
	if err := ir.InferBatchShapes(fm); err != nil {
		return nil, nil, fmt.Errorf("quantizer: %w", err)
	}
	blocks, err := Partition(fm.Graph)
	if err != nil {
		return nil, nil, err
	}
	return fm, blocks, nil
}

// valueBytes is the float32 bytes of one image's value name (batch dimension first).
func valueBytes(g *ir.Graph, name string) int64 {
	v := g.ValueInfo[name]
	if v == nil || len(v.Shape) == 0 {
		return 0
	}
	n := int64(4)
	for _, d := range v.Shape[1:] {
		n *= max(d, 1)
	}
	return n
}
