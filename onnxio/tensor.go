package onnxio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio/internal/onnxpb"
)

// maxElements bounds a single tensor so that a corrupt header cannot make us allocate
// terabytes before the data is found to be missing.
const maxElements = 1 << 34

// elemBytes is the stored size of one element of each fixed-width type; 4-bit types are
// handled separately.
var elemBytes = map[ir.DType]int{
	ir.Float32: 4, ir.Float64: 8, ir.Int64: 8, ir.Int32: 4, ir.Int8: 1, ir.Uint8: 1, ir.Bool: 1,
	ir.Float16: 2, ir.BFloat16: 2, ir.Int16: 2, ir.Uint16: 2, ir.Uint32: 4, ir.Uint64: 8,
}

func rawSize(dt ir.DType, n int64) (int64, bool) {
	if dt == ir.Int4 || dt == ir.Uint4 {
		return (n + 1) / 2, true
	}
	b, ok := elemBytes[dt]
	return n * int64(b), ok
}

func decodeTensor(tp *onnxpb.TensorProto, baseDir string) (*ir.Tensor, error) {
	t := &ir.Tensor{Name: tp.GetName(), DType: ir.DType(tp.GetDataType()), Shape: []int64{}}
	n := int64(1)
	for _, d := range tp.GetDims() {
		if d < 0 || (d > 0 && n > maxElements/d) {
			return nil, fmt.Errorf("tensor %q: invalid dimensions %v", t.Name, tp.GetDims())
		}
		n *= d
		t.Shape = append(t.Shape, d)
	}
	raw := tp.GetRawData()
	if tp.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		var err error
		if raw, err = readExternal(tp, baseDir, t.DType, n); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
		}
	}
	if raw != nil || tp.RawData != nil {
		if err := decodeRaw(t, raw, n); err != nil {
			return nil, err
		}
		return t, nil
	}
	if err := decodeTyped(t, tp, n); err != nil {
		return nil, err
	}
	return t, nil
}

func readExternal(tp *onnxpb.TensorProto, baseDir string, dt ir.DType, n int64) ([]byte, error) {
	var location string
	offset, length := int64(0), int64(-1)
	for _, kv := range tp.GetExternalData() {
		var err error
		switch kv.GetKey() {
		case "location":
			location = kv.GetValue()
		case "offset":
			offset, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		case "length":
			length, err = strconv.ParseInt(kv.GetValue(), 10, 64)
		}
		if err != nil {
			return nil, fmt.Errorf("external data %s: %w", kv.GetKey(), err)
		}
	}
	if location == "" {
		return nil, errors.New("external data without a location")
	}
	if baseDir == "" {
		return nil, fmt.Errorf("external data %q cannot be read: no base folder (the model was decoded from memory)", location)
	}
	// A model must not read files outside its own folder.
	clean := filepath.Clean(location)
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("external data location %q leaves the model's folder", location)
	}
	size, ok := rawSize(dt, n)
	if !ok {
		return nil, fmt.Errorf("external data of type %s is not supported", dt)
	}
	if length >= 0 && length != size {
		return nil, fmt.Errorf("external data length %d, want %d bytes for %d elements of %s", length, size, n, dt)
	}
	if offset < 0 {
		return nil, fmt.Errorf("external data offset %d is negative", offset)
	}
	path := filepath.Join(baseDir, clean)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	defer f.Close()
	// Check the file's size before allocating: the declared shape may be far larger than the
	// data that exists.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("external data: %w", err)
	}
	if offset > st.Size() || size > st.Size()-offset {
		return nil, fmt.Errorf("external data %s has %d bytes, need %d at offset %d for %d elements of %s", path, st.Size(), size, offset, n, dt)
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, offset); err != nil {
		return nil, fmt.Errorf("external data %s at offset %d: %w", path, offset, err)
	}
	return buf, nil
}

func decodeRaw(t *ir.Tensor, raw []byte, n int64) error {
	size, ok := rawSize(t.DType, n)
	if !ok {
		return fmt.Errorf("tensor %q: element type %s is not supported", t.Name, t.DType)
	}
	if int64(len(raw)) != size {
		return fmt.Errorf("tensor %q: raw data has %d bytes, want %d for shape %v of %s", t.Name, len(raw), size, t.Shape, t.DType)
	}
	le := binary.LittleEndian
	switch t.DType {
	case ir.Float32:
		t.F32 = make([]float32, n)
		for i := range t.F32 {
			t.F32[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
	case ir.Float64:
		t.F64 = make([]float64, n)
		for i := range t.F64 {
			t.F64[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
	case ir.Int64:
		t.I64 = make([]int64, n)
		for i := range t.I64 {
			t.I64[i] = int64(le.Uint64(raw[8*i:]))
		}
	case ir.Int32:
		t.I32 = make([]int32, n)
		for i := range t.I32 {
			t.I32[i] = int32(le.Uint32(raw[4*i:]))
		}
	case ir.Int8:
		t.I8 = make([]int8, n)
		for i := range t.I8 {
			t.I8[i] = int8(raw[i])
		}
	case ir.Uint8, ir.Bool:
		t.U8 = append([]uint8{}, raw...)
	case ir.Int4:
		t.I8 = make([]int8, n)
		for i := range t.I8 {
			t.I8[i] = int8(nibble(raw, i)<<4) >> 4 // sign-extend
		}
	case ir.Uint4:
		t.U8 = make([]uint8, n)
		for i := range t.U8 {
			t.U8[i] = nibble(raw, i)
		}
	default:
		t.Raw = append([]byte{}, raw...)
	}
	return nil
}

// nibble returns 4-bit element i: ONNX packs the first element in the low nibble.
func nibble(raw []byte, i int) uint8 {
	b := raw[i/2]
	if i%2 == 1 {
		b >>= 4
	}
	return b & 0x0f
}

func decodeTyped(t *ir.Tensor, tp *onnxpb.TensorProto, n int64) error {
	count := func(got int) error {
		if int64(got) != n {
			return fmt.Errorf("tensor %q: %d values for shape %v (%d elements)", t.Name, got, t.Shape, n)
		}
		return nil
	}
	switch t.DType {
	case ir.Float32:
		t.F32 = append([]float32{}, tp.GetFloatData()...)
		return count(len(t.F32))
	case ir.Float64:
		t.F64 = append([]float64{}, tp.GetDoubleData()...)
		return count(len(t.F64))
	case ir.Int64:
		t.I64 = append([]int64{}, tp.GetInt64Data()...)
		return count(len(t.I64))
	case ir.Int32:
		t.I32 = append([]int32{}, tp.GetInt32Data()...)
		return count(len(t.I32))
	case ir.Int8, ir.Int4:
		src := tp.GetInt32Data()
		if t.DType == ir.Int4 {
			// int32_data holds the packed bytes for 4-bit types.
			return decodeRaw(t, int32sToBytes(src), n)
		}
		t.I8 = make([]int8, len(src))
		for i, v := range src {
			t.I8[i] = int8(v)
		}
		return count(len(t.I8))
	case ir.Uint8, ir.Bool, ir.Uint4:
		src := tp.GetInt32Data()
		if t.DType == ir.Uint4 {
			return decodeRaw(t, int32sToBytes(src), n)
		}
		t.U8 = make([]uint8, len(src))
		for i, v := range src {
			t.U8[i] = uint8(v)
		}
		return count(len(t.U8))
	case ir.Float16, ir.BFloat16, ir.Int16, ir.Uint16:
		src := tp.GetInt32Data()
		if err := count(len(src)); err != nil {
			return err
		}
		t.Raw = make([]byte, 2*len(src))
		for i, v := range src {
			binary.LittleEndian.PutUint16(t.Raw[2*i:], uint16(v))
		}
		return nil
	}
	return fmt.Errorf("tensor %q: element type %s is not supported", t.Name, t.DType)
}

func int32sToBytes(v []int32) []byte {
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	return b
}

func encodeTensor(t *ir.Tensor) (*onnxpb.TensorProto, error) {
	if err := t.Check(); err != nil {
		return nil, err
	}
	tp := &onnxpb.TensorProto{
		Name:     strPtr(t.Name),
		DataType: int32Ptr(int32(t.DType)),
		Dims:     append([]int64{}, t.Shape...),
	}
	if t.Name == "" {
		tp.Name = nil
	}
	le := binary.LittleEndian
	var raw []byte
	switch t.DType {
	case ir.Float32:
		raw = make([]byte, 4*len(t.F32))
		for i, v := range t.F32 {
			le.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case ir.Float64:
		raw = make([]byte, 8*len(t.F64))
		for i, v := range t.F64 {
			le.PutUint64(raw[8*i:], math.Float64bits(v))
		}
	case ir.Int64:
		raw = make([]byte, 8*len(t.I64))
		for i, v := range t.I64 {
			le.PutUint64(raw[8*i:], uint64(v))
		}
	case ir.Int32:
		raw = make([]byte, 4*len(t.I32))
		for i, v := range t.I32 {
			le.PutUint32(raw[4*i:], uint32(v))
		}
	case ir.Int8:
		raw = make([]byte, len(t.I8))
		for i, v := range t.I8 {
			raw[i] = byte(v)
		}
	case ir.Uint8, ir.Bool:
		raw = append([]byte{}, t.U8...)
	case ir.Int4:
		raw = make([]byte, (len(t.I8)+1)/2)
		for i, v := range t.I8 {
			raw[i/2] |= (byte(v) & 0x0f) << (4 * (i % 2))
		}
	case ir.Uint4:
		raw = make([]byte, (len(t.U8)+1)/2)
		for i, v := range t.U8 {
			raw[i/2] |= (v & 0x0f) << (4 * (i % 2))
		}
	default:
		raw = append([]byte{}, t.Raw...)
	}
	tp.RawData = raw
	return tp, nil
}

func strPtr(s string) *string   { return &s }
func int32Ptr(v int32) *int32   { return &v }
func int64Ptr(v int64) *int64   { return &v }
func f32Ptr(v float32) *float32 { return &v }
