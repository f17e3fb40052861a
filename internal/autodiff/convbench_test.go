package autodiff

import (
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
)

// BenchmarkConvWeightGrad times one Conv's forward and weight gradient in each formulation,
// for the layers whose choice it settles: ResNet-18's 7×7 stem on three channels and a 3×3
// layer of its first stage, at batch 16 (what --gen-batch 16 reconstructs at 224×224).
func BenchmarkConvWeightGrad(b *testing.B) {
	layers := []struct {
		name  string
		x, w  []int64
		attrs []ir.Attr
	}{
		{"stem 7x7 s2 c3", []int64{16, 3, 224, 224}, []int64{64, 3, 7, 7}, []ir.Attr{ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 3, 3, 3, 3)}},
		{"3x3 s1 c64", []int64{16, 64, 56, 56}, []int64{64, 64, 3, 3}, []ir.Attr{ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{"stem 3x3 s2 c3", []int64{16, 3, 224, 224}, []int64{32, 3, 3, 3}, []ir.Attr{ir.IntsAttr("strides", 2, 2), ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{"fmnist stem 3x3 c1", []int64{128, 1, 28, 28}, []int64{16, 1, 3, 3}, []ir.Attr{ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{"fmnist 3x3 c16", []int64{128, 16, 28, 28}, []int64{16, 16, 3, 3}, []ir.Attr{ir.IntsAttr("pads", 1, 1, 1, 1)}},
		{"3x3 c8", []int64{16, 8, 112, 112}, []int64{16, 8, 3, 3}, []ir.Attr{ir.IntsAttr("pads", 1, 1, 1, 1)}},
	}
	forms := map[int]string{dwIm2col: "im2col", dwSwapped: "swapped"}
	for _, l := range layers {
		for _, form := range []int{dwIm2col, dwSwapped} {
			b.Run(l.name+"/"+forms[form], func(b *testing.B) {
				dwOverride = form
				defer func() { dwOverride = -1 }()
				tg := newGraph(ir.Float32, 13)
				y := tg.op("Conv", []string{tg.in("x", l.x...), tg.in("w", l.w...)}, l.attrs...)
				if err := ir.InferShapes(tg.m); err != nil {
					b.Fatal(err)
				}
				bl := NewBuilder(tg.m)
				loss := bl.Reshape(bl.Scale(bl.ReduceSumSquare(y, nil, false), 0.5), []int64{1})
				if err := bl.Err(); err != nil {
					b.Fatal(err)
				}
				grads, err := Grad(tg.m, loss, []string{"w"})
				if err != nil {
					b.Fatal(err)
				}
				data, err := onnxio.Encode(tg.m)
				if err != nil {
					b.Fatal(err)
				}
				ins := []ort.TensorSpec{{Name: "x", DType: ort.Float32, Shape: l.x}, {Name: "w", DType: ort.Float32, Shape: l.w}}
				outs := []ort.TensorSpec{{Name: grads[0], DType: ort.Float32, Shape: l.w}}
				s, err := orttest.Runtime(b).NewSession(data, ins, outs)
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				for _, name := range []string{"x", "w"} {
					v := s.Float32(name)
					for i := range v {
						v[i] = float32(i%7)*0.1 - 0.3
					}
				}
				timeRuns(b, s)
			})
		}
	}
}
