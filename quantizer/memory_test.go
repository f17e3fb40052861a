package quantizer

import (
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
)

// TestEstimateReconMemory checks the estimate, made from inferred shapes alone, against the
// arrays reconstruction really holds: each block's float output run in ONNX Runtime, block by
// block from the images as reconstructBlocks runs them, with the quantized arrays the same
// size as the float ones.
func TestEstimateReconMemory(t *testing.T) {
	rt := orttest.Runtime(t)
	for _, name := range []string{"resnet20_fmnist.onnx", "mobilenetv2_fmnist.onnx", "imagenet_arch/mobilenet_v2_imagenet_arch.onnx"} {
		t.Run(name, func(t *testing.T) {
			m, err := onnxio.Read("../../shared/models/" + name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := EstimateReconMemory(m)
			if err != nil {
				t.Fatal(err)
			}
			fm, blocks, err := partitioned(m)
			if err != nil {
				t.Fatal(err)
			}
			const n = 2
			x := make([]float32, n*int(ir.NumElements(m.Graph.Inputs[0].Shape[1:])))
			var want ReconMemory
			for i, b := range blocks {
				bm, err := blockModel(fm, b)
				if err != nil {
					t.Fatal(err)
				}
				y, err := runBlock(rt, bm, nil, x, n)
				if err != nil {
					t.Fatalf("block %s: %v", b.Name, err)
				}
				in, out := int64(4*len(x)/n), int64(4*len(y)/n)
				if i == 0 {
					in = 0 // the images themselves
				}
				if peak := max(2*in+out, in+2*out); peak > want.PerImage {
					want = ReconMemory{PerImage: peak, Block: b.Name}
				}
				x = y
			}
			if got != want {
				t.Errorf("estimate %+v, held %+v", got, want)
			}
			if want.PerImage == 0 {
				t.Error("no memory held")
			}
		})
	}
}
