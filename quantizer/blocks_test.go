package quantizer_test

import (
	"testing"

	"github.com/sharpq/sharpq/internal/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
)

func TestPartitionRealModels(t *testing.T) {
	// Block counts follow the architectures in ../shared/models/train_fmnist.py: ResNet-20 has
	// 9 basic blocks, ResNet-18 8; MobileNetV2 has 10 inverted residuals with a shortcut.
	tests := []struct {
		model         string
		residual, all int
		bnNodes       int
		folded        bool
	}{
		{"resnet20_fmnist.onnx", 9, 11, 21, false},
		{"resnet20_fmnist_folded.onnx", 9, 11, 0, true},
		{"resnet18w16_fmnist.onnx", 8, 10, 20, false},
		{"mobilenetv2_fmnist.onnx", 10, 0, 52, false},
		{"mobilenetv2_fmnist_folded.onnx", 10, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.model, func(t *testing.T) {
			m, err := onnxio.Read("../../shared/models/" + tc.model)
			if err != nil {
				t.Skip(err)
			}
			if err := ir.FixBatch(m, 1); err != nil {
				t.Fatal(err)
			}
			blocks, err := quantizer.Partition(m.Graph)
			if err != nil {
				t.Fatal(err)
			}
			res, layers, nodes := 0, 0, 0
			for _, b := range blocks {
				if b.Kind == quantizer.Residual {
					res++
				}
				layers += len(b.Layers)
				nodes += len(b.Nodes)
			}
			if res != tc.residual {
				t.Errorf("%d residual blocks, want %d", res, tc.residual)
			}
			if tc.all > 0 && len(blocks) != tc.all {
				t.Errorf("%d blocks, want %d", len(blocks), tc.all)
			}
			if nodes != len(m.Graph.Nodes) {
				t.Errorf("blocks cover %d nodes, graph has %d", nodes, len(m.Graph.Nodes))
			}
			want := 0
			for _, n := range m.Graph.Nodes {
				if quantizer.IsQuantizable(m.Graph, n) {
					want++
				}
			}
			if layers != want {
				t.Errorf("blocks hold %d layers, graph has %d", layers, want)
			}
			bn := quantizer.InspectBN(m.Graph)
			if bn.Nodes != tc.bnNodes || bn.FoldedLike != tc.folded {
				t.Errorf("BN state %+v, want %d nodes, folded %v", bn, tc.bnNodes, tc.folded)
			}
		})
	}
}
