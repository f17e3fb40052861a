// Package onnxpb holds the Go types generated from the ONNX schema (onnx.proto, ONNX 1.12
// with the later tensor element types and the later fields of model-local functions added).
// Only package onnxio uses it.
package onnxpb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto=github.com/sharpq/sharpq/onnxio/internal/onnxpb onnx.proto
//go:generate mv onnx.pb.go gen_onnx.pb.go
