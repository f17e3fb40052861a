package inspect_test

import (
	"strings"
	"testing"

	"github.com/sharpq/sharpq/inspect"
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
