package ort_test

import (
	"fmt"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
)

// BenchmarkScalarMul times ONNX Runtime's Mul of a tensor by a scalar on the same 204800
// elements in different shapes (a chain of 30 Muls per run; ns/elem is per Mul and element).
// A 1×1 convolution's weight, [1280, 160, 1, 1], takes tens of times as long as the same
// values as [1280, 160], and a depthwise one, [C, 1, 3, 3], ten times as long as [C, 9]: the
// CPU kernels do not merge a dimension of 1 with the others, and go through the elements after
// the last one a run at a time (one element, nine); [C/8, 8, 3, 3] is as fast as [C, 9]. So
// reconstruction quantizes weights with their kernel dimensions folded (quantizer's
// workShape).
func BenchmarkScalarMul(b *testing.B) {
	rt := orttest.Runtime(b)
	const chain = 30
	for _, shape := range [][]int64{{204800}, {1280, 160}, {1280, 160, 1, 1}, {204800, 1}, {22756, 1, 3, 3}, {22756, 9}, {2845, 8, 3, 3}} {
		b.Run(fmt.Sprint(shape), func(b *testing.B) {
			g := ir.NewGraph("scalar_mul")
			g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: shape}}
			g.AddInitializer(ir.NewFloat32("c", []int64{}, []float32{1.0001}))
			prev := "x"
			for i := range chain {
				out := fmt.Sprintf("y%d", i)
				g.AddNode(&ir.Node{Name: out, OpType: "Mul", Inputs: []string{prev, "c"}, Outputs: []string{out}})
				prev = out
			}
			g.Outputs = []*ir.Value{{Name: prev, DType: ir.Float32, Shape: shape}}
			model, err := onnxio.Encode(&ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Version: 17}}, Graph: g})
			if err != nil {
				b.Fatal(err)
			}
			s, err := rt.NewSessionWithOptions(model, []ort.TensorSpec{{Name: "x", DType: ort.Float32, Shape: shape}},
				[]ort.TensorSpec{{Name: prev, DType: ort.Float32, Shape: shape}}, ort.SessionConfig{Optimization: ort.OptimizeNone})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			x := s.Float32("x")
			for i := range x {
				x[i] = float32(i%7) * 0.1
			}
			if err := s.Run(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if err := s.Run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/chain/float64(ir.NumElements(shape)), "ns/elem")
		})
	}
}
