package main

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/testmodels"
)

// TestExtraOutputs runs the bundled ResNet-20 with three outputs beside its logits
// (probabilities, pooled features passed on by an Identity, an auxiliary head of its own
// weights) through inspect (with --logits too), eval, quantize and a short convert: sharpq works on the logits,
// and the quantized models must have all four outputs again, in ONNX Runtime the
// probabilities the Softmax of their logits and the auxiliary head the float head applied
// to their features.
func TestExtraOutputs(t *testing.T) {
	rt := orttest.Runtime(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	m, err := onnxio.Read(model)
	if err != nil {
		t.Fatal(err)
	}
	extra := writeModel(t, dir, "extra.onnx", testmodels.WithExtraOutputs(m))
	norm := []string{"--mean", "0.2860", "--std", "0.3530"}
	if code, text, _ := sharpq(t, "inspect", extra); code != 0 || !strings.Contains(text, "logits is taken as the logits") || !strings.Contains(text, "probs, features, aux kept") {
		t.Errorf("inspect (exit %d) does not say which output is the logits and which are kept: %q", code, text)
	}
	if code, text, _ := sharpq(t, "inspect", extra, "--logits", "probs"); code != 0 || !strings.Contains(text, "probs is taken as the logits") || !strings.Contains(text, "logits, features, aux kept") {
		t.Errorf("inspect --logits probs (exit %d) does not take probs as the logits: %q", code, text)
	}
	if code, _, stderr := sharpq(t, "inspect", extra, "--logits", "scores"); code != 2 || !strings.Contains(stderr, `--logits "scores"`) || !strings.Contains(stderr, "its outputs are logits, probs, features, aux") {
		t.Errorf("inspect --logits scores: exit %d, %q; want exit 2 naming the flag and the outputs", code, stderr)
	}
	if got, want := subsetTop1(t, extra, norm...), subsetTop1(t, model, norm...); got != want {
		t.Errorf("top-1 %.2f, the one-output original %.2f", got, want)
	}
	quantize := func(in string) string { return quantizeSubset(t, dir, in, norm...) }
	if got, want := subsetTop1(t, quantize(extra), norm...), subsetTop1(t, quantize(model), norm...); got != want {
		t.Errorf("quantized top-1 %.2f, the one-output original's quantized model %.2f", got, want)
	}
	converted := filepath.Join(dir, "c_extra.onnx")
	if code, _, stderr := sharpq(t, "convert", extra, "-o", converted, "--wbits", "4", "--abits", "4", "--images", "16", "--gen-batch", "8",
		"--gen-steps", "10", "--warmup-iters", "2", "--refine-steps", "2", "--iters", "10", "--seed", "2", "--threads", "1"); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
	images, err := calib.LoadNPY("../../testmodels/"+testmodels.SubsetImages, "", calib.Preprocess{Mean: []float32{0.2860}, Std: []float32{0.3530}})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{quantize(extra), converted} {
		checkExtraOutputs(t, rt, path, images)
	}
}

// quantizeSubset quantizes the model in to W4A4 by round-to-nearest on 128 of the bundled
// images, with extra flags after these (a later --iters or --calib-images wins), and returns
// the path of the model written into dir.
func quantizeSubset(t *testing.T, dir, in string, extra ...string) string {
	t.Helper()
	out := filepath.Join(dir, "q_"+filepath.Base(in))
	args := append([]string{"quantize", in, "-o", out, "--calib-data", "../../testmodels/" + testmodels.SubsetImages, "--calib-images", "128",
		"--wbits", "4", "--abits", "4", "--iters", "0", "--threads", "1"}, extra...)
	if code, _, stderr := sharpq(t, args...); code != 0 {
		t.Fatalf("quantize %s: exit %d: %s", in, code, stderr)
	}
	return out
}

// checkExtraOutputs runs the quantized model at path on the first images and checks its
// outputs against each other.
func checkExtraOutputs(t *testing.T, rt *ort.Runtime, path string, images *calib.Dataset) {
	t.Helper()
	q, err := onnxio.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range q.Graph.Outputs {
		names = append(names, o.Name)
	}
	if want := []string{"logits", "probs", "features", "aux"}; !slices.Equal(names, want) {
		t.Fatalf("%s: outputs %v, want %v", filepath.Base(path), names, want)
	}
	const batch, classes, channels = 8, 10, 64
	data, err := onnxio.Encode(q)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string][]int64{"logits": {batch, classes}, "probs": {batch, classes}, "features": {batch, channels, 1, 1}, "aux": {batch, 3}}
	var outs []ort.TensorSpec
	for _, n := range names {
		outs = append(outs, ort.TensorSpec{Name: n, DType: ort.Float32, Shape: shapes[n]})
	}
	s, err := rt.NewSession(data, []ort.TensorSpec{{Name: q.Graph.Inputs[0].Name, DType: ort.Float32, Shape: []int64{batch, 1, 32, 32}}}, outs)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	copy(s.Float32(q.Graph.Inputs[0].Name), images.X[:batch*images.SampleLen()])
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	logits, probs, features, aux := s.Float32("logits"), s.Float32("probs"), s.Float32("features"), s.Float32("aux")
	w, b := q.Graph.Initializer("aux.weight"), q.Graph.Initializer("aux.bias")
	if w == nil || b == nil {
		t.Fatalf("%s: the auxiliary head's float weights are not in the quantized model", filepath.Base(path))
	}
	for i := range batch {
		row := logits[i*classes : (i+1)*classes]
		top := slices.Max(row)
		var sum float64
		for _, v := range row {
			sum += math.Exp(float64(v - top))
		}
		for c, v := range row {
			if want := math.Exp(float64(v-top)) / sum; math.Abs(float64(probs[i*classes+c])-want) > 1e-5 {
				t.Fatalf("%s: image %d: probability %g of class %d, softmax of the logits %g", filepath.Base(path), i, probs[i*classes+c], c, want)
			}
		}
		for k := range 3 {
			want := float64(b.F32[k])
			for c := range channels {
				want += float64(w.F32[k*channels+c]) * float64(features[i*channels+c])
			}
			if math.Abs(float64(aux[i*3+k])-want) > 1e-4 {
				t.Fatalf("%s: image %d: aux %d is %g, the head on the features %g", filepath.Base(path), i, k, aux[i*3+k], want)
			}
		}
	}
	if slices.Max(features) <= 0 {
		t.Errorf("%s: features all ≤ 0", filepath.Base(path))
	}
}

// TestStaticBatchModel quantizes and converts the bundled ResNet-20 as exported without
// dynamic axes (a fixed batch of 1, its flattening a Reshape to [1, -1]): reconstruction and
// synthesis run it at other batch sizes, and it must quantize as the dynamic-batch original.
func TestStaticBatchModel(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	m, err := onnxio.Read(model)
	if err != nil {
		t.Fatal(err)
	}
	static := writeModel(t, dir, "static.onnx", testmodels.WithStaticBatch(m))
	norm := []string{"--mean", "0.2860", "--std", "0.3530"}
	quantize := func(in string) string {
		return quantizeSubset(t, dir, in, append([]string{"--calib-images", "64", "--iters", "20"}, norm...)...)
	}
	if got, want := subsetTop1(t, quantize(static), norm...), subsetTop1(t, quantize(model), norm...); math.Abs(got-want) > 0.3 {
		t.Errorf("quantized top-1 %.2f, the dynamic-batch original's %.2f", got, want)
	}
	out := filepath.Join(dir, "c_static.onnx")
	if code, _, stderr := sharpq(t, "convert", static, "-o", out, "--wbits", "4", "--abits", "4", "--images", "16", "--gen-batch", "8",
		"--gen-steps", "5", "--warmup-iters", "2", "--refine-steps", "2", "--iters", "5", "--threads", "1"); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
}
