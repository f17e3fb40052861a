// Package reftest holds what tests share when they compare sharpq with the PyTorch reference
// values in ../shared/reference: loading a reference case, reading an .npy array and
// measuring the relative error between two arrays.
package reftest

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"codeberg.org/sbinet/npyio"

	"github.com/sharpq/sharpq/ir"
	"github.com/sharpq/sharpq/onnxio"
)

// Batch is the batch size of every reference case (shared/models/make_reference.py).
const Batch = 8

// Manifest describes one reference case: the model (in shared/models) and the .npy/.json
// files, relative to the case's folder, that hold PyTorch's values.
type Manifest struct {
	Model      string            `json:"model"`          // model file, relative to shared/models (not the case's folder)
	Input      string            `json:"input"`          // .npy of the input batch (Batch images)
	Logits     string            `json:"logits"`         // .npy of PyTorch's logits for Input
	GradInput  string            `json:"grad_input"`     // .npy of d loss/d input, loss = 0.5·Σlogits²/N
	GradParams map[string]string `json:"grad_params"`    // .npy of d loss/d weight, by weight initializer name
	LossValue  float64           `json:"loss_value"`     // PyTorch's value of 0.5·Σlogits²/N on Input
	BNS        string            `json:"bns"`            // .json holding the BN-statistics loss (bns_loss)
	GradBNS    string            `json:"grad_input_bns"` // .npy of d BNS loss/d input
}

// Case loads the reference case of arch under shared (shared/reference/ARCH): its model with
// the batch fixed to Batch, its manifest and its folder. It skips tb when the case is absent.
func Case(tb testing.TB, shared, arch string) (*ir.Model, Manifest, string) {
	tb.Helper()
	dir := filepath.Join(shared, "reference", arch)
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		if os.IsNotExist(err) {
			tb.Skipf("skipping: no reference values at %s", dir)
		}
		tb.Fatal(err)
	}
	var man Manifest
	if err := json.Unmarshal(raw, &man); err != nil {
		tb.Fatalf("%s: %v", dir, err)
	}
	m, err := onnxio.Read(filepath.Join(shared, "models", man.Model))
	if err != nil {
		tb.Fatal(err)
	}
	if err := ir.FixBatch(m, Batch); err != nil {
		tb.Fatal(err)
	}
	return m, man, dir
}

// ReadNPY reads a float32 .npy file, failing tb with the file's name if it cannot.
func ReadNPY(tb testing.TB, path string) []float32 {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var v []float32
	if err := npyio.Read(f, &v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return v
}

// RelErr returns ‖got − want‖ / ‖want‖ over the first len(want) elements, in float64.
func RelErr(got, want []float32) float64 {
	var d, n float64
	for i := range want {
		e := float64(got[i]) - float64(want[i])
		d += e * e
		n += float64(want[i]) * float64(want[i])
	}
	return math.Sqrt(d / n)
}

// Model reads shared/models/NAME.onnx, skipping tb when the file is absent.
func Model(tb testing.TB, shared, name string) *ir.Model {
	tb.Helper()
	path := filepath.Join(shared, "models", name+".onnx")
	if _, err := os.Stat(path); err != nil {
		tb.Skipf("skipping: %v", err)
	}
	m, err := onnxio.Read(path)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}
