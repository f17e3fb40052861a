// Package generator synthesises calibration images from a float model alone (DESIGN.md,
// "Algorithms"): GENIE data synthesis trains a small generator and its latents so that the
// statistics the model's BatchNormalization layers see match the running statistics they
// stored during training (the BNS loss), plus an image prior (Synthesize). The SADAG
// refinement (Refine) continues each batch's saved generator and latents against the float
// model and a fake-quant model, adding sharpness-aware gradient matching and diversity losses.
// WriteGrid draws images as a PNG grid.
//
// Everything runs through the engine the other packages share: the generator and the model
// form one IR graph, internal/autodiff appends its gradient, and internal/train runs Adam
// steps in ONNX Runtime.
package generator
