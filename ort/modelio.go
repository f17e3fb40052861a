package ort

import (
	"errors"

	onnxruntime "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of the ONNX protobuf messages modelIO reads (onnx.proto).
const (
	modelGraph     = 7  // ModelProto.graph
	graphInput     = 11 // GraphProto.input
	graphOutput    = 12 // GraphProto.output
	valueInfoName  = 1  // ValueInfoProto.name
	valueInfoType  = 2  // ValueInfoProto.type
	typeTensor     = 1  // TypeProto.tensor_type
	tensorElemType = 1  // TypeProto.Tensor.elem_type
	tensorShape    = 2  // TypeProto.Tensor.shape
	shapeDim       = 1  // TensorShapeProto.dim
	dimValue       = 1  // TensorShapeProto.Dimension.dim_value
	dimParam       = 2  // TensorShapeProto.Dimension.dim_param
	unknownDim     = -1 // a dim_param or missing dimension, as ONNX Runtime reports it
)

var errMalformed = errors.New("malformed model")

// modelIO reads the declared inputs and outputs of an ONNX model from its bytes, as
// GetInputOutputInfoWithONNXData reports them, without loading it into ONNX Runtime: the
// initializers are skipped unread, so it costs a scan of the graph's top-level fields
// rather than a second session.
func modelIO(model []byte) (ins, outs []onnxruntime.InputOutputInfo, err error) {
	graph, err := field(model, modelGraph)
	if err != nil {
		return nil, nil, err
	}
	err = eachField(graph, func(num protowire.Number, typ protowire.Type, v []byte) error {
		if typ != protowire.BytesType || (num != graphInput && num != graphOutput) {
			return nil
		}
		info, err := valueInfo(v)
		if err != nil {
			return err
		}
		if num == graphInput {
			ins = append(ins, info)
		} else {
			outs = append(outs, info)
		}
		return nil
	})
	return ins, outs, err
}

// valueInfo decodes a ValueInfoProto; a value that is not a tensor has OrtValueType
// ONNXTypeUnknown.
func valueInfo(b []byte) (onnxruntime.InputOutputInfo, error) {
	var info onnxruntime.InputOutputInfo
	err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) error {
		switch {
		case num == valueInfoName && typ == protowire.BytesType:
			info.Name = string(v)
		case num == valueInfoType && typ == protowire.BytesType:
			tensor, err := field(v, typeTensor)
			if err != nil || tensor == nil {
				return err // nil: a sequence, map or optional
			}
			info.OrtValueType = onnxruntime.ONNXTypeTensor
			return eachField(tensor, func(num protowire.Number, typ protowire.Type, v []byte) error {
				switch {
				case num == tensorElemType && typ == protowire.VarintType:
					n, _ := protowire.ConsumeVarint(v)
					info.DataType = onnxruntime.TensorElementDataType(n)
				case num == tensorShape && typ == protowire.BytesType:
					info.Dimensions = onnxruntime.Shape{}
					return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
						if num != shapeDim || typ != protowire.BytesType {
							return nil
						}
						d := int64(unknownDim)
						err := eachField(v, func(num protowire.Number, typ protowire.Type, v []byte) error {
							if num == dimValue && typ == protowire.VarintType {
								n, _ := protowire.ConsumeVarint(v)
								d = int64(n)
							}
							return nil
						})
						info.Dimensions = append(info.Dimensions, d)
						return err
					})
				}
				return nil
			})
		}
		return nil
	})
	return info, err
}

// field returns the bytes of the last length-delimited field num of message b (nil if absent).
func field(b []byte, num protowire.Number) ([]byte, error) {
	var out []byte
	err := eachField(b, func(n protowire.Number, typ protowire.Type, v []byte) error {
		if n == num && typ == protowire.BytesType {
			out = v
		}
		return nil
	})
	return out, err
}

// eachField calls f for every field of message b with its raw value: the contents of a
// length-delimited field, the encoded varint of a varint field.
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			val, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return errMalformed
			}
			v, n = val, m
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return errMalformed
			}
			v = b[:n]
		}
		if err := f(num, typ, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
