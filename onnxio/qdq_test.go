package onnxio_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/onnxio/internal/onnxpb"
)

// qrange is the representable range of a quantized type.
func qrange(dt ir.DType) (lo, hi int64) {
	switch dt {
	case ir.Int4:
		return -8, 7
	case ir.Uint4:
		return 0, 15
	case ir.Int8:
		return math.MinInt8, math.MaxInt8
	case ir.Uint8:
		return 0, math.MaxUint8
	}
	panic("qrange: not a quantized type: " + dt.String())
}

// qTensor returns a tensor of the quantized type dt holding v (already in range).
func qTensor(name string, dt ir.DType, shape []int64, v []int64) *ir.Tensor {
	t := &ir.Tensor{Name: name, DType: dt, Shape: shape}
	for _, x := range v {
		switch dt {
		case ir.Int4, ir.Int8:
			t.I8 = append(t.I8, int8(x))
		default:
			t.U8 = append(t.U8, uint8(x))
		}
	}
	return t
}

// qdqCase holds the quantization parameters of the QDQ test model, which the Go reference
// recomputes.
type qdqCase struct {
	wType, aType ir.DType

	aScale float64
	aZero  int64
	wq     []int64 // [cout, cin, k, k] quantized weights
	wScale []float64
	wZero  []int64
	bias   []float32
}

// Shapes of the QDQ model: the x float[2,4,5,5] and weight [3,4,3,3].
const (
	qdqBatch, qdqCin, qdqSize, qdqCout, qdqK = 2, 4, 5, 3, 3
)

// newQDQCase draws weights and zero points from a seeded RNG. Every scale is a power of two,
// so x/scale and (q-zero)*scale are exact in float32: ONNX Runtime and the float64 reference
// then round exactly the same values, ties included.
func newQDQCase(wType, aType ir.DType, seed uint64) *qdqCase {
	r := rand.New(rand.NewPCG(seed, 2))
	c := &qdqCase{wType: wType, aType: aType}
	// Zero points: the middle of the unsigned ranges (as ORT's quantizer picks for symmetric
	// data) and an off-centre one for int8, so that a sign slip would show.
	switch aType {
	case ir.Uint4:
		c.aScale, c.aZero = 1.0/8, 8
	case ir.Uint8:
		c.aScale, c.aZero = 1.0/64, 128
	default:
		c.aScale, c.aZero = 1.0/64, -5
	}
	wlo, whi := qrange(wType)
	n := qdqCout * qdqCin * qdqK * qdqK
	for range n {
		c.wq = append(c.wq, wlo+r.Int64N(whi-wlo+1))
	}
	for o := range qdqCout {
		// int4 steps are coarse, so their scales are larger: 2^-3…2^-5 vs 2^-6…2^-8.
		shift := 3 + o
		if wType == ir.Int8 {
			shift += 3
		}
		c.wScale = append(c.wScale, math.Ldexp(1, -shift))
		c.wZero = append(c.wZero, wlo/2+r.Int64N(whi/2-wlo/2+1)) // within the middle half
		c.bias = append(c.bias, float32(r.NormFloat64()*0.1))
	}
	return c
}

// model builds x → QuantizeLinear → DequantizeLinear → Conv(·, DequantizeLinear(w), bias)
// at opset 21 / IR version 10, the first that define 4-bit types.
func (c *qdqCase) model() *ir.Model {
	g := ir.NewGraph("qdq_conv")
	g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: []int64{qdqBatch, qdqCin, qdqSize, qdqSize}}}
	g.Outputs = []*ir.Value{{Name: "y", DType: ir.Float32, Shape: []int64{qdqBatch, qdqCout, qdqSize, qdqSize}}}
	g.AddInitializer(ir.NewFloat32("x_scale", []int64{}, []float32{float32(c.aScale)}))
	g.AddInitializer(qTensor("x_zero_point", c.aType, []int64{}, []int64{c.aZero}))
	g.AddInitializer(qTensor("w_q", c.wType, []int64{qdqCout, qdqCin, qdqK, qdqK}, c.wq))
	ws := make([]float32, qdqCout)
	for i, s := range c.wScale {
		ws[i] = float32(s)
	}
	g.AddInitializer(ir.NewFloat32("w_scale", []int64{qdqCout}, ws))
	g.AddInitializer(qTensor("w_zero_point", c.wType, []int64{qdqCout}, c.wZero))
	g.AddInitializer(ir.NewFloat32("bias", []int64{qdqCout}, c.bias))
	g.AddNode(&ir.Node{Name: "x_q", OpType: "QuantizeLinear", Inputs: []string{"x", "x_scale", "x_zero_point"}, Outputs: []string{"xq"}})
	g.AddNode(&ir.Node{Name: "x_dq", OpType: "DequantizeLinear", Inputs: []string{"xq", "x_scale", "x_zero_point"}, Outputs: []string{"xd"}})
	g.AddNode(&ir.Node{Name: "w_dq", OpType: "DequantizeLinear", Inputs: []string{"w_q", "w_scale", "w_zero_point"}, Outputs: []string{"wd"},
		Attrs: []ir.Attr{ir.IntAttr("axis", 0)}})
	g.AddNode(&ir.Node{Name: "conv", OpType: "Conv", Inputs: []string{"xd", "wd", "bias"}, Outputs: []string{"y"},
		Attrs: []ir.Attr{ir.IntsAttr("kernel_shape", qdqK, qdqK), ir.IntsAttr("pads", 1, 1, 1, 1)}})
	return &ir.Model{IRVersion: 10, Opsets: []ir.Opset{{Domain: "", Version: 21}}, ProducerName: "sharpq-test", Graph: g}
}

// input draws x: a third of the values lie exactly halfway between two quantization steps
// (to check round-half-to-even), the rest uniformly over the representable range widened by
// half of it on each side (to check saturation).
func (c *qdqCase) input(seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 3))
	lo, hi := qrange(c.aType)
	min, max := float64(lo-c.aZero)*c.aScale, float64(hi-c.aZero)*c.aScale
	x := make([]float32, qdqBatch*qdqCin*qdqSize*qdqSize)
	for i := range x {
		if i%3 == 0 {
			k := lo - c.aZero + r.Int64N(hi-lo)
			x[i] = float32((float64(k) + 0.5) * c.aScale)
		} else {
			span := max - min
			x[i] = float32(min - span/2 + 2*span*r.Float64())
		}
	}
	return x
}

// reference computes the model in float64: fake-quantised input, dequantised weights,
// direct convolution with padding 1.
func (c *qdqCase) reference(x []float32) []float64 {
	lo, hi := qrange(c.aType)
	xd := make([]float64, len(x))
	for i, v := range x {
		q := int64(math.RoundToEven(float64(v)/c.aScale)) + c.aZero
		q = min(max(q, lo), hi)
		xd[i] = float64(q-c.aZero) * c.aScale
	}
	per := qdqCin * qdqK * qdqK
	wd := make([]float64, len(c.wq))
	for i, q := range c.wq {
		o := i / per
		wd[i] = float64(q-c.wZero[o]) * c.wScale[o]
	}
	out := make([]float64, qdqBatch*qdqCout*qdqSize*qdqSize)
	at := func(n, ch, y, x int) float64 {
		if y < 0 || y >= qdqSize || x < 0 || x >= qdqSize {
			return 0
		}
		return xd[((n*qdqCin+ch)*qdqSize+y)*qdqSize+x]
	}
	for n := range qdqBatch {
		for o := range qdqCout {
			for i := range qdqSize {
				for j := range qdqSize {
					s := float64(c.bias[o])
					for ch := range qdqCin {
						for ky := range qdqK {
							for kx := range qdqK {
								s += at(n, ch, i+ky-1, j+kx-1) * wd[((o*qdqCin+ch)*qdqK+ky)*qdqK+kx]
							}
						}
					}
					out[((n*qdqCout+o)*qdqSize+i)*qdqSize+j] = s
				}
			}
		}
	}
	return out
}

// TestQDQOpset21RunsInORT writes a QDQ convolution with 4- and 8-bit weights and activations,
// checks how the file stores them, and runs it in ONNX Runtime against a float64 reference.
func TestQDQOpset21RunsInORT(t *testing.T) {
	rt := orttest.Runtime(t)
	seed := uint64(1)
	for _, wType := range []ir.DType{ir.Int4, ir.Int8} {
		for _, aType := range []ir.DType{ir.Uint4, ir.Uint8, ir.Int8} {
			seed++
			t.Run(fmt.Sprintf("w%s_a%s", wType, aType), func(t *testing.T) {
				c := newQDQCase(wType, aType, seed)
				path := filepath.Join(t.TempDir(), "qdq.onnx")
				if err := onnxio.Write(path, c.model()); err != nil {
					t.Fatal(err)
				}
				checkStored(t, path, map[string]storedTensor{
					// 4-bit types take ceil(n/2) bytes: 108 weights → 54, 3 zero points → 2.
					"w_q":          {wType, packedLen(wType, qdqCout*qdqCin*qdqK*qdqK)},
					"w_zero_point": {wType, packedLen(wType, qdqCout)},
					"x_zero_point": {aType, packedLen(aType, 1)},
				})
				m, err := onnxio.Read(path)
				if err != nil {
					t.Fatal(err)
				}
				s, err := infer.New(rt, m, qdqBatch)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				x := c.input(seed)
				copy(s.Input(), x)
				if err := s.Run(); err != nil {
					t.Fatal(err)
				}
				want := c.reference(x)
				got := s.Output()
				if len(got) != len(want) {
					t.Fatalf("%d outputs, want %d", len(got), len(want))
				}
				var maxDiff float64
				for i := range want {
					maxDiff = math.Max(maxDiff, math.Abs(float64(got[i])-want[i]))
				}
				// 1e-4: the bound; float32 accumulation of 36 exact products stays far
				// below it, while one activation rounded the other way moves an output by at
				// least scale × |weight| ≈ 2^-6 × 2^-8.
				if maxDiff > 1e-4 {
					t.Fatalf("max |ORT - reference| = %.3g, want <= 1e-4", maxDiff)
				}
				t.Logf("max |ORT - reference| = %.3g", maxDiff)
			})
		}
	}
}

type storedTensor struct {
	dt       ir.DType
	rawBytes int
}

func packedLen(dt ir.DType, n int) int {
	if dt == ir.Int4 || dt == ir.Uint4 {
		return (n + 1) / 2
	}
	return n
}

// checkStored parses the file with the ONNX protobuf schema and checks each named
// initializer's data_type and raw_data length.
func checkStored(t *testing.T, path string, want map[string]storedTensor) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		t.Fatal(err)
	}
	if mp.GetIrVersion() != 10 || len(mp.GetOpsetImport()) != 1 || mp.GetOpsetImport()[0].GetVersion() != 21 {
		t.Errorf("ir_version %d, opsets %v; want 10 and 21", mp.GetIrVersion(), mp.GetOpsetImport())
	}
	found := 0
	for _, tp := range mp.GetGraph().GetInitializer() {
		w, ok := want[tp.GetName()]
		if !ok {
			continue
		}
		found++
		if tp.GetDataType() != int32(w.dt) || len(tp.GetRawData()) != w.rawBytes {
			t.Errorf("initializer %q stored as data_type %d with %d raw bytes, want %d (%s) with %d",
				tp.GetName(), tp.GetDataType(), len(tp.GetRawData()), w.dt, w.dt, w.rawBytes)
		}
	}
	if found != len(want) {
		t.Errorf("found %d of the initializers %v", found, want)
	}
}
