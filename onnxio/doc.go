// Package onnxio converts ONNX files to sharpq's IR and back.
//
// One protobuf representation serves both directions: Go types generated from the ONNX
// schema (internal/onnxpb) with google.golang.org/protobuf. Reading accepts tensors in
// raw_data, in the typed fields and in external data files; writing always uses raw_data
// (int4/uint4 packed two per byte, low nibble first), marshals deterministically so that a
// second round trip is byte-identical to the first, and replaces the output file atomically.
package onnxio
