package autodiff

import (
	"os"
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
			name := arch + "/forward"
			if withGrad {
				name = arch + "/forward+backward"
			}
			b.Run(name, func(b *testing.B) {
				m := reftest.Model(b, sharedDir, arch)
				if err := ir.FixBatch(m, benchBatch); err != nil {
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
					loss := bl.Reshape(bl.Scale(bl.ReduceSumSquare(logits, nil, false), 0.5/benchBatch), []int64{1})
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
					cfg.ProfilePrefix = p + "_" + strings.ReplaceAll(name, "/", "_")
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
				if err := s.Run(); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := s.Run(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
