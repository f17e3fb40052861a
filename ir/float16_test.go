package ir_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/x448/float16"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/testmodels"
)

// TestPromoteToFloat32 takes the bundled ResNet-20 in the two half-precision forms exporters
// write (float16 throughout; float16 behind a float32 interface), runs each as written in ONNX
// Runtime, and canonicalizes it: the promoted model must hold the float16 weights exactly,
// have no Cast left, and compute in float32 what ORT computed in float16 (up to float16's
// rounding of the activations); SetIOTypes must then give it the half-precision interface
// back, bit for bit on the promoted model's logits.
func TestPromoteToFloat32(t *testing.T) {
	rt := orttest.Runtime(t)
	const batch = 8
	read := func() *ir.Model {
		m, err := onnxio.Read(filepath.Join("../testmodels", testmodels.DefaultModel))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	x := make([]float32, batch*32*32)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range x {
		// Exactly representable in float16, so both interfaces see the same image.
		x[i] = float16.Fromfloat32(float32(rng.NormFloat64())).Float32()
	}
	canonical := read()
	if err := ir.FixBatch(canonical, batch); err != nil {
		t.Fatal(err)
	}
	for _, keepIO := range []bool{false, true} {
		name := map[bool]string{false: "float16 interface", true: "float32 interface"}[keepIO]
		t.Run(name, func(t *testing.T) {
			half := testmodels.AsFloat16(read(), keepIO)
			types := ir.IOTypes(half)
			if err := ir.FixBatch(half, batch); err != nil { // FixBatch changes shapes, not types
				t.Fatal(err)
			}
			written := runAs(t, rt, half, x)

			promoted, err := onnxio.Decode(mustEncode(t, half), "")
			if err != nil {
				t.Fatal(err)
			}
			if err := ir.FixBatch(promoted, batch); err != nil {
				t.Fatal(err)
			}
			for _, n := range promoted.Graph.Nodes {
				if n.OpType == "Cast" {
					t.Errorf("Cast %s left in the promoted model", n)
				}
			}
			if got, want := len(promoted.Graph.Nodes), len(canonical.Graph.Nodes); got != want {
				t.Errorf("promoted model has %d nodes, the float32 model %d", got, want)
			}
			for _, w := range canonical.Graph.Initializers {
				p := promoted.Graph.Initializer(w.Name)
				if w.DType != ir.Float32 {
					continue
				}
				if p == nil || p.DType != ir.Float32 {
					t.Fatalf("initializer %s missing or not float32 after promotion", w.Name)
				}
				for i, v := range w.F32 {
					if want := float16.Fromfloat32(v).Float32(); p.F32[i] != want {
						t.Fatalf("%s[%d] = %g, want %g (float16 of %g)", w.Name, i, p.F32[i], want, v)
					}
				}
			}
			logits := runAs(t, rt, promoted, x)
			top := func(l []float32) []int {
				var idx []int
				for i := 0; i < len(l); i += 10 {
					row := l[i : i+10]
					idx = append(idx, slices.Index(row, slices.Max(row)))
				}
				return idx
			}
			var worst, scale float64
			for i := range logits {
				worst = max(worst, math.Abs(float64(logits[i]-written[i])))
				scale = max(scale, math.Abs(float64(logits[i])))
			}
			if worst > 0.02*scale || !slices.Equal(top(logits), top(written)) {
				t.Errorf("promoted model differs from ORT's float16 run by %.3g (logits up to %.3g), top-1 %v against %v", worst, scale, top(logits), top(written))
			}

			if err := ir.SetIOTypes(promoted, types); err != nil {
				t.Fatal(err)
			}
			for _, v := range slices.Concat(promoted.Graph.Inputs, promoted.Graph.Outputs) {
				if v.DType != types[v.Name] {
					t.Errorf("%s is %s after SetIOTypes, want %s", v.Name, v.DType, types[v.Name])
				}
			}
			back := runAs(t, rt, promoted, x)
			for i, v := range logits {
				if want := float16.Fromfloat32(v).Float32(); !keepIO && back[i] != want || keepIO && back[i] != v {
					t.Fatalf("logit %d: %g with the restored interface, want %g", i, back[i], v)
				}
			}
		})
	}
}

func TestSetIOTypesRefuses(t *testing.T) {
	m := testmodels.TinyResNet(1)
	in, out := m.Graph.Inputs[0].Name, m.Graph.Outputs[0].Name
	for _, tc := range []struct {
		name  string
		types map[string]ir.DType
		want  string
	}{
		{"integer input", map[string]ir.DType{in: ir.Int64}, "only a float32 input can be given type int64"},
		{"integer output", map[string]ir.DType{out: ir.Uint8}, "only a float32 output can be given type uint8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := ir.SetIOTypes(testmodels.TinyResNet(1), tc.types); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if err := ir.SetIOTypes(m, map[string]ir.DType{in: ir.Float32, "elsewhere": ir.Float16}); err != nil || len(m.Graph.Nodes) != len(testmodels.TinyResNet(1).Graph.Nodes) {
		t.Errorf("types already right or of no graph value: %v, %d nodes", err, len(m.Graph.Nodes))
	}
}

func TestWidenHalfPrecision(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    *ir.Tensor
		want []float64
		err  string
	}{
		// float16 0x3C00 = 1, 0xC000 = −2, 0x0001 = 2^−24 (the smallest subnormal), 0x7C00 = +Inf.
		{"float16", &ir.Tensor{Name: "h", DType: ir.Float16, Shape: []int64{4}, Raw: []byte{0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00, 0x00, 0x7C}},
			[]float64{1, -2, math.Ldexp(1, -24), math.Inf(1)}, ""},
		// bfloat16 is float32's top half: 0x3FC0 = 1.5, 0xC2F7 = −123.5.
		{"bfloat16", &ir.Tensor{Name: "b", DType: ir.BFloat16, Shape: []int64{2}, Raw: []byte{0xC0, 0x3F, 0xF7, 0xC2}},
			[]float64{1.5, -123.5}, ""},
		{"truncated", &ir.Tensor{Name: "short", DType: ir.Float16, Shape: []int64{3}, Raw: []byte{0, 0x3C, 0}},
			nil, `tensor "short" (float16): shape [3] holds 3 elements, raw data has 3 bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.t.Float64s()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Float64s() = %v, %v; want %v", got, err, tc.want)
			}
			m := &ir.Model{Graph: ir.NewGraph("g")}
			m.Graph.AddInitializer(tc.t)
			if changed, err := ir.PromoteToFloat32(m); !changed || err != nil {
				t.Fatalf("PromoteToFloat32: %v, %v", changed, err)
			}
			w := m.Graph.Initializer(tc.t.Name)
			for i, v := range tc.want {
				if w.DType != ir.Float32 || float64(w.F32[i]) != v {
					t.Fatalf("promoted %s: %v, want %v", w.DType, w.F32, tc.want)
				}
			}
		})
	}
}

// runAs runs m's single input and output in ONNX Runtime in their own element types (float32
// or float16) on x, and returns the output as float32.
func runAs(t *testing.T, rt *ort.Runtime, m *ir.Model, x []float32) []float32 {
	t.Helper()
	in, out := m.Graph.Inputs[0], m.Graph.Outputs[0]
	kind := func(d ir.DType) ort.DType {
		if d == ir.Float16 {
			return ort.Float16
		}
		return ort.Float32
	}
	s, err := rt.NewSession(mustEncode(t, m),
		[]ort.TensorSpec{{Name: in.Name, DType: kind(in.DType), Shape: in.Shape}},
		[]ort.TensorSpec{{Name: out.Name, DType: kind(out.DType), Shape: out.Shape}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if in.DType == ir.Float16 {
		for i, v := range x {
			s.Float16(in.Name)[i] = float16.Fromfloat32(v).Bits()
		}
	} else {
		copy(s.Float32(in.Name), x)
	}
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	if out.DType != ir.Float16 {
		return slices.Clone(s.Float32(out.Name))
	}
	y := make([]float32, len(s.Float16(out.Name)))
	for i, b := range s.Float16(out.Name) {
		y[i] = float16.Frombits(b).Float32()
	}
	return y
}
