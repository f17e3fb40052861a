package main

import (
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/calib"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/ort"
	"github.com/sharpq/sharpq/testmodels"
)

// TestUint8PixelModel runs the bundled ResNet-20 exported for raw image bytes (a uint8
// input, a Cast and its normalisation baked in), channels-first and channels-last, through
// inspect, eval, quantize and a short convert, all without --mean/--std: each must classify
// the bundled images as the float original does with them, and each quantized model must
// keep the uint8 input and, fed the images' bytes in ONNX Runtime, score as sharpq's eval
// says and as the original's quantized model does.
func TestUint8PixelModel(t *testing.T) {
	rt := orttest.Runtime(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	read := func() *ir.Model {
		m, err := onnxio.Read(model)
		if err != nil {
			t.Fatal(err)
		}
		return testmodels.WithPreprocessing(m, 255*0.2860, 255*0.3530)
	}
	u8 := writeModel(t, dir, "u8.onnx", testmodels.WithUint8Input(read()))
	nhwc := writeModel(t, dir, "u8_nhwc.onnx", testmodels.WithUint8Input(testmodels.WithNHWCInput(read())))
	norm := []string{"--mean", "0.2860", "--std", "0.3530"}
	if code, text, _ := sharpq(t, "inspect", u8); code != 0 || !strings.Contains(text, "uint8 input cast to float") || !strings.Contains(text, "input uint8 [") {
		t.Errorf("inspect (exit %d) does not name the uint8 input: %q", code, text)
	}
	want := subsetTop1(t, model, norm...)
	for _, in := range []string{u8, nhwc} {
		if got := subsetTop1(t, in); got != want {
			t.Errorf("%s: top-1 %.2f, the float original %.2f", filepath.Base(in), got, want)
		}
	}
	quantize := func(in string, extra ...string) string { return quantizeSubset(t, dir, in, extra...) }
	wantQ := subsetTop1(t, quantize(model, norm...), norm...)

	images, err := calib.LoadNPY("../../testmodels/"+testmodels.SubsetImages, "../../testmodels/"+testmodels.SubsetLabels, calib.Preprocess{})
	if err != nil {
		t.Fatal(err)
	}
	converted := filepath.Join(dir, "c_u8.onnx")
	if code, _, stderr := sharpq(t, "convert", u8, "-o", converted, "--wbits", "4", "--abits", "4", "--images", "16", "--gen-batch", "8",
		"--gen-steps", "10", "--warmup-iters", "2", "--refine-steps", "2", "--iters", "10", "--seed", "2", "--threads", "1"); code != 0 {
		t.Fatalf("convert: exit %d: %s", code, stderr)
	}
	for _, q := range []string{quantize(u8), quantize(nhwc), converted} {
		top1 := subsetTop1(t, q)
		if q != converted && top1 != wantQ {
			t.Errorf("%s: quantized top-1 %.2f, the float original's quantized model %.2f", filepath.Base(q), top1, wantQ)
		}
		m, err := onnxio.Read(q)
		if err != nil {
			t.Fatal(err)
		}
		in := m.Graph.Inputs[0]
		if in.DType != ir.Uint8 {
			t.Fatalf("%s: input %s, want uint8", filepath.Base(q), in.DType)
		}
		if got := pixelTop1(t, rt, m, images); got != top1 {
			t.Errorf("%s fed bytes in ONNX Runtime: top-1 %.2f, sharpq eval %.2f", filepath.Base(q), got, top1)
		}
	}
}

// pixelTop1 runs m, whose input is uint8 (channels-first, or channels-last when its last
// dimension is the images' channels), on d's images as bytes and returns its top-1 in percent.
func pixelTop1(t *testing.T, rt *ort.Runtime, m *ir.Model, d *calib.Dataset) float64 {
	t.Helper()
	in, out := m.Graph.Inputs[0], m.Graph.Outputs[0]
	const batch = 50
	shape := slices.Clone(in.Shape)
	shape[0] = batch
	classes := out.Shape[len(out.Shape)-1]
	data, err := onnxio.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := rt.NewSession(data, []ort.TensorSpec{{Name: in.Name, DType: ort.Uint8, Shape: shape}},
		[]ort.TensorSpec{{Name: out.Name, DType: ort.Float32, Shape: []int64{batch, classes}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	per, correct := d.SampleLen(), 0
	for start := 0; start+batch <= d.N; start += batch {
		x := s.Uint8(in.Name)
		// C = 1: channels-first and channels-last bytes are the same sequence.
		for i, v := range d.X[start*per : (start+batch)*per] {
			x[i] = uint8(math.Round(float64(v) * 255))
		}
		if err := s.Run(); err != nil {
			t.Fatal(err)
		}
		logits := s.Float32(out.Name)
		for i := range batch {
			row := logits[i*int(classes) : (i+1)*int(classes)]
			if int64(slices.Index(row, slices.Max(row))) == d.Labels[start+i] {
				correct++
			}
		}
	}
	return 100 * float64(correct) / float64(d.N)
}
