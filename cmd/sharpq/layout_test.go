package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/testmodels"
)

// TestChannelsLastModel runs the bundled ResNet-20 exported channels-last (as TensorFlow
// converters write Keras models: an [N, H, W, C] input and a Transpose) through inspect, eval
// and a short convert: it must classify the channels-first data as the original does, and
// its quantized model must keep the channels-last input and score as the original's does
// (the same computation, with the same seed).
func TestChannelsLastModel(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	m, err := onnxio.Read(model)
	if err != nil {
		t.Fatal(err)
	}
	nhwc := writeModel(t, dir, "nhwc.onnx", testmodels.WithNHWCInput(m))
	if code, text, _ := sharpq(t, "inspect", nhwc); code != 0 || !strings.Contains(text, "channels-last input") {
		t.Errorf("inspect (exit %d) does not say the input is channels-last: %q", code, text)
	}
	top1 := func(model string) float64 { return subsetTop1(t, model, "--mean", "0.2860", "--std", "0.3530") }
	if got, want := top1(nhwc), top1(model); got != want {
		t.Fatalf("channels-last model: top-1 %.2f, the original %.2f", got, want)
	}
	var scores []float64
	for _, in := range []string{model, nhwc} {
		out := filepath.Join(dir, "q_"+filepath.Base(in))
		code, _, stderr := sharpq(t, "convert", in, "-o", out, "--wbits", "4", "--abits", "4", "--images", "16", "--gen-batch", "8",
			"--gen-steps", "10", "--warmup-iters", "2", "--refine-steps", "2", "--iters", "10", "--seed", "2", "--threads", "1")
		if code != 0 {
			t.Fatalf("convert %s: exit %d: %s", in, code, stderr)
		}
		scores = append(scores, top1(out))
		if in != nhwc {
			continue
		}
		q, err := onnxio.Read(out)
		if err != nil {
			t.Fatal(err)
		}
		if s := q.Graph.Inputs[0].Shape; !slices.Equal(s[1:], []int64{32, 32, 1}) || q.Graph.Nodes[0].OpType != "Transpose" {
			t.Errorf("quantized model's input %v, first node %s: want [N 32 32 1] and a Transpose", s, q.Graph.Nodes[0].OpType)
		}
	}
	if scores[0] != scores[1] {
		t.Errorf("quantized top-1 %.2f from the channels-last export, %.2f from the original", scores[1], scores[0])
	}
}

// TestChannelsLastHalfModel: a channels-last model converted to float16 behind a float32
// interface (onnxconverter-common's keep_io_types on a TensorFlow export) casts its input
// before the Transpose to channels-first. sharpq must still read it channels-first, score it
// as the float32 channels-last model within float16's rounding, and write a quantized model
// with the original channels-last float32 input.
func TestChannelsLastHalfModel(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	m, err := onnxio.Read(model)
	if err != nil {
		t.Fatal(err)
	}
	half := writeModel(t, dir, "nhwc_half.onnx", testmodels.AsFloat16(testmodels.WithNHWCInput(m), true))
	if code, text, _ := sharpq(t, "inspect", half); code != 0 || !strings.Contains(text, "channels-last input") || !strings.Contains(text, "float16 weights") {
		t.Errorf("inspect (exit %d) does not say the input is channels-last and the model float16: %q", code, text)
	}
	norm := []string{"--mean", "0.2860", "--std", "0.3530"}
	if got, want := subsetTop1(t, half, norm...), subsetTop1(t, model, norm...); got < want-0.3 || got > want+0.3 {
		t.Errorf("top-1 %.2f, the float32 channels-first original %.2f", got, want)
	}
	out := filepath.Join(dir, "q.onnx")
	code, _, stderr := sharpq(t, append([]string{"quantize", "--model", half, "-o", out, "--calib-data", "../../testmodels/" + testmodels.SubsetImages,
		"--calib-images", "64", "--wbits", "4", "--abits", "4", "--iters", "0", "--threads", "1"}, norm...)...)
	if code != 0 {
		t.Fatalf("quantize: exit %d: %s", code, stderr)
	}
	q, err := onnxio.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	in := q.Graph.Inputs[0]
	if !slices.Equal(in.Shape[1:], []int64{32, 32, 1}) || in.DType != ir.Float32 || q.Graph.Nodes[0].OpType != "Transpose" {
		t.Errorf("quantized model's input %s %v, first node %s: want float32 [N 32 32 1] and a Transpose", in.DType, in.Shape, q.Graph.Nodes[0].OpType)
	}
}
