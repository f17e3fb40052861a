package onnxio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio/internal/onnxpb"
)

// initializerModel is the smallest valid model holding t: the graph's only output is the
// initializer itself.
func initializerModel(t *ir.Tensor) *ir.Model {
	g := ir.NewGraph("tensor")
	g.AddInitializer(t)
	g.Outputs = []*ir.Value{{Name: t.Name, DType: t.DType, Shape: t.Shape}}
	return &ir.Model{IRVersion: 10, Opsets: []ir.Opset{{Domain: "", Version: 21}}, Graph: g}
}

// sameTensor compares type, shape and the data slice the type selects, floats bit for bit
// (so NaN and -0 count).
func sameTensor(a, b *ir.Tensor) error {
	if a.DType != b.DType || !slices.Equal(a.Shape, b.Shape) {
		return fmt.Errorf("%s %v, want %s %v", a.DType, a.Shape, b.DType, b.Shape)
	}
	bits32 := func(v []float32) []uint32 {
		out := make([]uint32, len(v))
		for i, f := range v {
			out[i] = math.Float32bits(f)
		}
		return out
	}
	bits64 := func(v []float64) []uint64 {
		out := make([]uint64, len(v))
		for i, f := range v {
			out[i] = math.Float64bits(f)
		}
		return out
	}
	var equal bool
	switch a.DType {
	case ir.Float32:
		equal = slices.Equal(bits32(a.F32), bits32(b.F32))
	case ir.Float64:
		equal = slices.Equal(bits64(a.F64), bits64(b.F64))
	case ir.Int64:
		equal = slices.Equal(a.I64, b.I64)
	case ir.Int32:
		equal = slices.Equal(a.I32, b.I32)
	case ir.Int8, ir.Int4:
		equal = slices.Equal(a.I8, b.I8)
	case ir.Uint8, ir.Uint4, ir.Bool:
		equal = slices.Equal(a.U8, b.U8)
	default:
		equal = bytes.Equal(a.Raw, b.Raw)
	}
	if !equal {
		return fmt.Errorf("data %+v, want %+v", a, b)
	}
	return nil
}

func TestTensorRoundTrip(t *testing.T) {
	// The float values cover what a bit-exact encoding must keep: -0, NaN, ±Inf, the
	// smallest subnormal (math.SmallestNonzeroFloat*) and the largest finite value.
	nan32, inf32 := float32(math.NaN()), float32(math.Inf(1))
	for _, tc := range []struct {
		name string
		t    *ir.Tensor
		// raw, when set, is the exact raw_data Encode must write (4-bit packing).
		raw []byte
	}{
		{name: "float32", t: &ir.Tensor{DType: ir.Float32, Shape: []int64{2, 3},
			F32: []float32{1.5, float32(math.Copysign(0, -1)), nan32, inf32, -inf32, math.SmallestNonzeroFloat32}}},
		{name: "float64", t: &ir.Tensor{DType: ir.Float64, Shape: []int64{3},
			F64: []float64{math.Pi, math.MaxFloat64, math.SmallestNonzeroFloat64}}},
		{name: "int64", t: &ir.Tensor{DType: ir.Int64, Shape: []int64{2, 2},
			I64: []int64{math.MinInt64, -1, 0, math.MaxInt64}}},
		{name: "int32", t: &ir.Tensor{DType: ir.Int32, Shape: []int64{3},
			I32: []int32{math.MinInt32, 7, math.MaxInt32}}},
		{name: "int8", t: &ir.Tensor{DType: ir.Int8, Shape: []int64{4},
			I8: []int8{math.MinInt8, -1, 0, math.MaxInt8}}},
		{name: "uint8", t: &ir.Tensor{DType: ir.Uint8, Shape: []int64{3}, U8: []uint8{0, 128, math.MaxUint8}}},
		{name: "bool", t: &ir.Tensor{DType: ir.Bool, Shape: []int64{3}, U8: []uint8{0, 1, 1}}},
		{name: "scalar", t: &ir.Tensor{DType: ir.Float32, Shape: []int64{}, F32: []float32{2}}},
		{name: "empty", t: &ir.Tensor{DType: ir.Float32, Shape: []int64{0, 4}, F32: []float32{}}},
		// ONNX packs 4-bit values two per byte, the first in the low nibble; -8…7 are stored as
		// their two's-complement nibbles 0x8…0x7.
		{name: "int4 odd count", t: &ir.Tensor{DType: ir.Int4, Shape: []int64{5}, I8: []int8{-8, -1, 0, 7, 3}},
			raw: []byte{0xf8, 0x70, 0x03}},
		{name: "int4 even count", t: &ir.Tensor{DType: ir.Int4, Shape: []int64{2, 2}, I8: []int8{1, -2, -7, 6}},
			raw: []byte{0xe1, 0x69}},
		{name: "int4 scalar", t: &ir.Tensor{DType: ir.Int4, Shape: []int64{}, I8: []int8{-3}}, raw: []byte{0x0d}},
		{name: "int4 empty", t: &ir.Tensor{DType: ir.Int4, Shape: []int64{0}, I8: []int8{}}, raw: []byte{}},
		{name: "uint4 odd count", t: &ir.Tensor{DType: ir.Uint4, Shape: []int64{3}, U8: []uint8{0, 15, 9}},
			raw: []byte{0xf0, 0x09}},
		{name: "uint4 even count", t: &ir.Tensor{DType: ir.Uint4, Shape: []int64{1, 4}, U8: []uint8{8, 1, 15, 15}},
			raw: []byte{0x18, 0xff}},
		// Types sharpq does not compute with travel as raw little-endian bytes.
		{name: "float16", t: &ir.Tensor{DType: ir.Float16, Shape: []int64{2}, Raw: []byte{0x00, 0x3c, 0x00, 0xc0}}},
		{name: "bfloat16", t: &ir.Tensor{DType: ir.BFloat16, Shape: []int64{1}, Raw: []byte{0x80, 0x3f}}},
		{name: "int16", t: &ir.Tensor{DType: ir.Int16, Shape: []int64{2}, Raw: []byte{1, 2, 3, 4}}},
		{name: "uint16", t: &ir.Tensor{DType: ir.Uint16, Shape: []int64{1}, Raw: []byte{0xff, 0xff}}},
		{name: "uint32", t: &ir.Tensor{DType: ir.Uint32, Shape: []int64{1}, Raw: []byte{1, 2, 3, 4}}},
		{name: "uint64", t: &ir.Tensor{DType: ir.Uint64, Shape: []int64{1}, Raw: []byte{1, 2, 3, 4, 5, 6, 7, 8}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.t.Name = "t"
			if tc.raw != nil {
				tp, err := encodeTensor(tc.t)
				if err != nil {
					t.Fatal(err)
				}
				if tp.GetDataType() != int32(tc.t.DType) || !bytes.Equal(tp.GetRawData(), tc.raw) {
					t.Fatalf("encoded as data_type %d raw % x, want %d raw % x", tp.GetDataType(), tp.GetRawData(), tc.t.DType, tc.raw)
				}
			}
			data, err := Encode(initializerModel(tc.t))
			if err != nil {
				t.Fatal(err)
			}
			m, err := Decode(data, "")
			if err != nil {
				t.Fatal(err)
			}
			got := m.Graph.Initializer("t")
			if got == nil {
				t.Fatal("initializer lost")
			}
			if err := sameTensor(got, tc.t); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestEncodeRejectsBadTensors(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    *ir.Tensor
		want string
	}{
		{"short data", &ir.Tensor{Name: "w", DType: ir.Float32, Shape: []int64{2, 2}, F32: []float32{1, 2, 3}}, "data has 3"},
		{"int4 out of range", &ir.Tensor{Name: "w", DType: ir.Int4, Shape: []int64{2}, I8: []int8{-9, 0}}, "int4 value -9"},
		{"uint4 out of range", &ir.Tensor{Name: "w", DType: ir.Uint4, Shape: []int64{1}, U8: []uint8{16}}, "uint4 value 16"},
		{"raw too short", &ir.Tensor{Name: "w", DType: ir.Float16, Shape: []int64{2}, Raw: []byte{0, 0}}, "2 bytes"},
		{"negative dim", &ir.Tensor{Name: "w", DType: ir.Float32, Shape: []int64{-1}, F32: []float32{1}}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encode(initializerModel(tc.t))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"w"`) {
				t.Fatalf("error %v, want one naming \"w\" and containing %q", err, tc.want)
			}
		})
	}
}

func le32(v ...uint32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	return b
}

func le64(v ...uint64) []byte {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], x)
	}
	return b
}

// TestTypedFieldsMatchRawData decodes each tensor twice, once from the type-specific field
// (float_data, double_data, int64_data, int32_data) and once from raw_data, and expects the
// same values. int32_data holds one element per entry, except for 4-bit types where each entry
// holds one packed byte, and 16-bit floats as their bit patterns (ONNX onnx.proto comments).
func TestTypedFieldsMatchRawData(t *testing.T) {
	f32 := []float32{1.5, -2.25, float32(math.Inf(-1))}
	for _, tc := range []struct {
		name  string
		dt    ir.DType
		dims  []int64
		typed func(*onnxpb.TensorProto)
		raw   []byte
	}{
		{"float_data", ir.Float32, []int64{3}, func(tp *onnxpb.TensorProto) { tp.FloatData = f32 },
			le32(math.Float32bits(f32[0]), math.Float32bits(f32[1]), math.Float32bits(f32[2]))},
		{"double_data", ir.Float64, []int64{2}, func(tp *onnxpb.TensorProto) { tp.DoubleData = []float64{math.E, -0.5} },
			le64(math.Float64bits(math.E), math.Float64bits(-0.5))},
		{"int64_data", ir.Int64, []int64{1, 2}, func(tp *onnxpb.TensorProto) { tp.Int64Data = []int64{math.MinInt64, 5} },
			le64(1<<63, 5)},
		{"int32_data int32", ir.Int32, []int64{2}, func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{-1, 1 << 30} },
			le32(math.MaxUint32, 1<<30)},
		{"int32_data int8", ir.Int8, []int64{3}, func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{-128, 0, 127} },
			[]byte{0x80, 0, 0x7f}},
		{"int32_data uint8", ir.Uint8, []int64{2}, func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{0, 255} },
			[]byte{0, 255}},
		{"int32_data bool", ir.Bool, []int64{2}, func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{1, 0} },
			[]byte{1, 0}},
		{"int32_data int4", ir.Int4, []int64{3}, func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{0xf8, 0x07} },
			[]byte{0xf8, 0x07}},
		{"int32_data uint4", ir.Uint4, []int64{4}, func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{0x21, 0xfe} },
			[]byte{0x21, 0xfe}},
		{"int32_data float16", ir.Float16, []int64{2}, func(tp *onnxpb.TensorProto) { tp.Int32Data = []int32{0x3c00, 0xc000} },
			[]byte{0x00, 0x3c, 0x00, 0xc0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typed := &onnxpb.TensorProto{Name: strPtr("t"), DataType: int32Ptr(int32(tc.dt)), Dims: tc.dims}
			tc.typed(typed)
			raw := &onnxpb.TensorProto{Name: strPtr("t"), DataType: int32Ptr(int32(tc.dt)), Dims: tc.dims, RawData: tc.raw}
			fromTyped, err := decodeTensor(typed, "")
			if err != nil {
				t.Fatalf("typed: %v", err)
			}
			fromRaw, err := decodeTensor(raw, "")
			if err != nil {
				t.Fatalf("raw: %v", err)
			}
			if err := sameTensor(fromTyped, fromRaw); err != nil {
				t.Fatal(err)
			}
			if err := fromTyped.Check(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBadTensorData checks that tensors whose data does not fit their declared shape are
// errors that name the tensor, and that nothing is allocated for the declared size first.
func TestBadTensorData(t *testing.T) {
	for _, tc := range []struct {
		name string
		tp   *onnxpb.TensorProto
		want []string
	}{
		{"raw too short",
			&onnxpb.TensorProto{Name: strPtr("conv.weight"), DataType: int32Ptr(int32(ir.Float32)), Dims: []int64{2, 2}, RawData: make([]byte, 15)},
			[]string{`"conv.weight"`, "15 bytes", "want 16"}},
		{"raw too long",
			&onnxpb.TensorProto{Name: strPtr("b"), DataType: int32Ptr(int32(ir.Int64)), Dims: []int64{1}, RawData: make([]byte, 9)},
			[]string{`"b"`, "9 bytes", "want 8"}},
		{"int4 raw for 3 elements needs 2 bytes",
			&onnxpb.TensorProto{Name: strPtr("qw"), DataType: int32Ptr(int32(ir.Int4)), Dims: []int64{3}, RawData: make([]byte, 1)},
			[]string{`"qw"`, "1 bytes", "want 2"}},
		{"empty raw for a declared size",
			&onnxpb.TensorProto{Name: strPtr("e"), DataType: int32Ptr(int32(ir.Float32)), Dims: []int64{3}, RawData: []byte{}},
			[]string{`"e"`, "0 bytes"}},
		{"typed count",
			&onnxpb.TensorProto{Name: strPtr("f"), DataType: int32Ptr(int32(ir.Float32)), Dims: []int64{4}, FloatData: []float32{1, 2}},
			[]string{`"f"`, "2 values", "4 elements"}},
		// 2^31 × 2^31 elements exceed maxElements; a declared size must never be allocated.
		{"huge dims",
			&onnxpb.TensorProto{Name: strPtr("h"), DataType: int32Ptr(int32(ir.Float32)), Dims: []int64{1 << 31, 1 << 31}},
			[]string{`"h"`, "invalid dimensions"}},
		// 2^34 elements (= maxElements) pass the bound but have no data.
		{"large dims without data",
			&onnxpb.TensorProto{Name: strPtr("g"), DataType: int32Ptr(int32(ir.Float64)), Dims: []int64{1 << 17, 1 << 17}},
			[]string{`"g"`, "0 values"}},
		{"negative dim",
			&onnxpb.TensorProto{Name: strPtr("n"), DataType: int32Ptr(int32(ir.Float32)), Dims: []int64{-4}},
			[]string{`"n"`, "invalid dimensions"}},
		{"string type",
			&onnxpb.TensorProto{Name: strPtr("s"), DataType: int32Ptr(int32(ir.String)), Dims: []int64{1}, StringData: [][]byte{[]byte("x")}},
			[]string{`"s"`, "string is not supported"}},
		{"undefined type with raw",
			&onnxpb.TensorProto{Name: strPtr("u"), DataType: int32Ptr(0), Dims: []int64{1}, RawData: []byte{1}},
			[]string{`"u"`, "undefined is not supported"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtimeMem
			before.read()
			_, err := decodeTensor(tc.tp, "")
			after.read()
			if err == nil {
				t.Fatal("decoded, want an error")
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			// 1 MiB: far above what an error path needs, far below any declared size here.
			if d := after.total - before.total; d > 1<<20 {
				t.Errorf("decoding allocated %d bytes", d)
			}
		})
	}
}

// writeExternalModel writes dir/model.onnx whose graph computes y = x + w, with w (float32
// [2,3]) stored in an external file as described by ext; data is written to
// dir/<dataFile> when dataFile is not empty.
func writeExternalModel(t *testing.T, dir string, ext map[string]string, dataFile string, data []byte) string {
	t.Helper()
	g := ir.NewGraph("external")
	g.Inputs = []*ir.Value{{Name: "x", DType: ir.Float32, Shape: []int64{2, 3}}}
	g.AddInitializer(ir.NewFloat32("w", []int64{2, 3}, make([]float32, 6)))
	g.AddNode(&ir.Node{Name: "add", OpType: "Add", Inputs: []string{"x", "w"}, Outputs: []string{"y"}})
	g.Outputs = []*ir.Value{{Name: "y", DType: ir.Float32, Shape: []int64{2, 3}}}
	mp, err := encodeModel(&ir.Model{IRVersion: 8, Opsets: []ir.Opset{{Domain: "", Version: 13}}, Graph: g})
	if err != nil {
		t.Fatal(err)
	}
	tp := mp.Graph.Initializer[0]
	tp.RawData = nil
	tp.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	for _, k := range []string{"location", "offset", "length"} { // a fixed order
		if v, ok := ext[k]; ok {
			tp.ExternalData = append(tp.ExternalData, &onnxpb.StringStringEntryProto{Key: strPtr(k), Value: strPtr(v)})
		}
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "model.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if dataFile != "" {
		p := filepath.Join(dir, dataFile)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestExternalData(t *testing.T) {
	w := []float32{1, -2, 3.5, 0.25, -0, 1e-3}
	wBytes := make([]byte, 0, 24)
	for _, v := range w {
		wBytes = binary.LittleEndian.AppendUint32(wBytes, math.Float32bits(v))
	}
	// 16 bytes of padding before the tensor exercise the offset; 8 after it show that a
	// length shorter than the file is honoured.
	padded := append(append(bytes.Repeat([]byte{0xaa}, 16), wBytes...), bytes.Repeat([]byte{0xbb}, 8)...)
	for _, tc := range []struct {
		name     string
		ext      map[string]string
		dataFile string
		data     []byte
		wantErr  []string
	}{
		{name: "whole file", ext: map[string]string{"location": "w.bin"}, dataFile: "w.bin", data: wBytes},
		{name: "offset and length", ext: map[string]string{"location": "w.bin", "offset": "16", "length": "24"},
			dataFile: "w.bin", data: padded},
		{name: "subfolder", ext: map[string]string{"location": "data/w.bin", "offset": "16"}, dataFile: "data/w.bin", data: padded},
		{name: "dot dot inside folder", ext: map[string]string{"location": "data/../w.bin"}, dataFile: "w.bin", data: wBytes},

		{name: "parent folder", ext: map[string]string{"location": "../w.bin"},
			wantErr: []string{`tensor "w"`, `"../w.bin"`, "leaves the model's folder"}},
		{name: "parent via subfolder", ext: map[string]string{"location": "data/../../w.bin"},
			wantErr: []string{`tensor "w"`, "leaves the model's folder"}},
		{name: "absolute path", ext: map[string]string{"location": "/etc/passwd"},
			wantErr: []string{`tensor "w"`, `"/etc/passwd"`, "leaves the model's folder"}},
		{name: "no location", ext: map[string]string{"offset": "0"},
			wantErr: []string{`tensor "w"`, "without a location"}},
		{name: "missing file", ext: map[string]string{"location": "gone.bin"},
			wantErr: []string{`tensor "w"`, "gone.bin"}},
		{name: "wrong length", ext: map[string]string{"location": "w.bin", "length": "20"}, dataFile: "w.bin", data: wBytes,
			wantErr: []string{`tensor "w"`, "length 20", "want 24"}},
		{name: "file too short", ext: map[string]string{"location": "w.bin", "offset": "8"}, dataFile: "w.bin", data: wBytes,
			wantErr: []string{`tensor "w"`, "w.bin", "offset 8"}},
		{name: "negative offset", ext: map[string]string{"location": "w.bin", "offset": "-4"}, dataFile: "w.bin", data: wBytes,
			wantErr: []string{`tensor "w"`, "offset -4"}},
		{name: "bad offset", ext: map[string]string{"location": "w.bin", "offset": "x"}, dataFile: "w.bin", data: wBytes,
			wantErr: []string{`tensor "w"`, "offset"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := writeExternalModel(t, dir, tc.ext, tc.dataFile, tc.data)
			m, err := Read(path)
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("read succeeded, want an error")
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := ir.NewFloat32("w", []int64{2, 3}, w)
			if err := sameTensor(m.Graph.Initializer("w"), want); err != nil {
				t.Fatal(err)
			}
			// Writing back stores the data inline.
			data, err := Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Decode(data, "")
			if err != nil {
				t.Fatal(err)
			}
			if err := sameTensor(again.Graph.Initializer("w"), want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestExternalDataNeedsAFolder checks that Decode without a base folder refuses external data
// with an error that says so, rather than looking for the file anywhere.
func TestExternalDataNeedsAFolder(t *testing.T) {
	dir := t.TempDir()
	path := writeExternalModel(t, dir, map[string]string{"location": "w.bin"}, "w.bin", make([]byte, 24))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Decode(b, "")
	if err == nil || !strings.Contains(err.Error(), `tensor "w"`) || !strings.Contains(err.Error(), "no base folder") {
		t.Fatalf("error %v, want one saying tensor \"w\"'s external data has no base folder", err)
	}
	if _, err := Decode(b, dir); err != nil {
		t.Fatalf("with the base folder: %v", err)
	}
}

// TestExternalDataDeclaredSizeNotAllocated gives an external tensor a huge declared shape and
// a tiny file: the error must come before a buffer of the declared size is allocated.
func TestExternalDataDeclaredSizeNotAllocated(t *testing.T) {
	dir := t.TempDir()
	path := writeExternalModel(t, dir, map[string]string{"location": "w.bin"}, "w.bin", make([]byte, 24))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(b, &mp); err != nil {
		t.Fatal(err)
	}
	// 2^17 × 2^17 float32 = 64 GiB declared (2^34 elements is maxElements).
	mp.Graph.Initializer[0].Dims = []int64{1 << 17, 1 << 17}
	if b, err = proto.Marshal(&mp); err != nil {
		t.Fatal(err)
	}
	var before, after runtimeMem
	before.read()
	_, err = Decode(b, dir)
	after.read()
	if err == nil || !strings.Contains(err.Error(), `tensor "w"`) {
		t.Fatalf("error %v, want one naming tensor \"w\"", err)
	}
	if d := after.total - before.total; d > 1<<20 {
		t.Errorf("decoding allocated %d bytes for a 24-byte file", d)
	}
}

func TestNotAModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"garbage", []byte{0xff, 0xff, 0xff}, ErrCorrupt},
		{"empty message", []byte{}, ErrNotModel},
		// Field 1 (ir_version) = 8 and nothing else: no graph.
		{"no graph", []byte{0x08, 0x08}, ErrNotModel},
		// A text file (a config, a label list) saved as .onnx is named as such.
		{"text", []byte("model: resnet20\nwbits: 4 # ×2\n"), ErrNotModel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.data, "")
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if text := strings.Contains(fmt.Sprint(err), "a text file"); text != (tc.name == "text") {
				t.Errorf("error %v: says text file %v", err, text)
			}
		})
	}
}

// runtimeMem samples the bytes allocated so far by the whole process.
type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	m.total = s.TotalAlloc
}
