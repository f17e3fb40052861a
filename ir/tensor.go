package ir

import (
	"fmt"
	"math"
)

// Tensor is a constant: an initializer, a Constant's value or a folded result. Exactly one of
// the data slices is used, chosen by DType:
//
//	Float32 → F32, Float64 → F64, Int64 → I64, Int32 → I32,
//	Int8 and Int4 → I8 (one value per element), Uint8, Uint4 and Bool → U8,
//	any other type → Raw (little-endian bytes, kept for round trips only).
type Tensor struct {
	Name  string  // initializer or value name; may be "" for an attribute's tensor
	DType DType   // element type; it picks the data slice below
	Shape []int64 // dimensions (Check rejects negative ones); empty for a scalar

	F32 []float32 // data of a Float32 tensor
	F64 []float64 // data of a Float64 tensor
	I64 []int64   // data of an Int64 tensor
	I32 []int32   // data of an Int32 tensor
	I8  []int8    // data of an Int8 or Int4 tensor, one element per entry
	U8  []uint8   // data of a Uint8, Uint4 or Bool tensor, one element per entry
	Raw []byte    // little-endian bytes of any other type, kept for round trips only
}

// NumElements returns the product of the dimensions (1 for a scalar).
func NumElements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// Len returns the number of elements the shape implies.
func (t *Tensor) Len() int64 { return NumElements(t.Shape) }

// dataLen returns the number of elements actually stored.
func (t *Tensor) dataLen() int {
	switch t.DType {
	case Float32:
		return len(t.F32)
	case Float64:
		return len(t.F64)
	case Int64:
		return len(t.I64)
	case Int32:
		return len(t.I32)
	case Int8, Int4:
		return len(t.I8)
	case Uint8, Uint4, Bool:
		return len(t.U8)
	}
	return -1
}

// rawWidth is the size in bytes of one element of the types kept as Raw, 0 when unknown.
func rawWidth(d DType) int64 {
	switch d {
	case Float16, BFloat16, Int16, Uint16:
		return 2
	case Uint32:
		return 4
	case Uint64:
		return 8
	}
	return 0
}

// Check verifies that the stored data matches the shape and, for 4-bit types, the range.
func (t *Tensor) Check() error {
	for i, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("tensor %q: dimension %d is negative (%d)", t.Name, i, d)
		}
	}
	n := t.dataLen()
	if n >= 0 && int64(n) != t.Len() {
		return fmt.Errorf("tensor %q (%s): shape %v holds %d elements, data has %d", t.Name, t.DType, t.Shape, t.Len(), n)
	}
	if w := rawWidth(t.DType); n < 0 && w > 0 && int64(len(t.Raw)) != t.Len()*w {
		return fmt.Errorf("tensor %q (%s): shape %v holds %d elements, raw data has %d bytes, want %d", t.Name, t.DType, t.Shape, t.Len(), len(t.Raw), t.Len()*w)
	}
	switch t.DType {
	case Int4:
		for _, v := range t.I8 {
			if v < -8 || v > 7 {
				return fmt.Errorf("tensor %q: int4 value %d out of range", t.Name, v)
			}
		}
	case Uint4:
		for _, v := range t.U8 {
			if v > 15 {
				return fmt.Errorf("tensor %q: uint4 value %d out of range", t.Name, v)
			}
		}
	}
	return nil
}

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	c := *t
	c.Shape = append([]int64(nil), t.Shape...)
	c.F32 = append([]float32(nil), t.F32...)
	c.F64 = append([]float64(nil), t.F64...)
	c.I64 = append([]int64(nil), t.I64...)
	c.I32 = append([]int32(nil), t.I32...)
	c.I8 = append([]int8(nil), t.I8...)
	c.U8 = append([]uint8(nil), t.U8...)
	c.Raw = append([]byte(nil), t.Raw...)
	return &c
}

// NewFloat32 returns a float32 tensor that uses data (not copied).
func NewFloat32(name string, shape []int64, data []float32) *Tensor {
	return &Tensor{Name: name, DType: Float32, Shape: append([]int64(nil), shape...), F32: data}
}

// NewInt64 returns an int64 tensor that uses data (not copied).
func NewInt64(name string, shape []int64, data []int64) *Tensor {
	return &Tensor{Name: name, DType: Int64, Shape: append([]int64(nil), shape...), I64: data}
}

// Int64s returns the elements converted to int64, for integer and bool tensors.
func (t *Tensor) Int64s() ([]int64, error) {
	var out []int64
	switch t.DType {
	case Int64:
		return append([]int64(nil), t.I64...), nil
	case Int32:
		for _, v := range t.I32 {
			out = append(out, int64(v))
		}
	case Int8, Int4:
		for _, v := range t.I8 {
			out = append(out, int64(v))
		}
	case Uint8, Uint4, Bool:
		for _, v := range t.U8 {
			out = append(out, int64(v))
		}
	default:
		return nil, fmt.Errorf("tensor %q: %s is not an integer type", t.Name, t.DType)
	}
	if out == nil {
		out = []int64{}
	}
	return out, nil
}

// Float64s returns the elements converted to float64, for numeric tensors.
func (t *Tensor) Float64s() ([]float64, error) {
	switch t.DType {
	case Float32:
		out := make([]float64, len(t.F32))
		for i, v := range t.F32 {
			out[i] = float64(v)
		}
		return out, nil
	case Float64:
		return append([]float64(nil), t.F64...), nil
	case Float16, BFloat16:
		w, _, err := widen(t)
		if err != nil {
			return nil, err
		}
		return w.Float64s()
	}
	iv, err := t.Int64s()
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(iv))
	for i, v := range iv {
		out[i] = float64(v)
	}
	return out, nil
}

// HasNonFinite reports whether a floating-point tensor holds a NaN or an infinity.
func (t *Tensor) HasNonFinite() bool {
	for _, v := range t.F32 {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return true
		}
	}
	for _, v := range t.F64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return true
		}
	}
	return false
}
