package main

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/x448/float16"

	"github.com/sharpq/sharpq/internal/infer"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/testmodels"
)

// TestFloat16Model runs the bundled ResNet-20 in the half-precision forms exporters write
// (float16 throughout, as PyTorch exports a model.half(); float16 behind a float32 interface,
// as onnxconverter-common's keep_io_types) through inspect, eval, quantize and a short
// convert. Each must score within float16's rounding of the float32 original, and each
// quantized model must keep its original's input and output types and score as the one made
// from the float32 original does.
func TestFloat16Model(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	read := func() *ir.Model {
		m, err := onnxio.Read(model)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	half := writeModel(t, dir, "half.onnx", testmodels.AsFloat16(read(), false))
	halfIO32 := writeModel(t, dir, "half_io32.onnx", testmodels.AsFloat16(read(), true))
	norm := []string{"--mean", "0.2860", "--std", "0.3530"}
	top1 := func(m string) float64 { t.Helper(); return subsetTop1(t, m, norm...) }
	want := top1(model)
	for _, m := range []string{half, halfIO32} {
		if got := top1(m); math.Abs(got-want) > 0.3 {
			t.Errorf("%s: top-1 %.2f, the float32 original %.2f", filepath.Base(m), got, want)
		}
	}
	if code, text, _ := sharpq(t, "inspect", half); code != 0 || !strings.Contains(text, "precision   float16 weights: read into float32") {
		t.Errorf("inspect (exit %d) does not say the model is float16: %q", code, text)
	}

	ioType := func(path string) (ir.DType, ir.DType) {
		t.Helper()
		q, err := onnxio.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		return q.Graph.Inputs[0].DType, q.Graph.Outputs[0].DType
	}
	subset := append([]string{"--calib-data", "../../testmodels/" + testmodels.SubsetImages, "--calib-images", "256",
		"--wbits", "4", "--abits", "4", "--iters", "0", "--threads", "1"}, norm...)
	rtn := map[string]float64{}
	for _, in := range []string{model, half, halfIO32} {
		out := filepath.Join(dir, "rtn_"+filepath.Base(in))
		if code, _, stderr := sharpq(t, append([]string{"quantize", "--model", in, "-o", out}, subset...)...); code != 0 {
			t.Fatalf("quantize %s: exit %d: %s", in, code, stderr)
		}
		rtn[in] = top1(out)
		wantType := map[string]ir.DType{model: ir.Float32, half: ir.Float16, halfIO32: ir.Float32}[in]
		if i, o := ioType(out); i != wantType || o != wantType {
			t.Errorf("quantized %s: input %s, output %s; want %s as its original", filepath.Base(in), i, o, wantType)
		}
	}
	for _, in := range []string{half, halfIO32} {
		if math.Abs(rtn[in]-rtn[model]) > 0.5 {
			t.Errorf("round-to-nearest W4A4 of %s: top-1 %.2f, of the float32 original %.2f", filepath.Base(in), rtn[in], rtn[model])
		}
	}

	out := filepath.Join(dir, "q_half.onnx")
	code, _, stderr := sharpq(t, "convert", half, "-o", out, "--wbits", "4", "--abits", "4", "--images", "16", "--gen-batch", "8",
		"--gen-steps", "10", "--warmup-iters", "2", "--refine-steps", "2", "--iters", "10", "--seed", "2", "--threads", "1")
	if code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
	if i, o := ioType(out); i != ir.Float16 || o != ir.Float16 {
		t.Errorf("converted float16 model: input %s, output %s; want float16", i, o)
	}
	if got := top1(out); got < want-2 {
		t.Errorf("converted float16 model: top-1 %.2f, float %.2f", got, want)
	}
	asWritten(t, out)
}

// asWritten runs the quantized model with a float16 interface at path in ONNX Runtime as it
// is, float16 tensors in and out, on 64 of the bundled images. eval's session (infer with
// AsWritten) must give the same logits bit for bit, and the float32 computation that
// synthesis and the self-check run (ir.PromoteToFloat32) the same classes and logits within
// float16's rounding.
func asWritten(t *testing.T, path string) {
	t.Helper()
	const n = 64
	rt := orttest.Runtime(t)
	q, err := onnxio.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	pixels, _, h, w := subsetPixels(t, "../../testmodels/"+testmodels.SubsetImages, "../../testmodels/"+testmodels.SubsetLabels)
	x := make([]float32, n*h*w)
	for i := range x {
		x[i] = float16.Fromfloat32((float32(pixels[i])/255 - testmodels.FMNISTMean) / testmodels.FMNISTStd).Float32()
	}
	promoted, err := infer.New(rt, q, n)
	if err != nil {
		t.Fatal(err)
	}
	defer promoted.Close()
	copy(promoted.Input(), x)
	if err := promoted.Run(); err != nil {
		t.Fatal(err)
	}
	want := promoted.Output()

	fixed, err := infer.Static(q, n)
	if err != nil {
		t.Fatal(err)
	}
	data, err := onnxio.Encode(q) // as written: Static's copy is promoted
	if err != nil {
		t.Fatal(err)
	}
	in, out := q.Graph.Inputs[0].Name, q.Graph.Outputs[0].Name
	s, err := rt.NewSession(data, []ort.TensorSpec{{Name: in, DType: ort.Float16, Shape: fixed.Graph.Inputs[0].Shape}},
		[]ort.TensorSpec{{Name: out, DType: ort.Float16, Shape: fixed.Graph.Outputs[0].Shape}})
	if err != nil {
		t.Fatalf("ONNX Runtime refuses %s as written: %v", path, err)
	}
	defer s.Close()
	for i, v := range x {
		s.Float16(in)[i] = float16.Fromfloat32(v).Bits()
	}
	if err := s.Run(); err != nil {
		t.Fatal(err)
	}
	classes := len(want) / n
	agree := 0
	for i := range n {
		got := make([]float32, classes)
		for j, b := range s.Float16(out)[i*classes : (i+1)*classes] {
			got[j] = float16.Frombits(b).Float32()
		}
		row := want[i*classes : (i+1)*classes]
		if slices.Index(got, slices.Max(got)) == slices.Index(row, slices.Max(row)) {
			agree++
		}
		for j := range got {
			if d := math.Abs(float64(got[j] - row[j])); d > 0.01*math.Max(1, math.Abs(float64(row[j]))) {
				t.Fatalf("image %d, logit %d: %g as written (float16), %g in float32", i, j, got[j], row[j])
			}
		}
	}
	written, err := infer.Open(rt, q, infer.Config{Batch: n, AsWritten: true})
	if err != nil {
		t.Fatal(err)
	}
	defer written.Close()
	copy(written.Input(), x)
	if err := written.Run(); err != nil {
		t.Fatal(err)
	}
	for i, b := range s.Float16(out) {
		if got := written.Output()[i]; got != float16.Frombits(b).Float32() {
			t.Fatalf("logit %d: %g from infer's as-written session, %g from ONNX Runtime", i, got, float16.Frombits(b).Float32())
		}
	}
	if agree < n-1 {
		t.Errorf("as written, the model picks the float32 computation's class on %d of %d images", agree, n)
	}
}
