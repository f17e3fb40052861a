// Package ir is sharpq's in-memory graph: an ONNX-like typed graph whose shapes become static
// once the batch size is fixed. onnxio converts ModelProto to and from it; autodiff, the
// quantizer and the generator build new graphs on it; ort executes its encoding.
//
// The IR keeps what ONNX keeps (nodes in topological order, named values, initializers,
// attributes, opsets, metadata) so that a round trip through it loses nothing the supported
// models use. Shape inference (InferShapes) and canonicalisation (Canonicalize, FixBatch) are
// explicit steps, so a plain read-then-write stays faithful to the input file.
package ir
