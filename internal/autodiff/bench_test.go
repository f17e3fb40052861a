package autodiff

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/internal/reftest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
)

// benchBatch is the batch size of the whole-model benchmarks: 128, as
// ../shared/bench/torch_reference.py uses, so the two can be compared side by side.
const benchBatch = 128

// BenchmarkModel times one session run of each shared BN model at batch 128: the forward
// alone, and the forward plus the gradient of 0.5·Σlogits²/N with respect to the input
// and every Conv/Gemm weight.
func BenchmarkModel(b *testing.B) {
	for _, arch := range []string{"resnet20_fmnist", "mobilenetv2_fmnist"} {
		for _, withGrad := range []bool{false, true} {
			b.Run(arch+"/"+stepName(withGrad), func(b *testing.B) {
				benchModel(b, reftest.Model(b, sharedDir, arch), benchBatch, withGrad)
			})
		}
	}
}

// imageNetBatch is the batch of the ImageNet-size benchmarks: what --gen-batch 16 runs.
const imageNetBatch = 16

// BenchmarkImageNetModel is BenchmarkModel on the ImageNet-architecture fixtures (torchvision
// resnet18 and mobilenet_v2 at 3×224×224, ../shared/models/imagenet_arch) at batch 16, for
// scripts/bench-engine-imagenet.sh's side-by-side with PyTorch.
func BenchmarkImageNetModel(b *testing.B) {
	for _, arch := range []string{"resnet18", "mobilenet_v2"} {
		for _, withGrad := range []bool{false, true} {
			b.Run(arch+"/"+stepName(withGrad), func(b *testing.B) {
				m, err := onnxio.Read(filepath.Join(sharedDir, "models", "imagenet_arch", arch+"_imagenet_arch.onnx"))
				if err != nil {
					b.Skip(err) // the fixtures are optional: ../shared/models/imagenet_arch/imagenet_arch.py makes them
				}
				benchModel(b, m, imageNetBatch, withGrad)
			})
		}
	}
}

func stepName(withGrad bool) string {
	if withGrad {
		return "forward+backward"
	}
	return "forward"
}

// benchModel times one session run of m at batch: the forward, or with withGrad the forward
// plus the gradient of 0.5·Σlogits²/N with respect to the input and every Conv/Gemm weight.
func benchModel(b *testing.B, m *ir.Model, batch int, withGrad bool) {
	if err := ir.FixBatch(m, int64(batch)); err != nil {
		b.Fatal(err)
	}
	var params []string
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Conv" || n.OpType == "Gemm" {
			params = append(params, n.Inputs[1])
		}
	}
	sort.Strings(params)
	// The weights stay initializers: ORT can pre-pack them, and Grad differentiates
	// with respect to initializers as well as inputs.
	input, logits := m.Graph.Inputs[0].Name, m.Graph.Outputs[0].Name
	outputs := []string{logits}
	if withGrad {
		bl := NewBuilder(m)
		loss := bl.Reshape(bl.Scale(bl.ReduceSumSquare(logits, nil, false), 0.5/float64(batch)), []int64{1})
		if err := bl.Err(); err != nil {
			b.Fatal(err)
		}
		grads, err := Grad(m, loss, append([]string{input}, params...))
		if err != nil {
			b.Fatal(err)
		}
		outputs = append(outputs, grads...)
	}
	data, err := onnxio.Encode(m)
	if err != nil {
		b.Fatal(err)
	}
	var ins, outs []ort.TensorSpec
	for _, v := range m.Graph.Inputs {
		ins = append(ins, ort.TensorSpec{Name: v.Name, DType: ort.Float32, Shape: v.Shape})
	}
	for _, o := range outputs {
		outs = append(outs, ort.TensorSpec{Name: o, DType: ort.Float32, Shape: m.Graph.ValueInfo[o].Shape})
	}
	// SHARPQ_PROFILE=prefix writes an ONNX Runtime profile of each session.
	var cfg ort.SessionConfig
	if p := os.Getenv("SHARPQ_PROFILE"); p != "" {
		cfg.ProfilePrefix = p + "_" + strings.ReplaceAll(b.Name(), "/", "_")
	}
	s, err := orttest.Runtime(b).NewSessionWithOptions(data, ins, outs, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	x := s.Float32(input)
	for i := range x {
		x[i] = float32(i%7) * 0.1
	}
	timeRuns(b, s)
}

// timeRuns times b.N runs of s after one untimed run, in which ONNX Runtime lays out its
// memory.
func timeRuns(b *testing.B, s *ort.Session) {
	b.Helper()
	if err := s.Run(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.Run(); err != nil {
			b.Fatal(err)
		}
	}
}
