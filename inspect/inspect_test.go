package inspect_test

import (
	"strings"
	"testing"

	"github.com/sharpq/sharpq/inspect"
	"github.com/sharpq/sharpq/internal/orttest"
	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
	"github.com/sharpq/sharpq/quantizer"
	"github.com/sharpq/sharpq/testmodels"
)

// Each kind of model gets the verdicts a user acts on: ready for synthesis or why not,
// differentiable or not, normalisation baked in, and its quantizable layers and blocks.
func TestModel(t *testing.T) {
	folded := testmodels.TinyResNet(1)
	if _, err := quantizer.FoldBN(folded); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		model    *ir.Model
		bn       string // in BNStatus
		training string // prefix of Training
		norm     bool   // normalisation baked in
		layers   int    // at least this many quantizable layers
	}{
		{"with BatchNormalization", testmodels.TinyResNet(1), "with running statistics", "ok", false, 3},
		{"BatchNormalization folded", folded, "folded into Conv", "ok", false, 3},
		{"normalisation baked in", testmodels.WithPreprocessing(testmodels.TinyResNet(1), 0.5, 0.25), "with running statistics", "ok", true, 3},
		{"an operator without a gradient rule", testmodels.WithOps(1, "Sign"), "with running statistics", "no: ", false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := onnxio.Encode(tt.model)
			if err != nil {
				t.Fatal(err)
			}
			r, err := inspect.Model(tt.model)
			if err != nil {
				t.Fatalf("Model: %v", err)
			}
			if !strings.Contains(r.BNStatus, tt.bn) {
				t.Errorf("BNStatus %q, want it to say %q", r.BNStatus, tt.bn)
			}
			if !strings.HasPrefix(r.Training, tt.training) {
				t.Errorf("Training %q, want %q…", r.Training, tt.training)
			}
			if (r.Normalisation != "") != tt.norm {
				t.Errorf("Normalisation %q, want baked in: %v", r.Normalisation, tt.norm)
			}
			if len(r.Layers) < tt.layers || (tt.layers > 0 && len(r.Blocks) == 0) {
				t.Errorf("%d layers in %d blocks, want at least %d layers in blocks", len(r.Layers), len(r.Blocks), tt.layers)
			}
			if r.Quantized != "" {
				t.Errorf("a float model reported as quantized: %q", r.Quantized)
			}
			after, err := onnxio.Encode(tt.model)
			if err != nil {
				t.Fatal(err)
			}
			if string(before) != string(after) {
				t.Error("Model changed the model")
			}
		})
	}
}

// A QDQ model is reported as quantized, with its quantized layers and their integer types
// and a parameter count of its integer weights (not of its float remnants), and no blocks.
func TestModelQuantized(t *testing.T) {
	rt := orttest.Runtime(t)
	m := testmodels.TinyResNet(1)
	images := make([]float32, 4*1*8*8)
	for i := range images {
		images[i] = float32(i%13)/13 - 0.5
	}
	res, err := quantizer.Quantize(t.Context(), rt, m, images, 4, quantizer.Options{Bits: quantizer.DefaultBits(4, 4)})
	if err != nil {
		t.Fatal(err)
	}
	float, err := inspect.Model(m)
	if err != nil {
		t.Fatal(err)
	}
	r, err := inspect.Model(res.QDQ)
	if err != nil {
		t.Fatalf("Model: %v", err)
	}
	if r.Quantized == "" || len(r.Blocks) != 0 || !strings.HasPrefix(r.Training, "not applicable") {
		t.Errorf("quantized %q, %d blocks, training %q: want it reported as quantized, without blocks", r.Quantized, len(r.Blocks), r.Training)
	}
	if len(r.Layers) != len(float.Layers) {
		t.Fatalf("%d quantized layers, want the float model's %d", len(r.Layers), len(float.Layers))
	}
	var weights int64
	for i, l := range r.Layers {
		if l.Node != float.Layers[i].Node || (l.WeightType != "int4" && l.WeightType != "int8") {
			t.Errorf("layer %d: %s with %s weights, want %s with int4 or int8", i, l.Node, l.WeightType, float.Layers[i].Node)
		}
		n := int64(1)
		for _, d := range l.WeightShape {
			n *= d
		}
		weights += n
	}
	// Integer weights, folded biases: about the float model's count, BN's γ and β folded away.
	if r.Parameters < weights || r.Parameters > float.Parameters {
		t.Errorf("%d parameters, want from the %d integer weights up to the float model's %d", r.Parameters, weights, float.Parameters)
	}
}
