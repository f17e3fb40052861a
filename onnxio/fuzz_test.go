package onnxio_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/onnxio/internal/onnxpb"
	"github.com/sharpq/sharpq/testmodels"
)

// testmodelsFile reads a file bundled in ../testmodels.
func testmodelsFile(name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("..", "testmodels", name))
}

func str(s string) *string { return &s }
func i32(v int32) *int32   { return &v }
func i64(v int64) *int64   { return &v }

// handMadeSeeds are small protobufs that reach the decoder's less common paths: typed data
// fields, 4-bit types, tensor attributes, symbolic dimensions, external data, and shapes
// that declare far more data than is present.
func handMadeSeeds() []*onnxpb.ModelProto {
	opset := []*onnxpb.OperatorSetIdProto{{Domain: str(""), Version: i64(21)}}
	floatValue := func(name string, dims ...any) *onnxpb.ValueInfoProto {
		sp := &onnxpb.TensorShapeProto{}
		for _, d := range dims {
			dim := &onnxpb.TensorShapeProto_Dimension{}
			switch d := d.(type) {
			case int:
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}
			case string:
				dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d}
			}
			sp.Dim = append(sp.Dim, dim)
		}
		return &onnxpb.ValueInfoProto{Name: str(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
			TensorType: &onnxpb.TypeProto_Tensor{ElemType: i32(int32(ir.Float32)), Shape: sp}}}}
	}
	// graph builds y = op(x, init) around one initializer.
	graph := func(op string, init *onnxpb.TensorProto, attrs ...*onnxpb.AttributeProto) *onnxpb.GraphProto {
		return &onnxpb.GraphProto{
			Name:        str("g"),
			Input:       []*onnxpb.ValueInfoProto{floatValue("x", "batch", 3)},
			Output:      []*onnxpb.ValueInfoProto{floatValue("y", "batch", 3)},
			Initializer: []*onnxpb.TensorProto{init},
			Node: []*onnxpb.NodeProto{{Name: str("n"), OpType: str(op), Input: []string{"x", init.GetName()},
				Output: []string{"y"}, Attribute: attrs}},
		}
	}
	model := func(g *onnxpb.GraphProto) *onnxpb.ModelProto {
		return &onnxpb.ModelProto{IrVersion: i64(10), OpsetImport: opset, Graph: g}
	}
	tensor := func(name string, dt ir.DType, dims ...int64) *onnxpb.TensorProto {
		return &onnxpb.TensorProto{Name: str(name), DataType: i32(int32(dt)), Dims: dims}
	}

	floatData := tensor("w", ir.Float32, 3)
	floatData.FloatData = []float32{1, 2, 3}
	int4Typed := tensor("w", ir.Int4, 3)
	int4Typed.Int32Data = []int32{0x1f, 0x08}
	uint4Raw := tensor("w", ir.Uint4, 5)
	uint4Raw.RawData = []byte{0x10, 0x32, 0x04}
	huge := tensor("w", ir.Float32, 1<<17, 1<<17) // 2^34 elements declared, none present
	zeroThenHuge := tensor("w", ir.Float32, 0, 1<<40, 1<<40)
	zeroThenHuge.RawData = []byte{}
	external := tensor("w", ir.Float32, 3)
	external.DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
	external.ExternalData = []*onnxpb.StringStringEntryProto{{Key: str("location"), Value: str("w.bin")}, {Key: str("length"), Value: str("12")}}
	f16 := tensor("w", ir.Float16, 2)
	f16.Int32Data = []int32{0x3c00, 0x4000}

	constValue := tensor("", ir.Int64, 2)
	constValue.Int64Data = []int64{0, -1}
	withConstant := graph("Reshape", constValue)
	withConstant.Initializer = nil
	withConstant.Node = append([]*onnxpb.NodeProto{{OpType: str("Constant"), Output: []string{"shape"},
		Attribute: []*onnxpb.AttributeProto{{Name: str("value"), Type: onnxpb.AttributeProto_TENSOR.Enum(), T: constValue}}}},
		withConstant.Node...)
	withConstant.Node[1].Input[1] = "shape"

	return []*onnxpb.ModelProto{
		model(graph("Add", floatData)),
		model(graph("Add", int4Typed)),
		model(graph("Add", uint4Raw)),
		model(graph("Add", huge)),
		model(graph("Add", zeroThenHuge)),
		model(graph("Add", external)),
		model(graph("Add", f16)),
		model(withConstant),
		model(graph("Gemm", floatData,
			&onnxpb.AttributeProto{Name: str("alpha"), Type: onnxpb.AttributeProto_FLOAT.Enum(), F: proto.Float32(0.5)},
			&onnxpb.AttributeProto{Name: str("transB"), Type: onnxpb.AttributeProto_INT.Enum(), I: i64(1)})),
		{IrVersion: i64(10), Graph: &onnxpb.GraphProto{}},
	}
}

// FuzzDecode feeds arbitrary bytes to Decode. Whatever decodes must encode, decode again and
// encode to the same bytes; nothing may panic, hang or allocate for data that is not there.
func FuzzDecode(f *testing.F) {
	tiny, err := onnxio.Encode(testmodels.TinyResNet(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tiny)
	// Truncations cut a field header, a length-delimited field's body, and the last byte.
	for _, n := range []int{1, 2, 10, len(tiny) / 3, len(tiny) / 2, len(tiny) - 1} {
		f.Add(tiny[:n])
	}
	qdq, err := onnxio.Encode(newQDQCase(ir.Int4, ir.Uint4, 1).model())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(qdq)
	// functionModel: nested local functions with attribute references, to be inlined.
	for _, mp := range append(handMadeSeeds(), functionModel()) {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(mp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// The bundled ResNet-20 (1.1 MB) is too big to mutate usefully; its first bytes give the
	// fuzzer the header and first nodes of a real PyTorch export.
	if real, err := testmodelsFile("resnet20_fmnist.onnx"); err == nil {
		f.Add(real[:4096])
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := onnxio.Decode(data, "")
		if err != nil {
			return
		}
		first, err := onnxio.Encode(m)
		if err != nil {
			t.Fatalf("decoded model does not encode: %v", err)
		}
		m2, err := onnxio.Decode(first, "")
		if err != nil {
			t.Fatalf("encoded model does not decode: %v", err)
		}
		second, err := onnxio.Encode(m2)
		if err != nil {
			t.Fatalf("second encode: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("second round trip differs: %d vs %d bytes", len(first), len(second))
		}
	})
}
