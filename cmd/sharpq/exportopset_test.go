package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/testmodels"
)

// TestExportOpset quantizes the bundled ResNet-20 at W4A4 for the default export (opset 21,
// int4/uint4) and for --export-opset 13 (int8/uint8 holding the same 4-bit grids, clipped on
// the integers): the two must classify the bundled images identically, and the opset-13 file
// must use no type or IR version that ONNX Runtime 1.8–1.17 lacks. A model at opset 26 is
// exported at 26 and classifies as at 21; one at 27 is refused. An opset below 13, above 26,
// or below the model's own, is refused naming the flag.
func TestExportOpset(t *testing.T) {
	orttest.LibPath(t)
	dir := t.TempDir()
	model := "../../testmodels/" + testmodels.DefaultModel
	norm := []string{"--mean", "0.2860", "--std", "0.3530"}
	var stdout string
	quantize := func(in, out string, extra ...string) (int, string) {
		t.Helper()
		args := append([]string{"quantize", "--model", in, "-o", out, "--calib-data", "../../testmodels/" + testmodels.SubsetImages,
			"--calib-images", "128", "--wbits", "4", "--abits", "4", "--iters", "0", "--threads", "1", "--json"}, norm...)
		code, out2, stderr := sharpq(t, append(args, extra...)...)
		stdout = out2
		return code, stderr
	}
	q21, q13 := filepath.Join(dir, "q21.onnx"), filepath.Join(dir, "q13.onnx")
	for out, opset := range map[string]int64{q21: 21, q13: 13} {
		if code, stderr := quantize(model, out, "--export-opset", fmt.Sprint(opset)); code != 0 {
			t.Fatalf("quantize --export-opset %d: exit %d: %s", opset, code, stderr)
		}
		var rep struct{ Opset int64 }
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Opset != opset {
			t.Errorf("--export-opset %d: the JSON report says opset %d (%v)", opset, rep.Opset, err)
		}
	}
	if a, b := subsetTop1(t, q21, norm...), subsetTop1(t, q13, norm...); a != b {
		t.Errorf("top-1 %.2f with int4 types, %.2f with the same grids in int8", a, b)
	}
	for path, want := range map[string]bool{q21: true, q13: false} {
		code, text, _ := sharpq(t, "inspect", path)
		if got := strings.Contains(text, "runtime     int4/uint4 tensors: ONNX Runtime 1.19 or later"); code != 0 || got != want {
			t.Errorf("inspect %s (exit %d) names the runtime 4-bit tensors need: %v, want %v", filepath.Base(path), code, got, want)
		}
		// Both hold the same grids, whatever types store them.
		if grids := "grids       weights 4 bits ×20, 8 bits ×2; activations 4 bits ×"; !strings.Contains(text, grids) {
			t.Errorf("inspect %s does not say %q:\n%s", filepath.Base(path), grids, text)
		}
	}
	m, err := onnxio.Read(q13)
	if err != nil {
		t.Fatal(err)
	}
	if m.Opset("") != 13 || m.IRVersion > 7 {
		t.Errorf("--export-opset 13 wrote opset %d, IR %d; want opset 13, IR 7", m.Opset(""), m.IRVersion)
	}
	for _, w := range m.Graph.Initializers {
		if w.DType == ir.Int4 || w.DType == ir.Uint4 {
			t.Errorf("initializer %s is %s at opset 13", w.Name, w.DType)
		}
	}
	// The 4-bit grids are clipped on the integers, so that ONNX Runtime's integer kernels can
	// take DequantizeLinear → Conv → QuantizeLinear whole.
	producers, clips := m.Graph.Producers(), 0
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Clip" {
			clips++
			if p := producers[n.Input(0)]; p == nil || p.OpType != "QuantizeLinear" {
				t.Errorf("Clip %s reads %s, not a QuantizeLinear's integers", n.Name, n.Input(0))
			}
		}
	}
	if clips == 0 {
		t.Error("no Clip to a 4-bit grid in the opset-13 export")
	}
	// A 4-bit layer's weights keep their values with a zero point of 0 (ONNX Runtime's
	// QLinearConv up to 1.16 refuses per-channel zero points that differ); the 8-bit first
	// and last layers keep theirs.
	fourBit := 0
	for _, n := range m.Graph.Nodes {
		if n.OpType != "Conv" && n.OpType != "Gemm" || strings.Contains(n.Name, "stem") || strings.Contains(n.Name, "fc") {
			continue
		}
		dq := producers[n.Input(1)]
		if dq == nil || dq.OpType != "DequantizeLinear" {
			t.Fatalf("%s's weight does not come from a DequantizeLinear", n.Name)
		}
		zp := m.Graph.Initializer(dq.Input(2))
		if zp == nil || slices.ContainsFunc(zp.I8, func(z int8) bool { return z != 0 }) {
			t.Errorf("%s: weight zero points %v, want all 0", n.Name, zp)
		}
		fourBit++
	}
	if fourBit != 20 {
		t.Errorf("%d 4-bit layers checked, want ResNet-20's 20", fourBit)
	}

	older, err := onnxio.Read(model)
	if err != nil {
		t.Fatal(err)
	}
	older.SetOpset("", 17) // ResNet-20's operators read the same at 17
	at17 := writeModel(t, dir, "opset17.onnx", older)
	// and at 26, the newest opset ONNX Runtime 1.30 runs: the export keeps it.
	older.SetOpset("", 26)
	at26 := writeModel(t, dir, "opset26.onnx", older)
	q26 := filepath.Join(dir, "q26.onnx")
	if code, stderr := quantize(at26, q26); code != 0 {
		t.Fatalf("quantize of an opset-26 model: exit %d: %s", code, stderr)
	}
	var rep struct{ Opset int64 }
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || rep.Opset != 26 {
		t.Errorf("opset-26 model: the JSON report says opset %d (%v), want 26", rep.Opset, err)
	}
	if a, b := subsetTop1(t, q21, norm...), subsetTop1(t, q26, norm...); a != b {
		t.Errorf("top-1 %.2f at opset 21, %.2f at opset 26", a, b)
	}
	if code, text, _ := sharpq(t, "inspect", q26); code != 0 || !strings.Contains(text, "int4/uint4 tensors at opset 26") {
		t.Errorf("inspect of the opset-26 export (exit %d) does not name the opset 4-bit tensors need:\n%s", code, text)
	}
	older.SetOpset("", 27)
	at27 := writeModel(t, dir, "opset27.onnx", older)
	if code, stderr := quantize(at27, filepath.Join(dir, "refused.onnx")); code != 1 || !strings.Contains(stderr, "imports opset 27; sharpq reads opsets 7 to 26") {
		t.Errorf("quantize of an opset-27 model: exit %d, %q; want exit 1 naming the opsets sharpq reads", code, stderr)
	}
	for _, tc := range []struct {
		in, opset, want string
	}{
		{model, "12", "--export-opset 12: want 21 to 26 (4-bit types) or, for runtimes without them, 13 to 20"},
		{model, "27", "--export-opset 27: want 21 to 26"},
		{at17, "13", "--export-opset 13: the model runs at opset 17, and the export cannot go below it"},
		{at26, "21", "--export-opset 21: the model runs at opset 26, and the export cannot go below it"},
	} {
		out := filepath.Join(dir, "refused.onnx")
		if code, stderr := quantize(tc.in, out, "--export-opset", tc.opset); code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("--export-opset %s on %s: exit %d, %q; want exit 2 and %q", tc.opset, filepath.Base(tc.in), code, stderr, tc.want)
		}
	}
}
