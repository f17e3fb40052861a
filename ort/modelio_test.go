package ort

import (
	"os"
	"reflect"
	"testing"

	onnxruntime "github.com/yalue/onnxruntime_go"
)

// modelIO reads a model's inputs and outputs as ONNX Runtime reports them (names, tensor
// element types, shapes with −1 for named or missing dimensions), without a session.
func TestModelIO(t *testing.T) {
	lib, err := FindLibrary("")
	if err != nil {
		t.Skip(err)
	}
	rt, err := Open(Options{LibPath: lib, Threads: 1}) // initialises the ORT environment
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	for _, path := range []string{
		"../testmodels/resnet20_fmnist.onnx",
		"../../shared/models/mobilenetv2_fmnist.onnx",
		"../../shared/models/imagenet_arch/mobilenet_v2_imagenet_arch.onnx",
	} {
		t.Run(path, func(t *testing.T) {
			model, err := os.ReadFile(path)
			if err != nil {
				t.Skip(err)
			}
			wantIn, wantOut, err := onnxruntime.GetInputOutputInfoWithONNXData(model)
			if err != nil {
				t.Fatal(err)
			}
			in, out, err := modelIO(model)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in, wantIn) || !reflect.DeepEqual(out, wantOut) {
				t.Errorf("modelIO: %v → %v, ONNX Runtime: %v → %v", in, out, wantIn, wantOut)
			}
		})
	}
	if _, _, err := modelIO([]byte{0x3a, 0xff}); err == nil {
		t.Error("a truncated model read without an error")
	}
}
