package onnxio_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/internal/reftest"
	"github.com/sharpq/sharpq/onnxio"
)

// TestRoundTripLogitsMatchPyTorch writes each model back, runs the written bytes in ONNX
// Runtime, and compares with the logits PyTorch computed (../shared/reference).
func TestRoundTripLogitsMatchPyTorch(t *testing.T) {
	rt := orttest.Runtime(t)
	for _, path := range sharedModels(t) {
		if strings.Contains(path, "imagenet_arch") {
			continue
		}
		name := filepath.Base(path)
		ref := "../../shared/reference/" + strings.SplitN(name, "_", 2)[0]
		t.Run(name, func(t *testing.T) {
			m, err := onnxio.Read(path)
			if err != nil {
				t.Fatal(err)
			}
			data, err := onnxio.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			written, err := onnxio.Decode(data, "")
			if err != nil {
				t.Fatal(err)
			}
			x := reftest.ReadNPY(t, ref+"/input.npy")
			want := reftest.ReadNPY(t, ref+"/logits.npy")
			s, err := infer.New(rt, written, 8)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			copy(s.Input(), x)
			if err := s.Run(); err != nil {
				t.Fatal(err)
			}
			var maxDiff float64
			for i, v := range s.Output() {
				maxDiff = math.Max(maxDiff, math.Abs(float64(v-want[i])))
			}
			// 1e-4 is the bound for float32 kernels that differ between runtimes.
			if maxDiff > 1e-4 {
				t.Fatalf("max |logit - PyTorch| = %.3g, want <= 1e-4", maxDiff)
			}
			t.Logf("max |logit - PyTorch| = %.3g", maxDiff)
		})
	}
}
