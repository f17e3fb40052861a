package onnxio_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
)

// sharedModels lists the real models in ../shared/models that every round-trip test covers.
func sharedModels(t *testing.T) []string {
	t.Helper()
	paths, _ := filepath.Glob("../../shared/models/*.onnx")
	more, _ := filepath.Glob("../../shared/models/imagenet_arch/*.onnx")
	paths = append(paths, more...)
	if len(paths) == 0 {
		t.Skip("../shared/models not found: these tests need the shared model folder beside the repository")
	}
	return paths
}

func TestRoundTripIsStable(t *testing.T) {
	for _, path := range sharedModels(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			m, err := onnxio.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			first, err := onnxio.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			m2, err := onnxio.Decode(first, "")
			if err != nil {
				t.Fatal(err)
			}
			second, err := onnxio.Encode(m2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, second) {
				t.Fatalf("second round trip differs: %d vs %d bytes", len(first), len(second))
			}
			orig, _ := os.ReadFile(path)
			if d := len(first) - len(orig); d > len(orig)/100 || -d > len(orig)/100 {
				t.Errorf("round trip size %d, original %d: more than 1%% apart", len(first), len(orig))
			}
		})
	}
}

func TestFixBatchMakesShapesStatic(t *testing.T) {
	for _, path := range sharedModels(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			m, err := onnxio.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := ir.FixBatch(m, 4); err != nil {
				t.Fatal(err)
			}
			out := m.Graph.Outputs[0]
			if len(out.Shape) != 2 || out.Shape[0] != 4 || out.Shape[1] <= 0 {
				t.Fatalf("output shape %v, want [4 classes]", out.Shape)
			}
			for _, n := range m.Graph.Nodes {
				if n.OpType == "Constant" || n.OpType == "Identity" || n.OpType == "Shape" {
					t.Errorf("node %s survived canonicalisation", n)
				}
			}
		})
	}
}
