package quantizer_test

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
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
		if res.Check.Agreement < 99 {
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

// TestEqualizeStreamsHelpsMobileNet quantizes MobileNetV2 to W3A3 by rounding to nearest,
// after depthwise equalization, with and without stream equalization, calibrated on 256 of
// the bundled images: 81.45 against 79.97 on the other 744 (with 1024 real calibration
// images and the 10000 test images, 80.23 against 67.98, BENCHMARKS.md). The exported model
// must still agree with the simulation.
func TestEqualizeStreamsHelpsMobileNet(t *testing.T) {
	rt := orttest.Runtime(t)
	m, err := onnxio.Read("../../shared/models/mobilenetv2_fmnist.onnx")
	if err != nil {
		t.Skip(err)
	}
	d, _ := bundled(t)
	cal, test := d.Subset(seq(0, 256)), d.Subset(seq(256, d.N))
	top1 := func(streams bool) float64 {
		o := quantizer.Options{Bits: quantizer.DefaultBits(3, 3), FloatResidual: true, Equalize: true, EqualizeStreams: streams}
		res, err := quantizer.Quantize(context.Background(), rt, m, cal.X, cal.N, o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Check.Agreement < 99 {
			t.Errorf("streams=%v: self-check agreement %.3f", streams, res.Check.Agreement)
		}
		r, err := calib.Evaluate(context.Background(), rt, res.QDQ, test, calib.EvalOptions{Batch: 124})
		if err != nil {
			t.Fatal(err)
		}
		return r.Top1
	}
	plain, eq := top1(false), top1(true)
	t.Logf("W3A3 round-to-nearest on %d held-out images: %.2f without stream equalization, %.2f with", test.N, plain, eq)
	if !(eq >= plain+0.5) {
		t.Errorf("with stream equalization top-1 %.2f, without %.2f: want at least 0.5 points better", eq, plain)
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

// TestFindStreams: a stream is rescaled only where every reader can absorb the scale (a Conv
// with group 1, or an Add of the same stream).
func TestFindStreams(t *testing.T) {
	tests := []struct {
		name  string
		build func(b *graphBuilder) *ir.Graph
		want  [][]string // each stream's values
	}{
		{"linear bottlenecks: a residual stream read by 1×1 convs", func(b *graphBuilder) *ir.Graph {
			p0 := b.conv("p0", b.node("Relu", "r0", b.conv("c0", "x", 4)), 4)
			e1 := b.node("Relu", "e1r", b.conv("e1", p0, 4))
			s1 := b.node("Add", "s1", p0, b.conv("p1", e1, 4))
			return b.head(b.node("Relu", "r2", b.conv("e2", s1, 4)), 4)
		}, [][]string{{"p0", "p1", "s1"}}},
		{"ResNet: ReLU after the Add", func(b *graphBuilder) *ir.Graph {
			r0 := b.node("Relu", "r0", b.conv("c0", "x", 4))
			s := b.node("Add", "s", b.conv("c2", b.node("Relu", "r1", b.conv("c1", r0, 4)), 4), r0)
			return b.head(b.node("Relu", "r2", s), 4)
		}, nil},
		{"conv into conv", func(b *graphBuilder) *ir.Graph {
			return b.head(b.node("Relu", "r", b.conv("c1", b.conv("c0", "x", 4), 4)), 4)
		}, [][]string{{"c0"}}},
		{"conv read by a conv and pooling", func(b *graphBuilder) *ir.Graph {
			c0 := b.conv("c0", "x", 4)
			b.conv("c1", c0, 4)
			return b.head(c0, 4)
		}, nil},
		{"conv into a depthwise conv", func(b *graphBuilder) *ir.Graph {
			c0 := b.conv("c0", "x", 4)
			b.g.AddInitializer(ir.NewFloat32("dw.w", []int64{4, 1, 3, 3}, make([]float32, 36)))
			b.node("Conv", "dw", c0, "dw.w")
			b.g.Nodes[len(b.g.Nodes)-1].Attrs = []ir.Attr{ir.IntAttr("group", 4), ir.IntsAttr("pads", 1, 1, 1, 1)}
			return b.head(b.node("Relu", "r", "dw"), 4)
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.build(newGraphBuilder(4))
			var got [][]string
			for _, s := range quantizer.FindStreams(g) {
				got = append(got, s.Values)
				if s.Channels != 4 {
					t.Errorf("stream %v: %d channels, want 4", s.Values, s.Channels)
				}
			}
			if !slices.EqualFunc(got, tc.want, slices.Equal) {
				t.Errorf("streams %v, want %v", got, tc.want)
			}
		})
	}
}

// TestEqualizeStreamsKeepsOutputs equalizes the BN-folded models' streams on 64 test images:
// the logits stay the same, MobileNetV2 has one stream per stage (seven; ResNet-20 none, its
// Adds feed ReLUs), and in every stream each channel's activation range now equals its
// consumers' weight range, which is what the scales solve for.
func TestEqualizeStreamsKeepsOutputs(t *testing.T) {
	rt := orttest.Runtime(t)
	d, _ := bundled(t)
	const n = 64
	x := d.X[:n*len(d.X)/d.N]
	tests := []struct {
		path    string
		streams int
	}{
		{"../testmodels/resnet20_fmnist.onnx", 0},
		{"../../shared/models/mobilenetv2_fmnist.onnx", 7},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			m, err := onnxio.Read(tc.path)
			if err != nil {
				t.Skip(err)
			}
			const batch = 4
			fm := m
			if err := ir.Canonicalize(fm); err != nil {
				t.Fatal(err)
			}
			if _, err := quantizer.FoldBN(fm); err != nil {
				t.Fatal(err)
			}
			if err := ir.InferBatchShapes(fm); err != nil {
				t.Fatal(err)
			}
			before := logits(t, rt, fm, batch)
			got, err := quantizer.EqualizeStreams(context.Background(), rt, fm, x, n)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.streams {
				t.Errorf("equalized %d streams, want %d", got, tc.streams)
			}
			after := logits(t, rt, fm, batch)
			var maxDiff float64
			for j, v := range after {
				maxDiff = math.Max(maxDiff, math.Abs(float64(v-before[j])))
			}
			if maxDiff > 1e-3 {
				t.Errorf("max logit change %.3g after stream equalization", maxDiff)
			}
			streams := quantizer.FindStreams(fm.Graph)
			if len(streams) != tc.streams {
				t.Fatalf("found %d streams after equalization, want %d", len(streams), tc.streams)
			}
			for _, s := range streams {
				act := streamRanges(t, rt, fm, s, x, n)
				for c, a := range act {
					w := 0.0
					for _, cn := range s.Consumers {
						wt := fm.Graph.Initializer(cn.Input(1))
						k := len(wt.F32) / int(wt.Shape[0]) / s.Channels
						for o := range int(wt.Shape[0]) {
							for _, f := range wt.F32[(o*s.Channels+c)*k : (o*s.Channels+c+1)*k] {
								w = math.Max(w, math.Abs(float64(f)))
							}
						}
					}
					if math.Abs(a-w) > 1e-4*math.Max(a, w) {
						t.Fatalf("stream %v channel %d: activation range %.6g, weight range %.6g after equalization", s.Values, c, a, w)
					}
				}
			}
		})
	}
}

// streamRanges returns each channel's largest magnitude over the values of s, on n images.
func streamRanges(t *testing.T, rt *ort.Runtime, m *ir.Model, s quantizer.Stream, x []float32, n int) []float64 {
	t.Helper()
	const batch = 4
	sess, err := infer.NewWithOutputs(rt, m, batch, s.Values)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	r := make([]float64, s.Channels)
	per := len(x) / n
	for start := 0; start < n; start += batch {
		copy(sess.Input(), x[start*per:(start+batch)*per])
		if err := sess.Run(); err != nil {
			t.Fatal(err)
		}
		for _, v := range s.Values {
			out := sess.OutputOf(v)
			sp := len(out) / batch / s.Channels
			for i, f := range out {
				c := i / sp % s.Channels
				r[c] = math.Max(r[c], math.Abs(float64(f)))
			}
		}
	}
	return r
}
