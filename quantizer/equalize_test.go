package quantizer_test

import (
	"context"
	"math"
	"testing"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/ir"
	"github.com/sharpq/sharpq/internal/ort"
	"github.com/sharpq/sharpq/internal/ort/orttest"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
)

// TestEqualizeKeepsOutputs equalizes the BN-folded models and checks that ONNX Runtime gives
// the same logits, that every MobileNetV2 depthwise → 1×1 pair was rescaled (and nothing in
// ResNet-20, which has none), and that in each pair channel c's depthwise weights and 1×1
// input weights now have the same range, which is what equalization solves for.
func TestEqualizeKeepsOutputs(t *testing.T) {
	rt := orttest.Runtime(t)
	tests := []struct {
		path  string
		pairs int
	}{
		{"../testmodels/resnet20_fmnist.onnx", 0},
		// 17 inverted residuals, each with one depthwise conv (../shared/models/train_fmnist.py).
		{"../../shared/models/mobilenetv2_fmnist.onnx", 17},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			m, err := onnxio.Read(tc.path)
			if err != nil {
				t.Skip(err)
			}
			const batch = 4
			fm, err := infer.Static(m, batch)
			if err != nil {
				t.Fatal(err)
			}
			if err := ir.Canonicalize(fm); err != nil {
				t.Fatal(err)
			}
			if _, err := quantizer.FoldBN(fm); err != nil {
				t.Fatal(err)
			}
			before := logits(t, rt, fm, batch)
			pairs, err := quantizer.Equalize(fm.Graph)
			if err != nil {
				t.Fatal(err)
			}
			if pairs != tc.pairs {
				t.Errorf("equalized %d pairs, want %d", pairs, tc.pairs)
			}
			after := logits(t, rt, fm, batch)
			var maxDiff float64
			for j, v := range after {
				maxDiff = math.Max(maxDiff, math.Abs(float64(v-before[j])))
			}
			if maxDiff > 1e-3 {
				t.Errorf("max logit change %.3g after equalization", maxDiff)
			}
			checked := 0
			for _, pr := range depthwisePairs(fm.Graph) {
				w1, w2 := fm.Graph.Initializer(pr[0].Input(1)), fm.Graph.Initializer(pr[1].Input(1))
				c := int(w1.Shape[0])
				per1, cout := len(w1.F32)/c, int(w2.Shape[0])
				for ch := range c {
					r1, r2 := 0.0, 0.0
					for i := range per1 {
						r1 = math.Max(r1, math.Abs(float64(w1.F32[ch*per1+i])))
					}
					for o := range cout {
						r2 = math.Max(r2, math.Abs(float64(w2.F32[o*c+ch])))
					}
					if math.Abs(r1-r2) > 1e-5*math.Max(r1, r2) {
						t.Fatalf("%s channel %d: depthwise range %.6g, 1×1 range %.6g after equalization", pr[0].Name, ch, r1, r2)
					}
				}
				checked++
			}
			if checked != tc.pairs {
				t.Errorf("found %d depthwise → 1×1 pairs after equalization, want %d", checked, tc.pairs)
			}
		})
	}
}

// TestEqualizeHelpsMobileNet quantizes MobileNetV2 to W4A4 by rounding to nearest, with and
// without equalization: the 4-bit activations between the depthwise and 1×1 layers cost
// about 3 points without it (91.89 against 89.51 on the 10000 test images, BENCHMARKS.md).
func TestEqualizeHelpsMobileNet(t *testing.T) {
	rt := orttest.Runtime(t)
	m, err := onnxio.Read("../../shared/models/mobilenetv2_fmnist.onnx")
	if err != nil {
		t.Skip(err)
	}
	d, _ := bundled(t)
	cal, test := d.Subset(seq(0, 256)), d.Subset(seq(256, d.N))
	top1 := func(eq bool) float64 {
		o := quantizer.Options{Bits: quantizer.DefaultBits(4, 4), FloatResidual: true, Equalize: eq}
		res, err := quantizer.Quantize(context.Background(), rt, m, cal.X, cal.N, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Check.Agreement < 0.99 {
			t.Errorf("equalize=%v: self-check agreement %.3f", eq, res.Check.Agreement)
		}
		r, err := calib.Evaluate(context.Background(), rt, res.QDQ, test, calib.EvalOptions{Batch: 124})
		if err != nil {
			t.Fatal(err)
		}
		return r.Top1
	}
	plain, eq := top1(false), top1(true)
	t.Logf("W4A4 round-to-nearest on %d held-out images: %.2f plain, %.2f equalized", test.N, plain, eq)
	if !(eq >= plain+1) {
		t.Errorf("equalized top-1 %.2f, plain %.2f: want at least 1 point better", eq, plain)
	}
}

func logits(t *testing.T, rt *ort.Runtime, m *ir.Model, batch int) []float32 {
	t.Helper()
	s, err := infer.New(rt, m, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	x := s.Input()
	for j := range x {
		x[j] = float32(math.Sin(float64(j) * 0.37))
	}
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	return append([]float32{}, s.Output()...)
}

// depthwisePairs returns each depthwise Conv with the 1×1 Conv it feeds through its
// activation (Relu, Clip, or equalization's Min then Relu).
func depthwisePairs(g *ir.Graph) [][2]*ir.Node {
	cons := g.Consumers()
	var out [][2]*ir.Node
	for _, n := range g.Nodes {
		if n.OpType != "Conv" || n.AttrInt("group", 1) == 1 {
			continue
		}
		v := n.Outputs[0]
		for range 3 {
			cs := cons[v]
			if len(cs) != 1 {
				break
			}
			if cs[0].OpType == "Conv" {
				out = append(out, [2]*ir.Node{n, cs[0]})
				break
			}
			v = cs[0].Outputs[0]
		}
	}
	return out
}
