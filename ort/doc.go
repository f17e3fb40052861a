// Package ort is sharpq's thin wrapper around the ONNX Runtime C library,
// reached through github.com/yalue/onnxruntime_go. It is the only package in
// the module that imports onnxruntime_go; everything else talks to ONNX
// Runtime through the small API here.
//
// The shared library is not linked at build time: it is loaded with dlopen
// when a Runtime is opened. FindLibrary decides which file to load, in this
// order:
//
//  1. an explicit path (the --ort-lib flag), passed as Options.LibPath;
//  2. the SHARPQ_ORT_LIB environment variable;
//  3. .ort/libonnxruntime.so.1 (installed by `make ort`) in the current
//     working directory or any parent of it, then in the executable's
//     directory or any parent of it;
//  4. the system folders /usr/lib, /usr/local/lib and
//     /usr/lib/x86_64-linux-gnu (libonnxruntime.so, libonnxruntime.so.1).
//
// A typical use opens a Runtime, builds one Session per model with
// pre-allocated input and output tensors, and then repeatedly fills the
// inputs, calls Run and reads the outputs:
//
//	rt, err := ort.Open(ort.Options{Threads: 4})
//	...
//	defer rt.Close()
//	s, err := rt.NewSession(modelBytes,
//		[]ort.TensorSpec{{Name: "x", DType: ort.Float32, Shape: []int64{1, 3}}},
//		[]ort.TensorSpec{{Name: "y", DType: ort.Float32, Shape: []int64{1, 3}}})
//	...
//	defer s.Close()
//	copy(s.Float32("x"), input)
//	if err := s.Run(); err != nil { ... }
//	result := s.Float32("y")
//
// The slices returned by the accessors alias the tensors' memory: they stay
// valid, and are reused by every Run, until the Session is closed.
//
// Sessions on the CPU run without ONNX Runtime's memory pattern, which cost a
// third more resident memory on ImageNet-size graphs and saved no time here.
package ort
